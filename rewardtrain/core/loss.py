"""The grouped Bradley-Terry loss (InstructGPT section 3.5), in the few lines it takes.

For each prompt, every strict preference (winner w, loser l) adds ``-log sigma(r_w - r_l - margin)``,
weighted ``1 / (pairs of that prompt)`` so every prompt counts alike, then prompts are averaged. The
optional centering term ``coef * mean(r^2)`` (per prompt, then averaged) keeps rewards near zero, as
TRL's ``center_rewards_coefficient``. The length controls and the uncertainty heads add the terms below
(docs/training.md, "Length" and "Uncertainty").

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


def bradley_terry_loss(
    rewards: torch.Tensor,
    batch: Batch,
    *,
    center_rewards_coefficient: float = 0.0,
    offset: torch.Tensor | None = None,
) -> torch.Tensor:
    """Loss of one batch; ``rewards`` has one float per row of ``batch`` (fp32, whatever the autocast).

    ``offset`` (one float per pair) is added to each pair's logit: style control's ``beta . (s(w) - s(l))``."""
    difference = rewards[batch.winner] - rewards[batch.loser] - batch.margin
    if offset is not None:
        difference = difference + offset
    loss = -(batch.pair_weight * F.logsigmoid(difference)).sum()
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * (batch.row_weight * rewards.pow(2)).sum()
    return loss


def style_offset(batch: Batch, beta: torch.Tensor) -> torch.Tensor:
    """Style control's share of each pair's logit: ``beta . (s(w) - s(l))`` (rewardtrain.core.style)."""
    assert batch.style is not None, "style control needs records encoded with style features"
    return (batch.style[batch.winner] - batch.style[batch.loser]) @ beta


def correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of two vectors (0 when either is constant)."""
    x, y = x - x.mean(), y - y.mean()
    return (x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-8)


def length_head_penalty(content: torch.Tensor, length: torch.Tensor, log_length: torch.Tensor) -> torch.Tensor:
    """ODIN (Chen et al. 2024): the length head should follow length, the content head should not.

    ``|corr(content, log length)| - corr(length head, log length)`` over the batch's rows; the Bradley-Terry
    loss is taken on ``content + length``, and serving reads the content head alone."""
    return correlation(content, log_length).abs() - correlation(length, log_length)


def bootstrap_heads_loss(heads: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean Bradley-Terry loss of the uncertainty heads (``heads``: [rows, H]), each on its own resample of
    the pairs (``batch.bootstrap``: [pairs, H] Poisson(1) weights), so they disagree where data is thin."""
    assert batch.bootstrap is not None, "uncertainty heads need records encoded with bootstrap weights"
    difference = heads[batch.winner] - heads[batch.loser] - batch.margin[:, None]
    weights = batch.pair_weight[:, None] * batch.bootstrap
    return -(weights * F.logsigmoid(difference)).sum() / heads.shape[1]
