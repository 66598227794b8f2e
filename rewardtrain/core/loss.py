"""The grouped Bradley-Terry loss (InstructGPT section 3.5), in the few lines it takes.

For each prompt, every strict preference (winner w, loser l) adds ``-log sigma(r_w - r_l - margin)``,
weighted ``1 / (pairs of that prompt)`` so every prompt counts alike, then prompts are averaged. The
optional centering term ``coef * mean(r^2)`` (per prompt, then averaged) keeps rewards near zero, as
TRL's ``center_rewards_coefficient``.

Example::

    import torch
    from rewardtrain.core.batching import Collator
    from rewardtrain.core.loss import bradley_terry_loss

    loss = bradley_terry_loss(rewards, Collator().collate(records), center_rewards_coefficient=0.01)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rewardtrain.core.batching import Batch


def bradley_terry_loss(rewards: torch.Tensor, batch: Batch, *, center_rewards_coefficient: float = 0.0) -> torch.Tensor:
    """Loss of one batch; ``rewards`` has one float per row of ``batch`` (fp32, whatever the autocast)."""
    difference = rewards[batch.winner] - rewards[batch.loser] - batch.margin
    loss = -(batch.pair_weight * F.logsigmoid(difference)).sum()
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * (batch.row_weight * rewards.pow(2)).sum()
    return loss
