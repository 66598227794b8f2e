"""Active learning: which prompt the annotators rank next, as the project's strategy and the model say.

After every model activation (``registry._switch``) the ``acquisition_scores_refresh`` task (training
queue: the GPU worker where there is one) measures, for each prompt that still wants rankings,

- ``model_uncertainty``: the active model's expected Bradley-Terry entropy over the prompt's completions
  (``rewardtrain.core.acquisition.order_uncertainty``, the function the simulation bench measures);
- ``annotator_disagreement``: the share of completion pairs the rankings so far order oppositely (None
  until a prompt has two rankings),

and then ``acquisition_priorities_apply`` turns them into ``Prompt.claim_priority`` under the project's
``acquisition_strategy``: the claim (``annotate.services.tasks``) hands out, among the prompts with the
fewest rankings, the highest priority first. ``coverage`` leaves every priority NULL: today's order.
A change of strategy or exploration share re-applies the priorities from the stored figures (no model
needed); ``manage.py acquisition_refresh`` runs either step by hand.

    acquisition_scores_refresh(project_id=project.pk)   # score with the active model, then apply
    acquisition_priorities_apply(project_id=project.pk) # only re-order (after a settings change)
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from annotate.models import Completion, Project, Prompt, Ranking
from rewardtrain.core.acquisition import annotator_disagreement, order_uncertainty, pick
from rewardtrain.models import ModelVersion

logger = logging.getLogger(__name__)

PROMPTS_PER_BATCH = 256  # prompts scored (and written) at a time: bounded memory, short row locks
STRATEGIES_NEEDING_A_MODEL = ("uncertainty", "mixed")


@dataclass(frozen=True)
class AcquisitionSummary:
    """What a refresh did, for the task's log, the command and the project page."""

    strategy: str
    model_version: int | None  # the version number that scored, None without an active model
    prompts: int  # prompts still wanting rankings
    scored: int  # of them, measured by the model
    with_disagreement: int  # of them, with two rankings or more
    prioritised: int  # of them, given a claim priority

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def strategy_score(*, strategy: str, uncertainty: float | None, disagreement: float | None) -> float | None:
    """A prompt's acquisition score under ``strategy`` (higher: rank it sooner); None: no evidence."""
    if strategy == "uncertainty":
        return uncertainty
    if strategy == "disagreement":
        return disagreement
    if strategy == "mixed":
        known = [value for value in (uncertainty, disagreement) if value is not None]
        return sum(known) / len(known) if known else None
    return None


def _wanting(project: Project):
    return Prompt.objects.filter(project=project, ranking_count__lt=project.rankings_per_prompt)


def acquisition_scores_refresh(*, project_id: int) -> AcquisitionSummary:
    """Measure every prompt that still wants rankings (model uncertainty with the active version, annotator
    disagreement), store the figures, then apply the project's strategy. Without an active model the
    uncertainty is left unmeasured (None) and the strategies that need it fall back to the others' order."""
    project = Project.objects.get(pk=project_id)
    version = ModelVersion.objects.filter(project=project, is_active=True).first()
    scorer = None
    if version is not None:
        from rewardtrain.core.scoring import RewardScorer

        try:
            scorer = RewardScorer.load(version.artifact_path)
        except Exception as error:  # the artifact is gone or unreadable: order by what is known without it
            logger.warning("acquisition refresh of project %s: cannot load version %s: %s", project_id, version, error)
            version = None
    prompt_ids = list(_wanting(project).order_by("id").values_list("id", flat=True))
    scored = with_disagreement = 0
    for start in range(0, len(prompt_ids), PROMPTS_PER_BATCH):
        batch = prompt_ids[start : start + PROMPTS_PER_BATCH]
        uncertainty = _uncertainty(scorer, batch) if scorer is not None else {}
        disagreement = _disagreement(batch)
        scored += len(uncertainty)
        with_disagreement += len(disagreement)
        with transaction.atomic():
            Prompt.objects.bulk_update(
                [
                    Prompt(id=pk, model_uncertainty=uncertainty.get(pk), annotator_disagreement=disagreement.get(pk))
                    for pk in batch
                ],
                ["model_uncertainty", "annotator_disagreement"],
            )
    prioritised = _priorities_apply(project)
    summary = AcquisitionSummary(
        strategy=project.acquisition_strategy,
        model_version=None if version is None else version.version,
        prompts=len(prompt_ids),
        scored=scored,
        with_disagreement=with_disagreement,
        prioritised=prioritised,
    )
    logger.info("acquisition refresh of project %s: %s", project.pk, summary.as_dict())
    return summary


def _uncertainty(scorer: Any, prompt_ids: list[int]) -> dict[int, float]:
    """Each prompt's order uncertainty under ``scorer`` (prompts with fewer than 2 completions left out)."""
    prompts = {
        pk: (text, context)
        for pk, text, context in Prompt.objects.filter(id__in=prompt_ids).values_list("id", "text", "context")
    }
    completions: dict[int, list[str]] = defaultdict(list)
    for prompt_id, text in (
        Completion.objects.filter(prompt_id__in=prompt_ids)
        .order_by("prompt_id", "position", "id")
        .values_list("prompt_id", "text")
    ):
        completions[prompt_id].append(text)
    ids = [pk for pk in prompt_ids if len(completions[pk]) >= 2]
    items = [{"prompt": prompts[pk][0], "context": prompts[pk][1], "completions": completions[pk]} for pk in ids]
    scores = scorer.score(items) if items else []
    return {pk: order_uncertainty(prompt_scores) for pk, prompt_scores in zip(ids, scores, strict=True)}


def _disagreement(prompt_ids: list[int]) -> dict[int, float]:
    """Disagreement among the rankings of each prompt that has two or more."""
    orders: dict[int, list[list[list[int]]]] = defaultdict(list)
    for prompt_id, order in Ranking.objects.filter(prompt_id__in=prompt_ids).values_list("prompt_id", "order"):
        orders[prompt_id].append(order)
    return {pk: annotator_disagreement(found) for pk, found in orders.items() if len(found) >= 2}


def acquisition_priorities_apply(*, project_id: int) -> int:
    """Re-order the project's queue from the stored figures under its current strategy and exploration
    share; returns how many prompts got a priority (0 under coverage)."""
    return _priorities_apply(Project.objects.get(pk=project_id))


def _priorities_apply(project: Project) -> int:
    rows = list(_wanting(project).order_by("id").values_list("id", "model_uncertainty", "annotator_disagreement"))
    priority: dict[int, float] = {}
    if project.acquisition_strategy != "coverage":
        scores = {
            str(pk): score
            for pk, uncertainty, disagreement in rows
            if (
                score := strategy_score(
                    strategy=project.acquisition_strategy, uncertainty=uncertainty, disagreement=disagreement
                )
            )
            is not None
        }
        if scores:  # with no evidence at all (no model yet, no second rankings) the queue stays coverage's
            order = pick(
                [str(pk) for pk, _, _ in rows],
                scores,
                len(rows),
                exploration=project.acquisition_exploration,
                rng=random.Random(),
            )
            priority = {int(key): (len(order) - place) / len(order) for place, key in enumerate(order)}
    # Small transactions: a claim skips the prompts a refresh holds locked (SKIP LOCKED), so one long
    # transaction over the whole queue would leave annotators without tasks while it ran.
    stale = set(
        Prompt.objects.filter(project=project, claim_priority__isnull=False).values_list("id", flat=True)
    ) - set(priority)
    _in_batches(sorted(stale), lambda ids: Prompt.objects.filter(id__in=ids).update(claim_priority=None))
    _in_batches(
        list(priority),
        lambda ids: Prompt.objects.bulk_update(
            [Prompt(id=pk, claim_priority=priority[pk]) for pk in ids], ["claim_priority"]
        ),
    )
    return len(priority)


def _in_batches(ids: list[int], write: Any) -> None:
    for start in range(0, len(ids), PROMPTS_PER_BATCH):
        with transaction.atomic():
            write(ids[start : start + PROMPTS_PER_BATCH])


def acquisition_refresh_enqueue(*, project_id: int, rescore: bool) -> None:
    """After the current transaction commits, refresh the project's queue: re-score with the model
    (``rescore``, training queue) or only re-apply the strategy (default queue)."""
    from rewardtrain import tasks

    task = tasks.acquisition_scores_refresh if rescore else tasks.acquisition_priorities_apply
    transaction.on_commit(lambda: task.delay(project_id))
