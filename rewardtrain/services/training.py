"""Training runs: start, execute, cancel, retry, reap the dead, and start runs on schedule.

A run's life, and who moves it along::

    queued --(worker claims it)--> running --> succeeded | failed | cancelled
      |\\--(cancel)--> cancelled       \\--(no heartbeat for a few beats: reaper)--> failed
      |\\--(the broker refused the message: the caller gets 503)--> failed
       \\--(no worker took it within TRAINING_QUEUED_TIMEOUT_SECONDS: reaper)--> failed

1. **One run per project at a time, in the database.** ``training_run_start`` locks the project row
   (``select_for_update``) and inserts the run; a partial unique index on ``(project)`` where the
   state is queued or running refuses a second one even if two callers race past the check.
2. **Claimed with a conditional update.** ``training_run_execute`` moves the run queued -> running
   in one ``UPDATE ... WHERE state = 'queued'``; a duplicate message or a second worker updates
   nothing and returns.
3. **Heartbeat.** While a run executes, a thread writes ``heartbeat_at`` every
   ``TRAINING_HEARTBEAT_SECONDS`` (progress writes beat too). A worker killed with SIGKILL stops
   beating; ``training_runs_reap`` marks such runs failed, which frees the project for its next run.
   Any process that is up reaps: beat's scheduler every heartbeat (``rewardtrain.beat``), a start of
   the project's next run, and the API and page that show runs; no worker needs to be alive for it.
   A queued run no worker took within ``TRAINING_QUEUED_TIMEOUT_SECONDS`` is reaped the same way.
4. **Only finished artifacts are registered.** The core builds the artifact in a hidden directory and
   renames it into place; the run registers a ModelVersion only after ``train`` returned and only
   if the run is still ``running`` (a reaped run registers nothing). The reaper deletes leftovers.
5. **Data.** A run trains on the project's rankings with ``id <= ranking_watermark`` (fixed when it
   is queued); each ranking is one record, so several rankings of one prompt stay separate records,
   while the train/eval split is by prompt (``split_by_prompt``, seeded by the config's seed). With
   reliability weighting each record weighs its annotator's reliability. What it trained on is
   recorded in ``data["lineage"]`` (``rewardtrain.services.lineage``): the ranking ids, their content
   hash, counts per source and the weights, so ``export --model-version`` gives back the same bytes.

Example::

    from rewardtrain.services.training import training_run_start, training_run_execute

    run = training_run_start(project=project, requested_by=admin, overrides={"epochs": 1})
    training_run_execute(run_id=run.pk)   # what the `training` queue's worker does
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from annotate.models import Completion, Project, Ranking
from rewardtrain.models import TrainingRun

logger = logging.getLogger(__name__)

# Fields of TrainConfig that an admin may override per run; the rest follow the recipe's defaults.
OVERRIDABLE = {
    "model", "mode", "epochs", "lr", "prompts_per_batch", "gradient_accumulation_steps", "max_length", "seed",
    "eval_fraction", "device", "bf16", "lora", "center_rewards_coefficient", "margin_by_rank_gap", "eval_every_steps",
    "freeze_layers", "min_lr_ratio", "warmup_ratio", "pairs_per_batch",
}  # fmt: skip
MAX_PROGRESS_POINTS = 400  # older points are thinned so the row stays small on long runs


class TrainingDispatchFailed(Exception):
    """The run could not be handed to a worker (the broker is down); it was marked failed, with the reason."""


class TrainingRunConflict(Exception):
    """The project already has a queued or running run (or the run is not in a state that allows this)."""

    def __init__(self, message: str, run: TrainingRun | None = None) -> None:
        super().__init__(message)
        self.run = run


# --- starting -------------------------------------------------------------------------------------


def training_config_build(*, project: Project, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The TrainConfig (as a dict) for a run of ``project``: recipe defaults, the project's base model,
    then ``overrides``. Raises ValidationError on an unknown field or a bad value."""
    from rewardtrain.core.config import TrainConfig

    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - OVERRIDABLE)
    if unknown:
        raise ValidationError({"config": f"unknown or fixed setting {unknown[0]!r}; allowed: {sorted(OVERRIDABLE)}"})
    values = TrainConfig().to_dict()
    if project.base_model:
        values["model"] = project.base_model
    values.update({key: value for key, value in overrides.items() if value not in (None, "")})
    try:
        return TrainConfig.from_dict(values).to_dict()
    except (TypeError, ValueError) as error:
        raise ValidationError({"config": str(error)}) from error


def project_ranking_watermark(*, project: Project) -> int | None:
    return Ranking.objects.filter(prompt__project=project).aggregate(top=Max("id"))["top"]


def training_run_start(
    *,
    project: Project,
    requested_by=None,
    overrides: dict[str, Any] | None = None,
    trigger: str = TrainingRun.Trigger.MANUAL,
    config: dict[str, Any] | None = None,
    ranking_watermark: int | None = None,
    retry_of: TrainingRun | None = None,
    dispatch: bool = True,
    weighting: str | None = None,
) -> TrainingRun:
    """Queue a run of ``project`` on its rankings so far, and dispatch it after commit (unless the
    caller executes it itself: ``dispatch=False``).

    ``weighting`` ("none" or "reliability": each ranking weighs its annotator's reliability) defaults
    to the project's ``reliability_weighting``. Raises TrainingRunConflict when the project already has a
    queued or running run, ValidationError when the project has no rankings or the overrides are bad, and
    (after commit) TrainingDispatchFailed when the broker refused the run: it is then failed, not left queued.
    """
    if weighting not in (None, "none", "reliability"):
        raise ValidationError({"weighting": f"must be none or reliability, got {weighting!r}"})
    if config is None:
        config = training_config_build(project=project, overrides=overrides)
    training_runs_reap(project=project)  # a dead run must not block this start
    with transaction.atomic():
        # The lock makes concurrent starts of one project wait here, then see each other's run.
        Project.objects.select_for_update().get(pk=project.pk)
        active = TrainingRun.objects.filter(project=project, state__in=TrainingRun.ACTIVE_STATES).first()
        if active is not None:
            raise TrainingRunConflict(f"project already has a {active.state} training run ({active.pk})", active)
        if ranking_watermark is None:
            ranking_watermark = project_ranking_watermark(project=project)
        if ranking_watermark is None:
            raise ValidationError("the project has no rankings to train on yet")
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    project=project,
                    requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
                    trigger=trigger,
                    config=config,
                    ranking_watermark=ranking_watermark,
                    retry_of=retry_of,
                    data={"weighting": weighting or ("reliability" if project.reliability_weighting else "none")},
                )
        except IntegrityError as error:  # the partial unique index: another start won the race
            raise TrainingRunConflict("project already has a queued or running training run") from error
        if dispatch:
            transaction.on_commit(lambda: training_run_dispatch(run_id=run.pk))
    return run


def training_run_dispatch(*, run_id: int) -> None:
    """Hand a queued run to a worker as TRAINING_DISPATCH says (see config/settings.py).

    ``broker``: a message to the ``training`` queue; if the broker refuses it, the run is failed with
    the reason and TrainingDispatchFailed raised, so nothing stays queued that no worker will see.
    ``poll``: the same message, sent through the broker even where other tasks run eagerly (the
    file broker of ``make up``), so an idle worker starts the run within seconds; if that fails the
    run stays queued for the worker's tick (``training_runs_dispatch_pending``).
    ``inline``: executed here, in the caller.
    """
    mode = settings.TRAINING_DISPATCH
    if mode == "inline":
        training_run_execute(run_id=run_id)
        return
    from celery import current_app
    from celery.exceptions import AlwaysEagerIgnored

    try:
        with warnings.catch_warnings():  # poll mode sends through the broker on purpose, eager or not
            warnings.simplefilter("ignore", AlwaysEagerIgnored)
            current_app.send_task("rewardtrain.tasks.training_run_execute", args=[run_id])
    except Exception as error:  # kombu's OperationalError, or whatever the transport raises
        if mode == "poll":
            logger.warning("training run %s stays queued for the worker's tick: %s", run_id, error)
            return
        reason = f"could not hand the run to a worker: the broker refused it ({error})"
        _fail_queued(run_id, reason)
        raise TrainingDispatchFailed(reason) from error


def _fail_queued(run_id: int, reason: str, **conditions: Any) -> bool:
    """Fail a run that is still queued (and meets ``conditions``), with the reason in its error."""
    failed = TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.QUEUED, **conditions).update(
        state=TrainingRun.State.FAILED, finished_at=timezone.now(), error=reason
    )
    if failed:
        logger.warning("training run %s: %s", run_id, reason)
    return bool(failed)


def training_runs_dispatch_pending() -> list[int]:
    """In ``poll`` mode, execute queued runs here (the worker), oldest first; returns their ids."""
    if settings.TRAINING_DISPATCH != "poll":
        return []
    executed = []
    queued = TrainingRun.objects.filter(state=TrainingRun.State.QUEUED).order_by("id")
    for run_id in queued.values_list("id", flat=True):
        if training_run_execute(run_id=run_id) is not None:
            executed.append(run_id)
    return executed


def training_run_retry(*, run: TrainingRun, requested_by=None) -> TrainingRun:
    """A fresh queued run with the same config and data as a finished ``run`` (a clean restart)."""
    if run.is_active:
        raise TrainingRunConflict(f"run {run.pk} is still {run.state}; cancel it first", run)
    return training_run_start(
        project=run.project,
        requested_by=requested_by,
        config=run.config,
        ranking_watermark=run.ranking_watermark,
        weighting=run.data.get("weighting"),
        trigger=TrainingRun.Trigger.RETRY,
        retry_of=run,
    )


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Cancel a queued run at once; ask a running one to stop (it stops at its next step)."""
    now = timezone.now()
    if TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.QUEUED).update(
        state=TrainingRun.State.CANCELLED, cancel_requested=True, finished_at=now, error="cancelled before it started"
    ):
        run.refresh_from_db()
        return run
    if not TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.RUNNING).update(cancel_requested=True):
        run.refresh_from_db()
        raise TrainingRunConflict(f"run {run.pk} already {run.state}", run)
    run.refresh_from_db()
    return run


# --- data -----------------------------------------------------------------------------------------


def ranked_records(
    *,
    project: Project,
    up_to_ranking_id: int | None = None,
    ranking_ids: Collection[int] | None = None,
    weights: Mapping[int, float] | None = None,
) -> Iterator[tuple[int, Any]]:
    """(prompt id, RankedRecord) for each ranking of ``project`` with id <= ``up_to_ranking_id`` (or with
    an id in ``ranking_ids``), in id order.

    Completions are listed in their imported position; ``order`` holds indices into that list,
    tie groups kept as groups. ``weights`` (annotator id -> weight) sets each record's weight;
    annotators it does not name weigh 1. Read in chunks so memory stays flat on big projects.
    """
    from rewardtrain.core.data import RankedRecord

    rankings = Ranking.objects.filter(prompt__project=project).select_related("prompt").order_by("id")
    if up_to_ranking_id is not None:
        rankings = rankings.filter(id__lte=up_to_ranking_id)
    if ranking_ids is not None:
        rankings = rankings.filter(id__in=list(ranking_ids))
    batch: list[Ranking] = []

    def flush() -> Iterator[tuple[int, Any]]:
        ids = {completion_id for ranking in batch for group in ranking.order for completion_id in group}
        completions = {
            completion.pk: completion
            for completion in Completion.objects.filter(pk__in=ids).only("id", "text", "position")
        }
        for ranking in batch:
            ranked = sorted(
                (completion_id for group in ranking.order for completion_id in group),
                key=lambda completion_id: (completions[completion_id].position, completion_id),
            )
            index = {completion_id: n for n, completion_id in enumerate(ranked)}
            yield (
                ranking.prompt_id,
                RankedRecord(
                    prompt=ranking.prompt.text,
                    context=list(ranking.prompt.context or []),
                    completions=[completions[completion_id].text for completion_id in ranked],
                    order=[[index[completion_id] for completion_id in group] for group in ranking.order],
                    id=f"ranking-{ranking.pk}",
                    weight=1.0 if weights is None else weights.get(ranking.annotator_id, 1.0),
                ),
            )

    for ranking in rankings.iterator(chunk_size=500):
        batch.append(ranking)
        if len(batch) == 500:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def split_records(records: list[Any], *, eval_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Train/eval split by prompt, deterministic for a seed (the core's rule, shared with the CLI)."""
    from rewardtrain.core.data import split_by_prompt

    return split_by_prompt(records, eval_fraction, seed)


# --- executing ------------------------------------------------------------------------------------


def run_artifact_dir(run: TrainingRun) -> Path:
    return Path(settings.ARTIFACT_DIR) / str(run.project_id) / str(run.pk)


def remove_partial_artifacts(run: TrainingRun) -> None:
    """Delete what a killed run left beside its artifact (the core's hidden ``.<run>.partial-*`` dirs)."""
    parent = run_artifact_dir(run).parent
    if parent.is_dir():
        for leftover in parent.glob(f".{run.pk}.*"):
            shutil.rmtree(leftover, ignore_errors=True)


class _Heartbeat(threading.Thread):
    """Beats for a running run from its own thread, so a long step or model load never looks dead."""

    def __init__(self, run_id: int, interval: float) -> None:
        super().__init__(name=f"training-run-{run_id}-heartbeat", daemon=True)
        self.run_id, self.interval, self.stopped = run_id, interval, threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    TrainingRun.objects.filter(pk=self.run_id, state=TrainingRun.State.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a busy database must not end the run; the next beat retries
                    logger.warning("heartbeat of training run %s failed", self.run_id, exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


class _RunReporter:
    """``on_progress`` and ``should_stop`` for the core: throttled writes to the run's row."""

    def __init__(self, run: TrainingRun, echo: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.run = run
        self.echo = echo
        self.points: list[dict[str, Any]] = []
        self.last_write = 0.0
        self.last_check = 0.0
        self.stop = False

    def on_progress(self, point: dict[str, Any]) -> None:
        if self.echo is not None:
            self.echo(point)
        point = {**point, "at": timezone.now().isoformat(timespec="seconds")}
        if point.get("eval") is None:
            point.pop("eval", None)
        self.points.append(point)
        final = point["step"] >= point["total_steps"]
        recent = time.monotonic() - self.last_write < settings.TRAINING_PROGRESS_SECONDS
        if recent and not final and "eval" not in point:
            return
        self.last_write = time.monotonic()
        if len(self.points) > MAX_PROGRESS_POINTS:  # keep every other old point, all evaluations, the newest
            keep = self.points[: -MAX_PROGRESS_POINTS // 2]
            self.points = [p for n, p in enumerate(keep) if n % 2 == 0 or "eval" in p] + self.points[len(keep) :]
        updated = TrainingRun.objects.filter(pk=self.run.pk, state=TrainingRun.State.RUNNING).update(
            step=point["step"], total_steps=point["total_steps"], progress=self.points, heartbeat_at=timezone.now()
        )
        if not updated:  # reaped or otherwise taken from us: stop at the next step
            self.stop = True

    def should_stop(self) -> bool:
        if self.stop:
            return True
        if time.monotonic() - self.last_check >= 1.0:
            self.last_check = time.monotonic()
            state = TrainingRun.objects.filter(pk=self.run.pk).values_list("state", "cancel_requested").first()
            self.stop = state is None or state[0] != TrainingRun.State.RUNNING or state[1]
        return self.stop


def _claim(run_id: int) -> bool:
    now = timezone.now()
    return bool(
        TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.QUEUED, cancel_requested=False).update(
            state=TrainingRun.State.RUNNING,
            started_at=now,
            heartbeat_at=now,
            host=socket.gethostname()[:255],
            pid=os.getpid(),
        )
    )


def _finish(run_id: int, state: str, **fields: Any) -> bool:
    return bool(
        TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.RUNNING).update(
            state=state, finished_at=timezone.now(), **fields
        )
    )


def training_run_execute(
    *, run_id: int, on_progress: Callable[[dict[str, Any]], None] | None = None
) -> TrainingRun | None:
    """Claim a queued run, train it, register (and maybe promote) its model. None if not claimable.

    ``on_progress`` also gets every progress point (the foreground command prints them).
    Never raises for a training failure: the run ends ``failed`` with the traceback in ``error``.
    """
    if not _claim(run_id):
        logger.info("training run %s is not queued (taken, cancelled or gone); nothing to do", run_id)
        return None
    run = TrainingRun.objects.select_related("project").get(pk=run_id)
    heartbeat = None
    if settings.TRAINING_HEARTBEAT_SECONDS > 0:
        heartbeat = _Heartbeat(run_id, settings.TRAINING_HEARTBEAT_SECONDS)
        heartbeat.start()
    try:
        _execute_claimed(run, on_progress)
    except Exception as error:
        from rewardtrain.core.train import TrainingCancelled

        if isinstance(error, TrainingCancelled):
            _finish(run_id, TrainingRun.State.CANCELLED, error=str(error))
        else:
            logger.exception("training run %s failed", run_id)
            _finish(run_id, TrainingRun.State.FAILED, error=traceback.format_exc()[-20_000:])
        remove_partial_artifacts(run)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
    run.refresh_from_db()
    return run


def _execute_claimed(run: TrainingRun, on_progress: Callable[[dict[str, Any]], None] | None) -> None:
    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.model import resolve_device
    from rewardtrain.core.train import train
    from rewardtrain.services.lineage import dataset_lineage
    from rewardtrain.services.quality import annotator_reliability
    from rewardtrain.services.registry import model_version_register

    config = TrainConfig.from_dict(run.config)
    weighting = run.data.get("weighting", "none")
    weights = annotator_reliability(project=run.project) if weighting == "reliability" else None
    pairs = list(ranked_records(project=run.project, up_to_ranking_id=run.ranking_watermark or 0, weights=weights))
    records = [record for _, record in pairs]
    train_records, eval_records = split_records(records, eval_fraction=config.eval_fraction, seed=config.seed)
    eval_prompt_ids = sorted({prompt_id for prompt_id, record in pairs if record in eval_records})
    data = {
        "weighting": weighting,
        "lineage": dataset_lineage(
            records=records, train_records=train_records, eval_records=eval_records, weights=weights
        ),
        "ranking_watermark": run.ranking_watermark,
        "rankings": len(records),
        "prompts": len({prompt_id for prompt_id, _ in pairs}),
        "train_records": len(train_records),
        "eval_records": len(eval_records),
        "eval_prompt_ids": eval_prompt_ids,
        "split": {"by": "prompt", "seed": config.seed, "eval_fraction": config.eval_fraction},
    }
    TrainingRun.objects.filter(pk=run.pk).update(data=data, device=str(resolve_device(config.device)))
    if not train_records:
        raise ValueError(f"nothing to train on: {len(records)} rankings, all held out or none yet")

    reporter = _RunReporter(run, echo=on_progress)
    result = train(
        config,
        train_records,
        eval_records,
        out_dir=run_artifact_dir(run),
        on_progress=reporter.on_progress,
        should_stop=reporter.should_stop,
        data_manifest={"project_id": run.project_id, "run_id": run.pk, **data},
    )
    run.artifact_path = str(result.out_dir)

    def finish_run() -> bool:
        return _finish(
            run.pk,
            TrainingRun.State.SUCCEEDED,
            artifact_path=run.artifact_path,
            metrics={"eval": result.metrics or {}, "train": result.train_stats},
            step=result.train_stats.get("steps", 0),
        )

    if model_version_register(run=run, eval_records=eval_records, finish_run=finish_run) is None:
        # Reaped (presumed dead) or cancelled while finishing: the artifact is not registered.
        logger.warning("training run %s finished but is no longer running; not registering it", run.pk)


# --- the beat's jobs ------------------------------------------------------------------------------


def training_runs_reap(*, project: Project | None = None, now: datetime | None = None) -> list[int]:
    """Fail the runs nobody will finish (of ``project``, or all); returns their ids.

    A running run whose heartbeat is older than TRAINING_HEARTBEAT_TIMEOUT_SECONDS (its worker was
    killed), and a queued run no worker took within TRAINING_QUEUED_TIMEOUT_SECONDS (no worker
    consumes the ``training`` queue, or its message was lost). Each update is conditional on what
    was seen, so a run that just beat, or was just claimed, is left alone.
    """
    now = now or timezone.now()
    runs = TrainingRun.objects.all() if project is None else TrainingRun.objects.filter(project=project)
    stale_before = now - timedelta(seconds=settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS)
    reaped = []
    for run in runs.filter(state=TrainingRun.State.RUNNING, heartbeat_at__lt=stale_before):
        message = (
            f"the worker ({run.host} pid {run.pid}) stopped sending heartbeats at "
            f"{run.heartbeat_at.isoformat(timespec='seconds')}; presumed dead"
        )
        if TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.RUNNING, heartbeat_at__lt=stale_before).update(
            state=TrainingRun.State.FAILED, finished_at=now, error=message
        ):
            remove_partial_artifacts(run)
            logger.warning("training run %s: %s", run.pk, message)
            reaped.append(run.pk)
    queued_timeout = settings.TRAINING_QUEUED_TIMEOUT_SECONDS
    if queued_timeout > 0:
        queued_before = now - timedelta(seconds=queued_timeout)
        for run_id in runs.filter(state=TrainingRun.State.QUEUED, created_at__lt=queued_before).values_list(
            "pk", flat=True
        ):
            reason = (
                f"no worker took the run within {queued_timeout:g} s (TRAINING_QUEUED_TIMEOUT_SECONDS): "
                "is a worker consuming the `training` queue?"
            )
            if _fail_queued(run_id, reason, created_at__lt=queued_before):
                reaped.append(run_id)
    return reaped


def training_schedule_check(*, now: datetime | None = None) -> list[TrainingRun]:
    """Start runs that the projects' settings ask for; returns the runs started.

    A project is due when it has at least ``retrain_after_rankings`` rankings newer than its last
    succeeded run's watermark, or, with ``retrain_daily``, when its last run is a day old and
    anything new arrived. After a failed run the schedule waits TRAINING_FAILED_BACKOFF_SECONDS.
    """
    now = now or timezone.now()
    started = []
    projects = Project.objects.filter(retrain_after_rankings__gt=0) | Project.objects.filter(retrain_daily=True)
    for project in projects.distinct():
        if TrainingRun.objects.filter(project=project, state__in=TrainingRun.ACTIVE_STATES).exists():
            continue
        last = TrainingRun.objects.filter(project=project).order_by("-id").first()
        if (
            last is not None
            and last.state == TrainingRun.State.FAILED
            and last.finished_at
            and (now - last.finished_at).total_seconds() < settings.TRAINING_FAILED_BACKOFF_SECONDS
        ):
            continue
        last_good = TrainingRun.objects.filter(project=project, state=TrainingRun.State.SUCCEEDED).order_by("-id")
        watermark = last_good.values_list("ranking_watermark", flat=True).first() or 0
        new_rankings = Ranking.objects.filter(prompt__project=project, id__gt=watermark).count()
        trigger = None
        if project.retrain_after_rankings and new_rankings >= project.retrain_after_rankings:
            trigger = TrainingRun.Trigger.RANKINGS
        elif project.retrain_daily and new_rankings and (last is None or now - last.created_at >= timedelta(days=1)):
            trigger = TrainingRun.Trigger.DAILY
        if trigger is None:
            continue
        try:
            started.append(training_run_start(project=project, trigger=trigger))
        except (TrainingRunConflict, TrainingDispatchFailed, ValidationError) as error:
            logger.info("scheduled run of project %s not started: %s", project.pk, error)
    return started


def training_worker_tick() -> dict[str, list[int]]:
    """The minute tick: reap dead runs, then (poll mode) run what is queued and score the ranked
    completions with newly active versions (annotator quality's model agreement). Called by the beat task.

    Celery's Django fix-up already closes stale database connections around every task.
    """
    from rewardtrain.services.quality import completion_scores_refresh_pending

    reaped = training_runs_reap()
    executed = training_runs_dispatch_pending()
    scored = completion_scores_refresh_pending() if settings.TRAINING_DISPATCH == "poll" else []
    return {"reaped": reaped, "executed": executed, "scored": scored}
