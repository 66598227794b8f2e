"""Per-annotator quality: agreement with the others, with the consensus, with gold and with the model.

``annotator_quality(project=...)`` returns one :class:`AnnotatorQuality` per annotator of the project
(members, and anyone who ranked or skipped one of its prompts), built on the agreement report of
``rewardtrain.services.agreement`` (agreement with the others, leave-one-out consensus tau, median
time: computed once there, cached until a ranking arrives) plus what only this module measures:

- **gold**: for each ranking of a prompt staff marked with a reference order (``Prompt.gold_order``),
  Kendall tau-b and pairwise agreement against that order (ties handled as in ``agreement``);
- **model**: pairwise agreement with the order the project's active reward model gives the ranked
  completions (``rewardtrain.models.CompletionScore``, filled after each activation), None until then;
- **counts**: skips, completion flags given, rankings containing a tie;
- **flags**: each figure below its project threshold (``Project.quality_min_*``; empty = off) flags
  the annotator, once the figure rests on at least ``quality_min_rankings`` rankings.

``annotator_quality_evidence(project=..., annotator_id=...)`` lists the annotator's rankings that agree
least with the consensus of the others, each beside that consensus (and the gold order where there is
one): what a project lead reads before talking to someone.

Example::

    from rewardtrain.services.quality import annotator_quality

    for row in annotator_quality(project=project):
        print(row.username, row.consensus_tau, row.gold_tau, row.flag_reasons)
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count

from annotate.models import Assignment, Completion, Project, Prompt, Ranking
from rewardtrain.services.agreement import (
    RankingFacts,
    consensus_order,
    kendall_tau_b,
    pairwise_agreement,
    project_agreement,
    prompt_report,
    reliability_weights,
)

EVIDENCE_LIMIT = 20


@dataclass
class AnnotatorQuality:
    """One annotator's figures in one project. Rates are 0..1, taus -1..1; None = nothing to measure."""

    annotator_id: int
    username: str
    is_member: bool
    rankings: int = 0
    median_seconds: float | None = None
    skips: int = 0
    flags: int = 0  # completion flags given (unsafe, incorrect, ...), summed over rankings
    ties: int = 0  # rankings holding at least one tie
    agreement_with_others: float | None = None  # pairwise, against every other ranking of the same prompts
    compared_pairs: int = 0
    consensus_tau: float | None = None  # mean tau-b against the leave-one-out consensus of each prompt
    consensus_rankings: int = 0  # rankings that consensus_tau averages (prompts others ranked too)
    model_agreement: float | None = None  # pairwise, against the active model's order
    model_rankings: int = 0
    gold_rankings: int = 0
    gold_tau: float | None = None
    gold_pairwise_agreement: float | None = None
    reliability: float = 1.0  # the weight of their rankings under reliability weighting
    flagged: bool = False
    flag_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quality_thresholds(project: Project) -> dict[str, Any]:
    """The project's thresholds, as the API shows them (None = that check is off)."""
    return {
        "min_rankings": project.quality_min_rankings,
        "min_agreement": project.quality_min_agreement,
        "min_consensus_tau": project.quality_min_consensus_tau,
        "min_gold_tau": project.quality_min_gold_tau,
        "min_model_agreement": project.quality_min_model_agreement,
        "min_median_seconds": project.quality_min_median_seconds,
    }


def annotator_reliability(*, project: Project) -> dict[int, float]:
    """Annotator id -> the weight of their rankings under reliability weighting (exports, training)."""
    report = project_agreement(project_id=project.pk, prompt_limit=0)
    return reliability_weights({stats["id"]: stats["mean_tau"] for stats in report["annotators"]})


def annotator_quality(*, project: Project) -> list[AnnotatorQuality]:
    """Every annotator of ``project`` with their figures and flags, by username."""
    report = project_agreement(project_id=project.pk, prompt_limit=0)
    rows: dict[int, AnnotatorQuality] = {}
    members = set(project.annotators.values_list("pk", flat=True))

    def row(annotator_id: int) -> AnnotatorQuality:
        if annotator_id not in rows:
            rows[annotator_id] = AnnotatorQuality(annotator_id=annotator_id, username="", is_member=False)
        return rows[annotator_id]

    for annotator_id in members:
        row(annotator_id)
    for stats in report["annotators"]:
        quality = row(stats["id"])
        quality.rankings = stats["rankings"]
        quality.median_seconds = stats["median_seconds"]
        quality.agreement_with_others = stats["agreement"]
        quality.compared_pairs = stats["compared"]
        quality.consensus_tau = stats["mean_tau"]
        quality.consensus_rankings = stats["tau_rankings"]

    skips = (
        Assignment.objects.filter(prompt__project=project, state=Assignment.State.SKIPPED)
        .values_list("annotator_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    for annotator_id, count in skips:
        row(annotator_id).skips = count

    gold = dict(Prompt.objects.filter(project=project, gold_order__isnull=False).values_list("pk", "gold_order"))
    gold_scores: dict[int, list[tuple[float | None, int, int]]] = defaultdict(list)
    rankings = Ranking.objects.filter(prompt__project=project).values_list(
        "annotator_id", "prompt_id", "order", "flags"
    )
    for annotator_id, prompt_id, order, flags in rankings.iterator(chunk_size=5000):
        quality = row(annotator_id)
        quality.flags += sum(len(names) for names in (flags or {}).values())
        quality.ties += any(len(group) > 1 for group in order)
        if prompt_id in gold:
            agreed, compared = pairwise_agreement(order, gold[prompt_id])
            gold_scores[annotator_id].append((kendall_tau_b(order, gold[prompt_id]), agreed, compared))
    for annotator_id, scores in gold_scores.items():
        quality = row(annotator_id)
        quality.gold_rankings = len(scores)
        taus = [tau for tau, _, _ in scores if tau is not None]
        quality.gold_tau = statistics.fmean(taus) if taus else None
        compared = sum(compared for _, _, compared in scores)
        quality.gold_pairwise_agreement = sum(agreed for _, agreed, _ in scores) / compared if compared else None

    from rewardtrain.selectors import model_order_agreement

    for annotator_id, (agreed, compared, measured) in model_order_agreement(project_id=project.pk).items():
        quality = row(annotator_id)
        quality.model_agreement = agreed / compared if compared else None
        quality.model_rankings = measured

    weights = annotator_reliability(project=project)
    unmeasured = statistics.median(weights.values()) if weights else 1.0  # members who never ranked
    names = dict(get_user_model().objects.filter(pk__in=rows).values_list("pk", "username"))
    for annotator_id, quality in rows.items():
        quality.username = names.get(annotator_id, str(annotator_id))
        quality.is_member = annotator_id in members
        quality.reliability = weights.get(annotator_id, unmeasured)
        quality.flag_reasons = _flag_reasons(quality, project)
        quality.flagged = bool(quality.flag_reasons)
    return sorted(rows.values(), key=lambda quality: (quality.username, quality.annotator_id))


def _flag_reasons(quality: AnnotatorQuality, project: Project) -> list[str]:
    """Why the annotator is flagged: each figure below its threshold, measured on enough rankings."""
    enough = project.quality_min_rankings
    checks = (
        ("agreement with the others", quality.agreement_with_others, quality.rankings, project.quality_min_agreement),
        ("consensus tau", quality.consensus_tau, quality.consensus_rankings, project.quality_min_consensus_tau),
        ("gold tau", quality.gold_tau, quality.gold_rankings, project.quality_min_gold_tau),
        ("model agreement", quality.model_agreement, quality.model_rankings, project.quality_min_model_agreement),
        ("median seconds", quality.median_seconds, quality.rankings, project.quality_min_median_seconds),
    )
    return [
        f"{name} {value:.2f} below {threshold:g} over {measured} rankings"
        for name, value, measured, threshold in checks
        if threshold is not None and value is not None and measured >= enough and value < threshold
    ]


def annotator_quality_evidence(
    *, project: Project, annotator_id: int, limit: int = EVIDENCE_LIMIT
) -> list[dict[str, Any]]:
    """The annotator's rankings least like the others' consensus (gold ones too), worst first.

    Each item: the prompt, its completions (id, text), the annotator's order, the consensus of the
    other rankings, the gold order (or None), tau against each, and how many others ranked it.
    """
    own = list(
        Ranking.objects.filter(prompt__project=project, annotator_id=annotator_id)
        .order_by("id")
        .values_list("id", "prompt_id", "order", "submitted_at")
    )
    prompt_ids = {prompt_id for _, prompt_id, _, _ in own}
    others: dict[int, list[RankingFacts]] = defaultdict(list)
    for ranking_id, prompt_id, other_annotator, order in (
        Ranking.objects.filter(prompt_id__in=prompt_ids)
        .order_by("id")
        .values_list("id", "prompt_id", "annotator_id", "order")
    ):
        others[prompt_id].append(RankingFacts(ranking_id, prompt_id, other_annotator, order))
    gold = dict(Prompt.objects.filter(pk__in=prompt_ids, gold_order__isnull=False).values_list("pk", "gold_order"))
    items = []
    for ranking_id, prompt_id, order, submitted_at in own:
        group = others[prompt_id]
        tau = prompt_report(group)["tau"].get(ranking_id) if len(group) > 1 else None
        rest = [facts.order for facts in group if facts.ranking_id != ranking_id]
        if not rest and prompt_id not in gold:
            continue  # nothing to hold it against
        items.append(
            {
                "ranking_id": ranking_id,
                "prompt_id": prompt_id,
                "submitted_at": submitted_at.isoformat(),
                "order": order,
                "consensus_of_others": consensus_order(rest) if rest else None,
                "other_rankings": len(rest),
                "consensus_tau": tau,
                "gold_order": gold.get(prompt_id),
                "gold_tau": kendall_tau_b(order, gold[prompt_id]) if prompt_id in gold else None,
            }
        )
    items.sort(
        key=lambda item: min(value for value in (item["consensus_tau"], item["gold_tau"], 2.0) if value is not None)
    )
    items = items[:limit]
    prompts = dict(Prompt.objects.filter(pk__in={item["prompt_id"] for item in items}).values_list("pk", "text"))
    completions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for prompt_id, completion_id, text in (
        Completion.objects.filter(prompt_id__in=prompts)
        .order_by("prompt_id", "position", "id")
        .values_list("prompt_id", "id", "text")
    ):
        completions[prompt_id].append({"id": completion_id, "text": text})
    for item in items:
        item["prompt"] = prompts.get(item["prompt_id"], "")
        item["completions"] = completions[item["prompt_id"]]
    return items


def flagged_annotators(*, project: Project) -> list[AnnotatorQuality]:
    """The flagged ones only (the project page's warning box)."""
    return [quality for quality in annotator_quality(project=project) if quality.flagged]


# --- the active model's scores, for model agreement -----------------------------------------------


def completion_scores_refresh(*, version_id: int, batch_prompts: int = 200) -> int:
    """Score every ranked completion of the version's project with the version and store the rewards.

    Runs on the training queue after an activation (``completion_scores_dispatch``); returns how many
    completions were scored. Scores already stored for the version are replaced.
    """
    from django.conf import settings
    from django.db import transaction

    from rewardtrain.core.data import RankedRecord
    from rewardtrain.core.scoring import RewardScorer
    from rewardtrain.models import CompletionScore, ModelVersion

    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return 0
    scorer = RewardScorer.load(version.artifact_path, device=settings.SCORING_DEVICE)
    ranked = Prompt.objects.filter(project_id=version.project_id, ranking_count__gt=0).order_by("id")
    prompt_ids = list(ranked.values_list("id", flat=True))
    rows: list[CompletionScore] = []
    for start in range(0, len(prompt_ids), batch_prompts):
        batch = prompt_ids[start : start + batch_prompts]
        prompts = {row[0]: row for row in Prompt.objects.filter(pk__in=batch).values_list("id", "text", "context")}
        completions: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for prompt_id, completion_id, text in (
            Completion.objects.filter(prompt_id__in=batch)
            .order_by("prompt_id", "position", "id")
            .values_list("prompt_id", "id", "text")
        ):
            completions[prompt_id].append((completion_id, text))
        scored = [prompt_id for prompt_id in batch if len(completions[prompt_id]) >= 2]
        items = [
            RankedRecord(
                prompt=prompts[prompt_id][1],
                context=list(prompts[prompt_id][2] or []),
                completions=[text for _, text in completions[prompt_id]],
            )
            for prompt_id in scored
        ]
        for prompt_id, rewards in zip(scored, scorer.score(items), strict=True):
            rows.extend(
                CompletionScore(version_id=version.pk, completion_id=completion_id, score=float(reward))
                for (completion_id, _), reward in zip(completions[prompt_id], rewards, strict=True)
            )
    with transaction.atomic():
        CompletionScore.objects.filter(version_id=version.pk).delete()
        CompletionScore.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def completion_scores_dispatch(*, version_id: int) -> None:
    """After an activation: have the version's scores computed where training runs (as TRAINING_DISPATCH
    says: on the training queue, in this process, or by the worker's minute tick in poll mode)."""
    from django.conf import settings

    mode = settings.TRAINING_DISPATCH
    if mode == "poll":
        return  # training_worker_tick -> completion_scores_refresh_pending
    if mode == "inline":
        completion_scores_refresh(version_id=version_id)
        return
    from rewardtrain.tasks import completion_scores_refresh as refresh_task

    refresh_task.delay(version_id)


def completion_scores_refresh_pending() -> list[int]:
    """Score the active versions that have no stored scores yet (the poll-mode worker's tick)."""
    from rewardtrain.models import CompletionScore, ModelVersion

    pending = (
        ModelVersion.objects.filter(is_active=True)
        .exclude(pk__in=CompletionScore.objects.values("version_id"))
        .values_list("pk", flat=True)
    )
    refreshed = []
    for version_id in pending:
        completion_scores_refresh(version_id=version_id)
        refreshed.append(version_id)
    return refreshed
