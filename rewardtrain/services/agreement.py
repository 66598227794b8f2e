"""How much annotators agree, what they agree on, and where aggregated preferences go in circles.

The functions at the top are pure: they take orders (groups of completion ids, best first, as
``Ranking.order`` stores them) and plain records, and return numbers. ``project_agreement`` reads a
project's rankings once (``rewardtrain.selectors``) and assembles the report the API and the project
page show.

Definitions (the same in the API, the page and the export filter):

- **pairwise agreement** of two rankings of one prompt: over the pairs of completions on which at
  least one of them states a strict preference, the share on which both state the same one (a tie
  against a preference is a disagreement; pairs both call ties are left out, as InstructGPT's 72.6%
  inter-labeler figure counts strict comparisons).
- **consensus** of several rankings: Tideman's ranked pairs over the pairwise majorities (what
  Open-Assistant uses); completions no locked majority separates share a group (a tie).
- **tau**: Kendall's tau-b of an annotator's ranking against the consensus of the *other* rankings of
  the prompt (tau-b corrects for ties on either side); None when either side is all one tie.
- **position bias**: how often the completion shown first ends up in the top group, beside the rate a
  ranking indifferent to position would give (the mean of |top group| / K).
- **cycles**: 3-cycles a > b > c > a in a majority graph, per prompt (over completions) and per
  project (over the models that wrote the completions).

Example::

    from rewardtrain.services.agreement import consensus_order, kendall_tau_b, pairwise_agreement

    consensus_order([[[1], [2], [3]], [[2], [1], [3]], [[1], [3], [2]]])  # [[1], [2], [3]]
    pairwise_agreement([[1], [2], [3]], [[2], [1], [3]])                  # (2, 3)
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, groupby
from typing import Any

Order = Sequence[Sequence[int]]


# --- pure functions over orders -------------------------------------------------------------------


def rank_of(order: Order) -> dict[int, int]:
    """Completion id -> group index (0 = best)."""
    return {completion: rank for rank, group in enumerate(order) for completion in group}


def pairwise_agreement(first: Order, second: Order) -> tuple[int, int]:
    """(pairs agreed on, pairs compared) of two rankings, over the completions both rank."""
    first_rank, second_rank = rank_of(first), rank_of(second)
    common = sorted(first_rank.keys() & second_rank.keys())
    agreed = compared = 0
    for a, b in combinations(common, 2):
        x = _sign(first_rank[b] - first_rank[a])
        y = _sign(second_rank[b] - second_rank[a])
        if x == 0 and y == 0:
            continue
        compared += 1
        agreed += x == y
    return agreed, compared


def kendall_tau_b(first: Order, second: Order) -> float | None:
    """Kendall's tau-b of two rankings over the completions both rank; None if undefined."""
    first_rank, second_rank = rank_of(first), rank_of(second)
    common = sorted(first_rank.keys() & second_rank.keys())
    concordant = discordant = tied_first = tied_second = 0
    pairs = 0
    for a, b in combinations(common, 2):
        pairs += 1
        x = _sign(first_rank[b] - first_rank[a])
        y = _sign(second_rank[b] - second_rank[a])
        tied_first += x == 0
        tied_second += y == 0
        if x * y > 0:
            concordant += 1
        elif x * y < 0:
            discordant += 1
    denominator = math.sqrt((pairs - tied_first) * (pairs - tied_second))
    return None if denominator == 0 else (concordant - discordant) / denominator


def preference_counts(orders: Iterable[Order]) -> dict[tuple[int, int], int]:
    """(a, b) -> how many orders put a strictly above b."""
    wins: dict[tuple[int, int], int] = defaultdict(int)
    for order in orders:
        for better_rank, better_group in enumerate(order):
            for worse_group in order[better_rank + 1 :]:
                for better in better_group:
                    for worse in worse_group:
                        wins[(better, worse)] += 1
    return wins


def consensus_order(orders: Sequence[Order]) -> list[list[int]]:
    """Tideman's ranked pairs over the orders, ties allowed in the result.

    Majorities are locked strongest first (larger margin, then more winning votes), skipping any that
    would close a cycle; equally strong ones are decided together, so the result never depends on ids.
    The result lists the completions in layers: each group holds those no remaining locked majority
    puts below another.
    """
    completions = sorted({completion for order in orders for group in order for completion in group})
    wins = preference_counts(orders)
    majorities = []
    for a, b in combinations(completions, 2):
        margin = wins.get((a, b), 0) - wins.get((b, a), 0)
        if margin:
            winner, loser = (a, b) if margin > 0 else (b, a)
            majorities.append((-abs(margin), -wins.get((winner, loser), 0), winner, loser))
    beats: dict[int, set[int]] = {completion: set() for completion in completions}
    for *_, winner, loser in majorities:
        beats[winner].add(loser)
    layers = _layers(beats, set(completions))
    if layers is not None:
        # No cycle among the majorities (the usual case): ranked pairs would lock every one of them.
        return layers
    beats = {completion: set() for completion in completions}
    majorities.sort()
    for _, level in groupby(majorities, key=lambda majority: majority[:2]):
        # Equally strong majorities are locked together: those that would close a cycle with the
        # locked ones or with each other are all skipped, so a perfect cycle ends as a tie.
        candidates = [(winner, loser) for *_, winner, loser in level if not _reaches(beats, loser, winner)]
        trial = {completion: set(losers) for completion, losers in beats.items()}
        for winner, loser in candidates:
            trial[winner].add(loser)
        for winner, loser in candidates:
            if not _reaches(trial, loser, winner, skip=(winner, loser)):
                beats[winner].add(loser)
    return _layers(beats, set(completions)) or []


def _layers(beats: Mapping[int, set[int]], remaining: set[int]) -> list[list[int]] | None:
    """Groups of an acyclic ``beats`` graph, unbeaten first; None if the graph has a cycle."""
    layers: list[list[int]] = []
    while remaining:
        beaten = {loser for winner in remaining for loser in beats[winner] if loser in remaining}
        layer = sorted(remaining - beaten)
        if not layer:
            return None
        layers.append(layer)
        remaining = remaining - set(layer)
    return layers


def three_cycles(wins: Mapping[tuple[Hashable, Hashable], float]) -> list[tuple[Hashable, Hashable, Hashable]]:
    """Every a > b > c > a in the majority graph of ``wins`` ((a, b) -> votes for a over b).

    Each cycle is reported once, rotated so that its smallest element comes first.
    """
    nodes = sorted({node for pair in wins for node in pair}, key=str)
    beats: dict[Hashable, set[Hashable]] = defaultdict(set)
    for a, b in combinations(nodes, 2):
        difference = wins.get((a, b), 0) - wins.get((b, a), 0)
        if difference > 0:
            beats[a].add(b)
        elif difference < 0:
            beats[b].add(a)
    position = {node: index for index, node in enumerate(nodes)}
    cycles = []
    for a in nodes:
        for b in beats[a]:
            for c in beats[b]:
                if a in beats[c] and position[a] < position[b] and position[a] < position[c]:
                    cycles.append((a, b, c))
    return sorted(cycles, key=lambda cycle: [position[node] for node in cycle])


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _reaches(beats: Mapping[int, set[int]], start: int, goal: int, skip: tuple[int, int] | None = None) -> bool:
    """Whether ``goal`` can be reached from ``start`` along ``beats`` (without the edge ``skip``)."""
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for following in beats[node] - seen:
            if (node, following) == skip:
                continue
            seen.add(following)
            stack.append(following)
    return False


# --- the project report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingFacts:
    """What agreement needs to know about one ranking."""

    ranking_id: int
    prompt_id: int
    annotator_id: int
    order: Order
    seconds: float | None = None
    shown_first: int | None = None  # the completion shown at the top of the task


def prompt_report(rankings: Sequence[RankingFacts]) -> dict[str, Any]:
    """Consensus, agreement and leave-one-out tau for the rankings of one prompt."""
    orders = [ranking.order for ranking in rankings]
    agreed = compared = 0
    pairs = []
    for first, second in combinations(rankings, 2):
        if first.annotator_id == second.annotator_id:
            continue
        pair_agreed, pair_compared = pairwise_agreement(first.order, second.order)
        agreed += pair_agreed
        compared += pair_compared
        pairs.append((first.annotator_id, second.annotator_id, pair_agreed, pair_compared))
    taus = {}
    if len(rankings) > 1:
        for index, ranking in enumerate(rankings):
            others = consensus_order(orders[:index] + orders[index + 1 :])
            taus[ranking.ranking_id] = kendall_tau_b(ranking.order, others)
    return {
        "prompt_id": rankings[0].prompt_id,
        "rankings": len(rankings),
        "consensus": consensus_order(orders),
        "agreed": agreed,
        "compared": compared,
        "agreement": agreed / compared if compared else None,
        "annotator_pairs": pairs,
        "tau": taus,
        "cycles": [list(cycle) for cycle in three_cycles(preference_counts(orders))] if len(rankings) > 2 else [],
    }


def agreement_report(
    rankings: Iterable[RankingFacts],
    *,
    model_wins: Mapping[tuple[str, str], int] | None = None,
    max_examples: int = 20,
) -> dict[str, Any]:
    """The whole project's report from its rankings (any order) and optional model-vs-model win counts."""
    by_prompt: dict[int, list[RankingFacts]] = defaultdict(list)
    for ranking in rankings:
        by_prompt[ranking.prompt_id].append(ranking)

    per_annotator: dict[int, dict[str, Any]] = defaultdict(
        lambda: {
            "rankings": 0,
            "seconds": [],
            "agreed": 0,
            "compared": 0,
            "taus": [],
            "top_hits": 0,
            "top_known": 0,
            "top_chance": 0.0,
        }
    )
    pair_totals: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    prompts, cycles = [], []
    agreed = compared = cycle_count = 0
    for prompt_id in sorted(by_prompt):
        group = sorted(by_prompt[prompt_id], key=lambda ranking: ranking.ranking_id)
        for ranking in group:
            stats = per_annotator[ranking.annotator_id]
            stats["rankings"] += 1
            if ranking.seconds is not None:
                stats["seconds"].append(ranking.seconds)
            size = sum(len(block) for block in ranking.order)
            if ranking.shown_first is not None and size:
                stats["top_known"] += 1
                stats["top_hits"] += ranking.shown_first in ranking.order[0]
                stats["top_chance"] += len(ranking.order[0]) / size
        if len(group) < 2:
            continue
        report = prompt_report(group)
        agreed += report["agreed"]
        compared += report["compared"]
        for first, second, pair_agreed, pair_compared in report.pop("annotator_pairs"):
            for annotator_id in (first, second):
                per_annotator[annotator_id]["agreed"] += pair_agreed
                per_annotator[annotator_id]["compared"] += pair_compared
            totals = pair_totals[(min(first, second), max(first, second))]
            totals[0] += pair_agreed
            totals[1] += pair_compared
        for ranking in group:
            tau = report["tau"].get(ranking.ranking_id)
            if tau is not None:
                per_annotator[ranking.annotator_id]["taus"].append(tau)
        cycle_count += len(report["cycles"])
        if report["cycles"] and len(cycles) < max_examples:
            cycles.append({"prompt_id": prompt_id, "cycles": report["cycles"]})
        taus = [tau for tau in report.pop("tau").values() if tau is not None]
        report["mean_tau"] = statistics.fmean(taus) if taus else None
        prompts.append(report)

    annotators = {}
    for annotator_id, stats in sorted(per_annotator.items()):
        annotators[annotator_id] = {
            "rankings": stats["rankings"],
            "median_seconds": statistics.median(stats["seconds"]) if stats["seconds"] else None,
            "seconds": stats["seconds"],
            "agreement": stats["agreed"] / stats["compared"] if stats["compared"] else None,
            "compared": stats["compared"],
            "mean_tau": statistics.fmean(stats["taus"]) if stats["taus"] else None,
            "tau_rankings": len(stats["taus"]),
            "position_bias": {
                "shown_first_ranked_first": stats["top_hits"] / stats["top_known"] if stats["top_known"] else None,
                "chance": stats["top_chance"] / stats["top_known"] if stats["top_known"] else None,
                "rankings": stats["top_known"],
            },
        }
    model_cycles = [list(cycle) for cycle in three_cycles(model_wins)] if model_wins else []
    return {
        "summary": {
            "rankings": sum(len(group) for group in by_prompt.values()),
            "prompts": len(by_prompt),
            "prompts_with_several_rankings": len(prompts),
            "agreement": agreed / compared if compared else None,
            "compared_pairs": compared,
        },
        "annotators": annotators,
        "annotator_pairs": [
            {
                "annotators": [first, second],
                "agreement": totals[0] / totals[1] if totals[1] else None,
                "compared": totals[1],
            }
            for (first, second), totals in sorted(pair_totals.items())
        ],
        "prompts": prompts,
        "cycles": {"prompt_cycles": cycle_count, "prompt_examples": cycles, "model_cycles": model_cycles},
    }


def reliability_weights(taus: Mapping[int, float | None]) -> dict[int, float]:
    """Annotator id -> the weight of their rankings, from their mean leave-one-out consensus tau.

    The weight is the tau clipped to [0, 1] (an annotator who agrees with the others no better than
    chance, or who reverses them, weighs 0), divided by the largest such tau so the most reliable
    annotator weighs 1. Annotators with no tau (nobody else ranked their prompts) get the median
    weight of the measured ones: neither trusted nor silenced. With nobody measured, or nobody above
    chance, the weights say nothing and everyone weighs 1.
    """
    clipped = {annotator: min(max(tau, 0.0), 1.0) for annotator, tau in taus.items() if tau is not None}
    top = max(clipped.values(), default=0.0)
    if top <= 0:
        return dict.fromkeys(taus, 1.0)
    weights = {annotator: tau / top for annotator, tau in clipped.items()}
    neutral = statistics.median(weights.values())
    return {annotator: weights.get(annotator, neutral) for annotator in taus}


# --- the service the API, the page and the export use ----------------------------------------------

SECONDS_BINS = (0, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)


def seconds_histogram(seconds: Iterable[float], bins: Sequence[float] = SECONDS_BINS) -> list[dict[str, Any]]:
    """Counts per bin [bins[i], bins[i+1]); the last bin is open-ended."""
    counts = [0] * len(bins)
    for value in seconds:
        index = max(index for index, start in enumerate(bins) if value >= start) if value >= bins[0] else 0
        counts[index] += 1
    return [
        {"from": start, "to": bins[index + 1] if index + 1 < len(bins) else None, "count": counts[index]}
        for index, start in enumerate(bins)
    ]


def project_agreement(*, project_id: int, prompt_limit: int = 50) -> dict[str, Any]:
    """The agreement report of a project, ready for JSON: annotators by id with their usernames.

    ``prompts`` keeps the ``prompt_limit`` prompts with the lowest agreement (the ones worth a look).
    Rankings are never edited, so the report is cached until a ranking is added or removed (a
    40,000-ranking project takes seconds to measure).
    """
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db.models import Count, Max

    from annotate.models import Ranking
    from rewardtrain.selectors import model_wins_for_project, ranking_facts_for_project

    state = Ranking.objects.filter(prompt__project_id=project_id).aggregate(
        count=Count("id"), last=Max("id"), newest=Max("submitted_at")
    )
    newest = state["newest"].isoformat() if state["newest"] else ""
    # One cached report per state of the rankings, whatever prompt_limit the caller wants: the project
    # page, the prompt browser and the quality table ask for different limits of the same report.
    cache_key = f"rewardtrain:agreement:{project_id}:{state['count']}:{state['last']}:{newest}"
    cached = cache.get(cache_key)
    if cached is not None:
        return {**cached, "prompts": cached["prompts"][:prompt_limit]}
    report = agreement_report(
        ranking_facts_for_project(project_id=project_id), model_wins=model_wins_for_project(project_id=project_id)
    )
    names = dict(get_user_model().objects.filter(pk__in=report["annotators"]).values_list("pk", "username"))
    all_seconds: list[float] = []
    annotators = []
    for annotator_id, stats in report["annotators"].items():
        seconds = stats.pop("seconds")
        all_seconds.extend(seconds)
        annotators.append(
            {
                "id": annotator_id,
                "username": names.get(annotator_id, str(annotator_id)),
                **stats,
                "seconds_histogram": seconds_histogram(seconds),
            }
        )
    report["annotators"] = annotators
    for pair in report["annotator_pairs"]:
        pair["usernames"] = [names.get(annotator_id, str(annotator_id)) for annotator_id in pair["annotators"]]
    report["summary"]["seconds_histogram"] = seconds_histogram(all_seconds)
    report["summary"]["median_seconds"] = statistics.median(all_seconds) if all_seconds else None
    prompts = sorted(report["prompts"], key=lambda prompt: (prompt["agreement"] is None, prompt["agreement"] or 0))
    report["prompts"] = prompts
    cache.set(cache_key, report, timeout=3600)
    return {**report, "prompts": prompts[:prompt_limit]}
