"""Celery tasks of rewardtrain. Each takes ids, calls one service, and returns a small result."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from rewardtrain.services import acquisition, training
from rewardtrain.services.comparisons import comparisons_expand

# --- comparisons (issue 4) ------------------------------------------------------------------------
# Expansion is idempotent (a comparison is unique per ranking and pair), so its messages are acked only
# after the task ran, put back when the worker process dies under them (reject_on_worker_lost; the
# broker's visibility timeout covers a whole worker killed), and retried with backoff when the
# database is unavailable (a restart): comparisons catch up within seconds, not at the next sweep.
EXPANSION = {
    "ignore_result": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "max_retries": 12,
}


@shared_task(**EXPANSION)
def comparisons_expand_ranking(ranking_id: int) -> int:
    """Expand one ranking just committed (sent by the ``ranking_submitted`` hook)."""
    return comparisons_expand(ranking_ids=[ranking_id])


@shared_task(**EXPANSION)
def comparisons_expand_rankings(ranking_ids: list[int]) -> int:
    """Expand rankings just committed, sent in batches by the ``ranking_submitted`` hook."""
    return comparisons_expand(ranking_ids=ranking_ids)


@shared_task(**EXPANSION)
def comparisons_expand_all(project_id: int | None = None) -> int:
    """Expand whatever is left (beat, every 2 minutes): imported rankings arrive without the hook."""
    return comparisons_expand(project_id=project_id)


# --- training runs (issue 5) ----------------------------------------------------------------------
# Routed to the `training` queue (CELERY_TASK_ROUTES); the others go to `default`.


@shared_task(ignore_result=True, acks_late=True)
def training_run_execute(run_id: int) -> str | None:
    """Claim and train one queued run; a duplicate delivery finds it taken and does nothing."""
    run = training.training_run_execute(run_id=run_id)
    return None if run is None else run.state


@shared_task(ignore_result=True)
def training_runs_reap() -> dict:
    """Every minute: fail dead or untaken runs (beat's scheduler also does, every heartbeat); in poll
    mode, run queued runs."""
    return training.training_worker_tick()


@shared_task(ignore_result=True)
def training_schedule_check() -> list[int]:
    """Every few minutes: start runs for projects with enough new rankings, or due daily."""
    return [run.pk for run in training.training_schedule_check()]


# --- active learning (issue 15) -------------------------------------------------------------------


@shared_task(ignore_result=True)
def acquisition_scores_refresh(project_id: int) -> dict:
    """After a model activation (training queue): score the prompts still wanting rankings, re-order the queue."""
    return acquisition.acquisition_scores_refresh(project_id=project_id).as_dict()


@shared_task(ignore_result=True)
def acquisition_priorities_apply(project_id: int) -> int:
    """After a change of strategy: re-order the queue from the stored figures (no model needed)."""
    return acquisition.acquisition_priorities_apply(project_id=project_id)


# --- quality control (issue 15) -------------------------------------------------------------------


@shared_task(ignore_result=True, acks_late=True)
def completion_scores_refresh(version_id: int) -> int:
    """Score the ranked completions with a just-activated version (model agreement reads them)."""
    from rewardtrain.services.quality import completion_scores_refresh as refresh

    return refresh(version_id=version_id)
