"""Held-out metrics of a reward model against human rankings, with the "longer wins" baseline beside them.

Over every strict human preference (winner w, loser l) of the records:

- ``pairwise_accuracy``: share of pairs with ``r_w > r_l``; a pair the model scores equal counts half
  (an honest coin flip, neither right nor wrong; RewardBench counts it wrong). ``ties`` says how many
  pairs that was (``tie_rate`` the share): a model that ties distinct texts is losing resolution.
- ``accuracy_by_k``: the same, by K = number of ranked completions of the record.
- ``best_vs_worst_accuracy``: over pairs between a record's first and last rank group only.
- ``kendall_tau``: mean over records of Kendall's tau-b between scores and the human order (ties handled
  by tau-b); records given as explicit pairs have no order and are left out.
- ``log_loss`` and ``ece``: calibration of ``P(w beats l) = sigmoid(r_w - r_l)``. ECE uses 10 equal-width
  bins over both orientations of each pair ((p, 1) and (1 - p, 0)), so it does not depend on which side
  is called "a"; ``calibration_bins`` is the reliability diagram behind it.
- ``length_baseline_accuracy``: the same pairs judged by "the longer completion (in characters) wins";
  equal lengths count half, as model ties do. A model must beat this, not 50%.
- ``best_of_k_accuracy``: best-of-N the way RL uses a reward model. Per record ranked as an order, how
  often the completion the model scores highest is in the humans' top group (when several share the
  highest score, the share of them that are: the expected value of picking one at random).
  ``best_of_k_longest`` is the same for "pick the longest" (characters), ``best_of_k_random`` for a
  uniform pick (expected value: size of the top group / K). Records given as explicit pairs have no top
  group and are left out (``counts.best_of_k_records``).
- ``length_balanced_accuracy``, ``prefers_longer_share`` beside ``humans_longer_wins_share``,
  ``reward_length_correlation``: how much of the model's judgement is length (see :func:`length_metrics`).

Example::

    from rewardtrain.core.evaluate import evaluate

    evaluate("artifacts/rm", records)["pairwise_accuracy"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rewardtrain.core.data import RankedRecord

CALIBRATION_BINS = 10


class Scorer(Protocol):
    def score(self, items: Sequence[RankedRecord], batch_size: int = ...) -> list[list[float]]: ...


def evaluate(scorer_or_model: Scorer | str | Path, records: list[RankedRecord], batch_size: int = 64) -> dict[str, Any]:
    """Score ``records`` with a scorer (anything with ``.score``) or an artifact directory, then measure."""
    if isinstance(scorer_or_model, str | Path):
        from rewardtrain.core.scoring import RewardScorer

        scorer: Scorer = RewardScorer.load(scorer_or_model)
    else:
        scorer = scorer_or_model
    if getattr(scorer, "has_uncertainty", False):
        return metrics_with_uncertainty(scorer, records, batch_size)
    return metrics_from_scores(records, scorer.score(records, batch_size=batch_size))


def metrics_with_uncertainty(scorer: Any, records: list[RankedRecord], batch_size: int = 64) -> dict[str, Any]:
    """The metrics of a RewardScorer's rewards plus ``uncertainty``: the AUROC of its per-reward uncertainty
    against wrongly ordered pairs (:func:`uncertainty_metrics`); rewards and uncertainties from one forward."""
    scores, uncertainties = scorer.score(records, batch_size=batch_size, with_uncertainty=True)
    metrics = metrics_from_scores(records, scores)
    metrics["uncertainty"] = uncertainty_metrics(records, scores, uncertainties)
    return metrics


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def _sigmoid(x: float) -> float:
    return math.exp(_log_sigmoid(x))


def kendall_tau_b(human_rank: list[int], scores: list[float]) -> float | None:
    """Kendall's tau-b between a human order (0 = best) and scores (higher = better); None if undefined."""
    concordant = discordant = human_ties = score_ties = 0
    n = len(scores)
    for i in range(n):
        for j in range(i + 1, n):
            human = human_rank[j] - human_rank[i]  # > 0: i ranked better
            model = scores[i] - scores[j]  # > 0: i scored higher
            if human == 0:
                human_ties += 1
            if model == 0:
                score_ties += 1
            if human != 0 and model != 0:
                if (human > 0) == (model > 0):
                    concordant += 1
                else:
                    discordant += 1
    total = n * (n - 1) // 2
    denominator = math.sqrt((total - human_ties) * (total - score_ties))
    return None if denominator == 0 else (concordant - discordant) / denominator


def calibration_bins(probabilities: list[float], bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """Reliability diagram of winner probabilities, each pair counted in both orientations: per
    equal-width bin, the number of points, their mean predicted probability and the observed share of wins."""
    counts = [0] * bins
    confidence = [0.0] * bins
    outcome = [0.0] * bins
    for probability in probabilities:
        for p, y in ((probability, 1.0), (1.0 - probability, 0.0)):
            b = min(bins - 1, int(p * bins))
            counts[b] += 1
            confidence[b] += p
            outcome[b] += y
    return [
        {
            "low": b / bins,
            "high": (b + 1) / bins,
            "count": counts[b],
            "predicted": confidence[b] / counts[b] if counts[b] else None,
            "observed": outcome[b] / counts[b] if counts[b] else None,
        }
        for b in range(bins)
    ]


def _ece_of(table: list[dict[str, Any]]) -> float:
    total = sum(row["count"] for row in table)
    if not total:
        return float("nan")
    return sum(row["count"] * abs(row["observed"] - row["predicted"]) for row in table if row["count"]) / total


def expected_calibration_error(probabilities: list[float], bins: int = CALIBRATION_BINS) -> float:
    """ECE of winner probabilities, counting each pair in both orientations."""
    return _ece_of(calibration_bins(probabilities, bins))


def pair_credit(difference: float) -> float:
    """1 when the winner scored higher, 0 when lower, 0.5 for a tie (the expected value of a coin flip)."""
    if difference > 0:
        return 1.0
    return 0.5 if difference == 0 else 0.0


def _share_of_top(candidates: Sequence[int], values: Sequence[float], top_group: set[int]) -> float:
    """Share of the ``candidates`` with the highest value that are in ``top_group``."""
    highest = max(values[i] for i in candidates)
    picked = [i for i in candidates if values[i] == highest]
    return sum(i in top_group for i in picked) / len(picked)


def best_of_k(record: RankedRecord, record_scores: Sequence[float]) -> tuple[float, float, float] | None:
    """(model, longest, random): the chance each way of picking one completion lands in the humans' top group.

    Only the completions the human ranked take part. None for records without an order of at least two
    groups (explicit pairs, everything tied): there is no top group to hit.
    """
    if record.pairs is not None or len(record.order) < 2:
        return None
    top_group = set(record.order[0])
    ranked = [index for group in record.order for index in group]
    lengths = [float(len(text)) for text in record.completions]
    return (
        _share_of_top(ranked, record_scores, top_group),
        _share_of_top(ranked, lengths, top_group),
        len(top_group) / len(ranked),
    )


def _average_ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n of ``values``, ties sharing the average of their ranks (as Spearman's rho needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties averaged); None when either side is constant or has < 2 points."""
    if len(xs) < 2:
        return None
    rx, ry = _average_ranks(xs), _average_ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    covariance = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    spread = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return None if spread == 0 else covariance / spread


def length_metrics(records: Sequence[RankedRecord], scores: Sequence[Sequence[float]]) -> dict[str, Any]:
    """How much of a model's judgement is length, over the strict pairs whose completions differ in length.

    - ``length_balanced_accuracy``: the mean of the accuracy on pairs where the preferred completion is the
      longer one and on pairs where it is the shorter one. "The longer wins" scores exactly 0.5, and so does
      any judge that reads nothing but length; a model must read the content to score above it.
      Equal scores count half, as in ``pairwise_accuracy``.
    - ``prefers_longer_share``: share of those pairs where the model scores the longer completion higher,
      beside ``humans_longer_wins_share``: share where the humans preferred the longer one. A model that
      agrees with humans about length has the two close; a length detector has the first near 1.
    - ``reward_length_correlation``: the mean over records of Spearman's rank correlation between the
      rewards and the lengths (characters) of the record's ranked completions (records where either is
      constant are left out); the same for the human ranks is ``human_length_correlation`` (higher rank
      = better), so the model's tie to length can be read against the data's.
    """
    longer_wins = [0.0, 0.0]  # [pairs, model right]
    shorter_wins = [0.0, 0.0]
    prefers_longer = 0.0
    model_correlations: list[float] = []
    human_correlations: list[float] = []
    for record, record_scores in zip(records, scores, strict=True):
        comparisons = record.comparisons()
        if not comparisons:
            continue
        for pair in comparisons:
            winner_length, loser_length = len(record.completions[pair.winner]), len(record.completions[pair.loser])
            if winner_length == loser_length:
                continue
            bucket = longer_wins if winner_length > loser_length else shorter_wins
            bucket[0] += 1
            bucket[1] += pair_credit(record_scores[pair.winner] - record_scores[pair.loser])  # a tie counts half
            longer, shorter = (pair.winner, pair.loser) if winner_length > loser_length else (pair.loser, pair.winner)
            prefers_longer += pair_credit(record_scores[longer] - record_scores[shorter])
        ranked = record.ranked_indices()
        lengths = [float(len(record.completions[i])) for i in ranked]
        model = spearman([record_scores[i] for i in ranked], lengths)
        if model is not None:
            model_correlations.append(model)
        rank = record.rank_of()
        if rank is not None:
            human = spearman([-float(rank[i]) for i in ranked], lengths)
            if human is not None:
                human_correlations.append(human)
    pairs = longer_wins[0] + shorter_wins[0]
    longer_accuracy = longer_wins[1] / longer_wins[0] if longer_wins[0] else None
    shorter_accuracy = shorter_wins[1] / shorter_wins[0] if shorter_wins[0] else None
    return {
        "length_balanced_accuracy": (
            (longer_accuracy + shorter_accuracy) / 2
            if longer_accuracy is not None and shorter_accuracy is not None
            else None
        ),
        "accuracy_when_longer_wins": longer_accuracy,
        "accuracy_when_shorter_wins": shorter_accuracy,
        "prefers_longer_share": prefers_longer / pairs if pairs else None,
        "humans_longer_wins_share": longer_wins[0] / pairs if pairs else None,
        "reward_length_correlation": (
            sum(model_correlations) / len(model_correlations) if model_correlations else None
        ),
        "human_length_correlation": (sum(human_correlations) / len(human_correlations) if human_correlations else None),
        "length_counts": {
            "pairs_of_unequal_length": int(pairs),
            "longer_wins_pairs": int(longer_wins[0]),
            "shorter_wins_pairs": int(shorter_wins[0]),
            "correlation_records": len(model_correlations),
        },
    }


def metrics_from_scores(records: Sequence[RankedRecord], scores: Sequence[Sequence[float]]) -> dict[str, Any]:
    """All metrics from per-record scores (``scores[i][j]`` = reward of completion j of record i)."""
    if len(records) != len(scores):
        raise ValueError(f"{len(records)} records but {len(scores)} score lists")
    correct = longer_correct = best_worst_correct = 0.0
    ties = length_ties = best_worst_pairs = 0
    by_k: dict[int, list[float]] = {}  # K -> [pairs, correct, longer correct]
    best_of: list[tuple[float, float, float]] = []
    probabilities: list[float] = []
    log_loss = 0.0
    taus: list[float] = []
    all_scores: list[float] = []
    scored_records = 0
    for record, record_scores in zip(records, scores, strict=True):
        comparisons = record.comparisons()
        if not comparisons:
            continue
        scored_records += 1
        ranked = record.ranked_indices()
        all_scores.extend(record_scores[i] for i in ranked)
        k_counts = by_k.setdefault(len(ranked), [0, 0.0, 0.0])
        rank = record.rank_of()
        worst = len(record.order) - 1
        for pair in comparisons:
            difference = record_scores[pair.winner] - record_scores[pair.loser]
            right = pair_credit(difference)
            length_difference = len(record.completions[pair.winner]) - len(record.completions[pair.loser])
            longer = pair_credit(length_difference)
            ties += difference == 0
            length_ties += length_difference == 0
            correct += right
            longer_correct += longer
            k_counts[0] += 1
            k_counts[1] += right
            k_counts[2] += longer
            probabilities.append(_sigmoid(difference))
            log_loss -= _log_sigmoid(difference)
            if rank is not None and rank[pair.winner] == 0 and rank[pair.loser] == worst:
                best_worst_pairs += 1
                best_worst_correct += right
        if rank is not None:
            tau = kendall_tau_b([rank[i] for i in ranked], [record_scores[i] for i in ranked])
            if tau is not None:
                taus.append(tau)
        picks = best_of_k(record, record_scores)
        if picks is not None:
            best_of.append(picks)
    pairs = len(probabilities)

    def share(numerator: float, denominator: int) -> float | None:
        return numerator / denominator if denominator else None

    def best_of_share(way: int) -> float | None:
        return share(sum(picks[way] for picks in best_of), len(best_of))

    mean = sum(all_scores) / len(all_scores) if all_scores else None
    table = calibration_bins(probabilities)
    return {
        "pairwise_accuracy": share(correct, pairs),
        "length_baseline_accuracy": share(longer_correct, pairs),
        "ties": ties,
        "tie_rate": share(ties, pairs),
        "accuracy_by_k": {
            str(k): {
                "pairs": int(n),
                "accuracy": share(right, int(n)),
                "length_baseline_accuracy": share(longer, int(n)),
            }
            for k, (n, right, longer) in sorted(by_k.items())
        },
        "best_vs_worst_accuracy": share(best_worst_correct, best_worst_pairs),
        "best_of_k_accuracy": best_of_share(0),
        "best_of_k_longest": best_of_share(1),
        "best_of_k_random": best_of_share(2),
        "kendall_tau": sum(taus) / len(taus) if taus else None,
        "log_loss": log_loss / pairs if pairs else None,
        "ece": _ece_of(table) if pairs else None,
        "calibration_bins": table,
        "reward_mean": mean,
        "reward_std": (
            math.sqrt(sum((s - mean) ** 2 for s in all_scores) / len(all_scores)) if mean is not None else None
        ),
        **length_metrics(records, scores),
        "counts": {
            "records": len(records),
            "records_with_pairs": scored_records,
            "pairs": pairs,
            "ties": ties,
            "length_ties": length_ties,
            "best_vs_worst_pairs": best_worst_pairs,
            "best_of_k_records": len(best_of),
            "kendall_tau_records": len(taus),
            "completions": len(all_scores),
        },
    }


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve of ``scores`` for telling ``positives`` apart (ties count half); None if
    either class is empty. 0.5 is chance; 1.0 ranks every positive above every negative."""
    ranks = _average_ranks(scores)
    positive_count = sum(positives)
    negative_count = len(positives) - positive_count
    if not positive_count or not negative_count:
        return None
    positive_rank_sum = sum(rank for rank, positive in zip(ranks, positives, strict=True) if positive)
    return (positive_rank_sum - positive_count * (positive_count + 1) / 2) / (positive_count * negative_count)


def uncertainty_metrics(
    records: Sequence[RankedRecord],
    scores: Sequence[Sequence[float]],
    uncertainties: Sequence[Sequence[float]],
    head_scores: Sequence[Sequence[Sequence[float]]] | None = None,
) -> dict[str, Any]:
    """Does uncertainty point at the model's mistakes? AUROC of uncertainty against wrongly ordered pairs.

    - ``auroc``: a pair's uncertainty is ``sqrt(u_w^2 + u_l^2)`` from the per-reward uncertainties (what a
      caller of ``RewardScorer.score(..., with_uncertainty=True)`` can compute);
    - ``auroc_head_disagreement``: the spread over the heads of each head's own difference ``h(w) - h(l)``
      (the heads share a body, so their errors correlate; this measures the pair directly);
    - ``auroc_small_margin``: the baseline any reward model has for free, ``-|r_w - r_l|``;
    - ``auroc_combined``: the head disagreement divided by the margin (an uncertain *and* close call).
    """
    errors: list[bool] = []
    summed: list[float] = []
    disagreement: list[float] = []
    small_margin: list[float] = []
    for n, (record, record_scores) in enumerate(zip(records, scores, strict=True)):
        for pair in record.comparisons():
            difference = record_scores[pair.winner] - record_scores[pair.loser]
            errors.append(difference <= 0)
            summed.append(math.hypot(uncertainties[n][pair.winner], uncertainties[n][pair.loser]))
            small_margin.append(-abs(difference))
            if head_scores is not None:
                winner_heads, loser_heads = head_scores[n][pair.winner], head_scores[n][pair.loser]
                differences = [w - lo for w, lo in zip(winner_heads, loser_heads, strict=True)]
                mean = sum(differences) / len(differences)
                disagreement.append(math.sqrt(sum((d - mean) ** 2 for d in differences) / max(1, len(differences) - 1)))
    result: dict[str, Any] = {
        "auroc": auroc(summed, errors),
        "auroc_small_margin": auroc(small_margin, errors),
        "pairs": len(errors),
        "errors": sum(errors),
        "mean_uncertainty": sum(summed) / len(summed) if summed else None,
    }
    if head_scores is not None:
        result["auroc_head_disagreement"] = auroc(disagreement, errors)
        result["auroc_combined"] = auroc(
            [d / max(-m, 1e-6) for d, m in zip(disagreement, small_margin, strict=True)], errors
        )
    return result
