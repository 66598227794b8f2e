"""Reads of rewardtrain shared by services, APIs, pages and commands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Count, F, Q

from annotate.models import Project, Ranking
from annotate.selectors import project_target_prompts
from rewardtrain.models import Comparison, ModelVersion
from rewardtrain.services.agreement import RankingFacts

# --- comparisons and agreement (issue 4) ----------------------------------------------------------


def ranking_facts_for_project(
    *, project_id: int, prompt_id: int | None = None, chunk_size: int = 5000
) -> Iterator[RankingFacts]:
    """Every ranking of the project (or of one of its prompts) as the plain record agreement works on."""
    rankings = Ranking.objects.filter(prompt__project_id=project_id)
    if prompt_id is not None:
        rankings = rankings.filter(prompt_id=prompt_id)
    rows = rankings.order_by("id").values_list(
        "id", "prompt_id", "annotator_id", "order", "seconds", "assignment__shown_order"
    )
    for ranking_id, prompt_id, annotator_id, order, seconds, shown in rows.iterator(chunk_size=chunk_size):
        yield RankingFacts(
            ranking_id=ranking_id,
            prompt_id=prompt_id,
            annotator_id=annotator_id,
            order=order,
            seconds=seconds,
            shown_first=shown[0] if shown else None,
        )


def model_wins_for_project(*, project_id: int) -> dict[tuple[str, str], int]:
    """(model of the chosen, model of the rejected) -> strict comparisons, across the project's prompts."""
    rows = (
        Comparison.objects.filter(project_id=project_id, is_tie=False)
        .exclude(chosen__model_name="")
        .exclude(rejected__model_name="")
        .values_list("chosen__model_name", "rejected__model_name")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {(winner, loser): count for winner, loser, count in rows if winner != loser}


def comparison_counts(*, project_id: int) -> dict[str, int]:
    """How many comparisons and tie rows the project has, and how many rankings wait for expansion."""
    counts = Comparison.objects.filter(project_id=project_id).aggregate(
        total=Count("id"), ties=Count("id", filter=Q(is_tie=True))
    )
    rankings = Ranking.objects.filter(prompt__project_id=project_id)
    return {
        "comparisons": counts["total"] - counts["ties"],
        "ties": counts["ties"],
        "rankings": rankings.count(),
        "rankings_not_expanded": rankings.filter(comparisons__isnull=True).count(),
    }


def active_model_version(*, project_id: int) -> ModelVersion | None:
    """The version serving the project's rewards, if any (its metrics hold the held-out accuracy and
    the length baseline measured on the same prompts)."""
    return ModelVersion.objects.filter(project_id=project_id, is_active=True).first()


# --- quality control (issue 15) -------------------------------------------------------------------


def model_order(scores: dict[int, float], completion_ids: list[int]) -> list[list[int]]:
    """The order a model's scores give ``completion_ids`` (those it scored), best first; equal scores tie."""
    scored = sorted((completion for completion in completion_ids if completion in scores), key=lambda c: -scores[c])
    groups: list[list[int]] = []
    for completion in scored:
        if groups and scores[groups[-1][0]] == scores[completion]:
            groups[-1].append(completion)
        else:
            groups.append([completion])
    return groups


def model_order_agreement(*, project_id: int) -> dict[int, tuple[int, int, int]]:
    """Annotator id -> (pairs agreed with the active model, pairs compared, rankings measured).

    Empty when the project has no active version or its scores are not stored yet.
    """
    from rewardtrain.models import CompletionScore
    from rewardtrain.services.agreement import pairwise_agreement

    version = active_model_version(project_id=project_id)
    if version is None:
        return {}
    scores = dict(CompletionScore.objects.filter(version=version).values_list("completion_id", "score"))
    if not scores:
        return {}
    totals: dict[int, list[int]] = {}
    rows = Ranking.objects.filter(prompt__project_id=project_id).values_list("annotator_id", "order")
    for annotator_id, order in rows.iterator(chunk_size=5000):
        ranked = [completion for group in order for completion in group]
        agreed, compared = pairwise_agreement(order, model_order(scores, ranked))
        if compared:
            total = totals.setdefault(annotator_id, [0, 0, 0])
            total[0] += agreed
            total[1] += compared
            total[2] += 1
    return {annotator_id: (total[0], total[1], total[2]) for annotator_id, total in totals.items()}


# --- length robustness of the active model (issue 14) ---------------------------------------------

LENGTH_REPORT_SHARES = (
    "pairwise_accuracy",
    "length_baseline_accuracy",
    "length_balanced_accuracy",
    "prefers_longer_share",
    "humans_longer_wins_share",
)


def length_report_for_project(*, project_id: int) -> dict[str, object] | None:
    """The active version's length metrics (shares in percent), or None without an active version.

    Falls back to the newest version when none is active, so a project whose first model was not
    promoted still shows what it learned."""
    versions = ModelVersion.objects.filter(project_id=project_id).order_by("-is_active", "-version")
    version = versions.only("version", "is_active", "metrics").first()
    if version is None:
        return None
    metrics = version.metrics or {}
    report: dict[str, object] = {"version": version.version, "is_active": version.is_active}
    for name in LENGTH_REPORT_SHARES:
        value = metrics.get(name)
        report[name] = None if value is None else 100 * value
    report["reward_length_correlation"] = metrics.get("reward_length_correlation")
    report["human_length_correlation"] = metrics.get("human_length_correlation")
    report["pairs"] = (metrics.get("length_counts") or {}).get("pairs_of_unequal_length")
    return report


def acquisition_overview(*, project: Project, head: int = 5) -> dict[str, Any]:
    """What the project page shows of active learning: the strategy, how much of the queue the last refresh
    measured, and the next prompts the claim will hand out (fewest rankings first, then priority)."""
    wanting = project_target_prompts(project=project).filter(ranking_count__lt=project.rankings_per_prompt)
    counts = wanting.aggregate(
        prompts=Count("id"),
        scored=Count("id", filter=Q(model_uncertainty__isnull=False)),
        with_disagreement=Count("id", filter=Q(annotator_disagreement__isnull=False)),
        prioritised=Count("id", filter=Q(claim_priority__isnull=False)),
    )
    queue = wanting.order_by(
        "ranking_count", "open_assignment_count", F("claim_priority").desc(nulls_first=True), "id"
    ).values("id", "text", "ranking_count", "model_uncertainty", "annotator_disagreement", "claim_priority")[:head]
    return {
        "strategy": project.acquisition_strategy,
        "exploration": project.acquisition_exploration,
        **counts,
        "next": list(queue),
    }
