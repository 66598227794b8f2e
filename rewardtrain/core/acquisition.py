"""Acquisition scores: how much a human ranking of a prompt is expected to teach the reward model.

The same functions rank the queue in the product (``rewardtrain.services.acquisition``, after each model
activation) and in the simulation (``bench/active_learning.py``), so the curves measure the code that runs.

- :func:`order_uncertainty`: the model's uncertainty about the order of a prompt's completions, the mean
  binary entropy of the Bradley-Terry probabilities ``P(i beats j) = sigmoid(r_i - r_j)`` over all
  C(K,2) pairs, in bits (0: the model is sure of every pair; 1: every pair is a coin flip).
- :func:`ensemble_uncertainty`: the same entropy averaged over several score samples of the completions
  (an ensemble, or MC dropout), plus the mutual information between the samples: where the members
  disagree, a human ranking teaches most (BALD, Houlsby et al. 2011).
- :func:`annotator_disagreement`: among the rankings a prompt already has, the share of (ranking pair,
  completion pair) that two annotators ordered oppositely; 0 with fewer than two rankings.
- :func:`pick`: the next ``count`` prompts under a strategy, with an exploration share taken at random.

Example::

    from rewardtrain.core.acquisition import order_uncertainty, annotator_disagreement

    order_uncertainty([0.0, 0.0, 0.0])            # 1.0: the model cannot tell the replies apart
    order_uncertainty([4.0, 0.0, -4.0]) < 0.2     # True: it is sure of the order
    annotator_disagreement([[[1], [2]], [[2], [1]]])  # 1.0: two annotators, opposite orders
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Literal

Strategy = Literal["coverage", "uncertainty", "disagreement", "mixed"]
STRATEGIES: tuple[str, ...] = ("coverage", "uncertainty", "disagreement", "mixed")


def binary_entropy(probability: float) -> float:
    """Entropy of a coin with ``probability`` of heads, in bits."""
    if probability <= 0.0 or probability >= 1.0:
        return 0.0
    return -(probability * math.log2(probability) + (1.0 - probability) * math.log2(1.0 - probability))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _pairwise_probabilities(scores: Sequence[float]) -> list[float]:
    return [_sigmoid(scores[i] - scores[j]) for i in range(len(scores)) for j in range(i + 1, len(scores))]


def order_uncertainty(scores: Sequence[float]) -> float:
    """Mean binary entropy (bits) of ``sigmoid(r_i - r_j)`` over every pair of completions; 0 for fewer than 2."""
    probabilities = _pairwise_probabilities(scores)
    if not probabilities:
        return 0.0
    return sum(binary_entropy(p) for p in probabilities) / len(probabilities)


def ensemble_uncertainty(samples: Sequence[Sequence[float]]) -> tuple[float, float]:
    """(entropy of the mean pairwise probabilities, mutual information) over score samples of one prompt.

    ``samples[m][i]`` is member m's reward for completion i. The first figure is the uncertainty of the
    averaged model; the second (entropy of the mean minus mean entropy) is the part due to the members
    disagreeing, which a label resolves. Both in bits, averaged over the C(K,2) pairs.
    """
    if not samples:
        raise ValueError("ensemble_uncertainty needs at least one score sample")
    sizes = {len(sample) for sample in samples}
    if len(sizes) != 1:
        raise ValueError(f"every sample must score the same completions, got sizes {sorted(sizes)}")
    per_member = [_pairwise_probabilities(sample) for sample in samples]
    pairs = len(per_member[0])
    if not pairs:
        return 0.0, 0.0
    total = information = 0.0
    for pair in range(pairs):
        probabilities = [member[pair] for member in per_member]
        mean_entropy = sum(binary_entropy(p) for p in probabilities) / len(probabilities)
        entropy_of_mean = binary_entropy(sum(probabilities) / len(probabilities))
        total += entropy_of_mean
        information += max(0.0, entropy_of_mean - mean_entropy)
    return total / pairs, information / pairs


def _rank_positions(order: Sequence[Sequence[object]]) -> dict[object, int]:
    return {item: rank for rank, group in enumerate(order) for item in group}


def annotator_disagreement(orders: Sequence[Sequence[Sequence[object]]]) -> float:
    """Share of (pair of rankings, pair of completions both rankings order strictly) ordered oppositely.

    ``orders`` are rankings of one prompt, each a list of groups of completion ids, best first (a group of
    several is a tie). A pair one of the two rankings ties is left out. 0.0 with fewer than two rankings
    or nothing to compare.
    """
    positions = [_rank_positions(order) for order in orders]
    compared = opposite = 0
    for first in range(len(positions)):
        for second in range(first + 1, len(positions)):
            a, b = positions[first], positions[second]
            shared = sorted((item for item in a if item in b), key=str)
            for i, x in enumerate(shared):
                for y in shared[i + 1 :]:
                    left, right = a[x] - a[y], b[x] - b[y]
                    if left == 0 or right == 0:
                        continue
                    compared += 1
                    opposite += (left > 0) != (right > 0)
    return opposite / compared if compared else 0.0


def pick(
    candidates: Sequence[str],
    scores: Mapping[str, float],
    count: int,
    *,
    exploration: float = 0.0,
    rng: random.Random,
) -> list[str]:
    """The ``count`` candidates to rank next: highest score first, except that each slot is, with probability
    ``exploration``, filled by a candidate drawn uniformly from those left (so a biased model cannot starve
    part of the pool). Ties of score go in the candidates' order. Candidates without a score come last."""
    if not 0.0 <= exploration <= 1.0:
        raise ValueError(f"exploration must be between 0 and 1, not {exploration!r}")
    by_score = sorted(candidates, key=lambda key: (key not in scores, -scores.get(key, 0.0)))
    left = list(by_score)
    picked: list[str] = []
    while left and len(picked) < count:
        place = rng.randrange(len(left)) if exploration and rng.random() < exploration else 0
        picked.append(left.pop(place))
    return picked
