"""Training runs through the service: start, the one-run lock, execute, cancel, retry, reap, schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotate.models import Project
from rewardtrain.models import CompletionScore, ModelVersion, TrainingRun
from rewardtrain.services import training
from tests.rewardtrain.training_helpers import TINY_CONFIG, add_rankings, learnable_project

pytestmark = pytest.mark.usefixtures("quick_training")


@pytest.fixture
def learnable(db, annotator, tiny_model) -> Project:
    return learnable_project(annotator, tiny_model)


def test_it_queues_a_run_with_the_project_base_model_and_the_ranking_watermark(learnable, admin_user):
    run = training.training_run_start(project=learnable, requested_by=admin_user, overrides={"epochs": 2})
    assert run.state == TrainingRun.State.QUEUED
    assert run.config["model"] == learnable.base_model
    assert run.config["epochs"] == 2
    assert run.ranking_watermark == training.project_ranking_watermark(project=learnable)


def test_it_refuses_a_second_run_while_one_is_queued(learnable):
    first = training.training_run_start(project=learnable)
    with pytest.raises(training.TrainingRunConflict) as error:
        training.training_run_start(project=learnable)
    assert error.value.run == first


def test_the_database_refuses_two_active_runs_of_one_project_even_without_the_service(learnable):
    TrainingRun.objects.create(project=learnable, state=TrainingRun.State.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(project=learnable, state=TrainingRun.State.QUEUED)


def test_it_rejects_unknown_config_overrides_and_projects_without_rankings(learnable, db):
    with pytest.raises(ValidationError):
        training.training_run_start(project=learnable, overrides={"bogus": 1})
    with pytest.raises(ValidationError):
        training.training_run_start(project=learnable, overrides={"epochs": 0})
    empty = Project.objects.create(name="Empty")
    with pytest.raises(ValidationError):
        training.training_run_start(project=empty)


def test_records_keep_ties_as_groups_and_several_rankings_of_a_prompt_as_separate_records(db, annotator, outsider):
    from tests.rewardtrain.ranking_factory import rank

    project = Project.objects.create(name="Ties", allow_ties=True)
    add_rankings(project, annotator, 1)
    prompt = project.prompts.get()
    rank(prompt, outsider, [[3], [1, 2], [0]])
    records = [record for _, record in training.ranked_records(project=project, up_to_ranking_id=10**9)]
    assert len(records) == 2
    texts = list(prompt.completions.order_by("position").values_list("text", flat=True))
    assert records[1].completions == texts
    assert records[1].order == [[3], [1, 2], [0]]


def test_a_run_trains_registers_and_activates_the_first_version(learnable, admin_user):
    run = training.training_run_start(project=learnable, requested_by=admin_user, overrides=TINY_CONFIG)
    run = training.training_run_execute(run_id=run.pk)
    assert run.state == TrainingRun.State.SUCCEEDED, run.error
    assert run.step == run.total_steps > 0
    assert run.progress and run.progress[-1]["step"] == run.total_steps
    assert run.data["rankings"] == 12 and run.data["eval_records"] == 3
    assert run.data["split"] == {"by": "prompt", "seed": 0, "eval_fraction": 0.25}
    assert run.host and run.pid and run.started_at and run.finished_at
    version = ModelVersion.objects.get(run=run)
    assert version.version == 1 and version.is_active
    assert version.metrics["pairwise_accuracy"] is not None
    assert len(version.metrics["calibration_bins"]) == 10
    assert version.promotion["promoted"] is True
    assert (run.metrics["eval"] or {}).get("pairwise_accuracy") is not None


def test_a_run_is_claimed_once(learnable):
    run = training.training_run_start(project=learnable, overrides=TINY_CONFIG)
    TrainingRun.objects.filter(pk=run.pk).update(state=TrainingRun.State.RUNNING)
    assert training.training_run_execute(run_id=run.pk) is None


def test_a_failing_run_ends_failed_with_its_error_and_registers_nothing(learnable):
    run = training.training_run_start(project=learnable, overrides={**TINY_CONFIG, "model": "/nonexistent/model"})
    run = training.training_run_execute(run_id=run.pk)
    assert run.state == TrainingRun.State.FAILED
    assert "nonexistent" in run.error
    assert not ModelVersion.objects.exists()


def test_cancel_stops_a_queued_run_at_once_and_a_running_one_at_its_next_step(learnable):
    queued = training.training_run_start(project=learnable, overrides=TINY_CONFIG)
    assert training.training_run_cancel(run=queued).state == TrainingRun.State.CANCELLED
    running = training.training_run_start(project=learnable, overrides=TINY_CONFIG)
    TrainingRun.objects.filter(pk=running.pk).update(state=TrainingRun.State.RUNNING)
    assert training.training_run_cancel(run=running).cancel_requested
    TrainingRun.objects.filter(pk=running.pk).update(state=TrainingRun.State.CANCELLED)
    with pytest.raises(training.TrainingRunConflict):
        training.training_run_cancel(run=running)


def test_a_cancel_requested_during_training_ends_the_run_cancelled_without_a_version(learnable, monkeypatch):
    run = training.training_run_start(project=learnable, overrides={**TINY_CONFIG, "epochs": 3})
    original = training._RunReporter.on_progress

    def cancel_after_first_step(reporter, point):
        original(reporter, point)
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        reporter.last_check = 0.0

    monkeypatch.setattr(training._RunReporter, "on_progress", cancel_after_first_step)
    run = training.training_run_execute(run_id=run.pk)
    assert run.state == TrainingRun.State.CANCELLED
    assert not ModelVersion.objects.exists()


def test_retry_queues_a_fresh_run_with_the_same_config_and_data(learnable):
    run = training.training_run_start(project=learnable, overrides=TINY_CONFIG)
    training.training_run_cancel(run=run)
    add_rankings(learnable, learnable.annotators.get(), 2, start=100)
    retry = training.training_run_retry(run=run)
    assert retry.pk != run.pk and retry.state == TrainingRun.State.QUEUED
    assert retry.config == run.config and retry.ranking_watermark == run.ranking_watermark
    assert retry.retry_of == run and retry.trigger == TrainingRun.Trigger.RETRY
    with pytest.raises(training.TrainingRunConflict):
        training.training_run_retry(run=retry)


def test_the_reaper_fails_runs_whose_heartbeat_stopped_and_removes_partial_artifacts(learnable, settings):
    run = training.training_run_start(project=learnable, overrides=TINY_CONFIG)
    stale = timezone.now() - timedelta(seconds=settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS + 5)
    TrainingRun.objects.filter(pk=run.pk).update(state=TrainingRun.State.RUNNING, heartbeat_at=stale, host="h", pid=7)
    partial = training.run_artifact_dir(run).parent / f".{run.pk}.partial-abc"
    partial.mkdir(parents=True)
    fresh_project = Project.objects.create(name="Alive")
    alive = TrainingRun.objects.create(
        project=fresh_project, state=TrainingRun.State.RUNNING, heartbeat_at=timezone.now()
    )
    assert training.training_runs_reap() == [run.pk]
    run.refresh_from_db()
    assert run.state == TrainingRun.State.FAILED and "presumed dead" in run.error
    assert not partial.exists()
    alive.refresh_from_db()
    assert alive.state == TrainingRun.State.RUNNING


def test_the_schedule_starts_a_run_after_enough_new_rankings_and_backs_off_after_a_failure(learnable, settings):
    Project.objects.filter(pk=learnable.pk).update(retrain_after_rankings=10)
    [run] = training.training_schedule_check()
    assert run.trigger == TrainingRun.Trigger.RANKINGS
    assert training.training_schedule_check() == []  # one at a time
    TrainingRun.objects.filter(pk=run.pk).update(state=TrainingRun.State.FAILED, finished_at=timezone.now())
    assert training.training_schedule_check() == []  # backing off
    later = timezone.now() + timedelta(seconds=settings.TRAINING_FAILED_BACKOFF_SECONDS + 1)
    assert len(training.training_schedule_check(now=later)) == 1


def test_the_schedule_waits_for_enough_rankings_since_the_last_succeeded_run(learnable):
    Project.objects.filter(pk=learnable.pk).update(retrain_after_rankings=5)
    TrainingRun.objects.create(
        project=learnable,
        state=TrainingRun.State.SUCCEEDED,
        ranking_watermark=training.project_ranking_watermark(project=learnable),
    )
    assert training.training_schedule_check() == []
    add_rankings(learnable, learnable.annotators.get(), 5, start=50)
    assert len(training.training_schedule_check()) == 1


def test_daily_retraining_starts_a_day_after_the_last_run_when_anything_new_arrived(learnable):
    Project.objects.filter(pk=learnable.pk).update(retrain_daily=True)
    assert len(training.training_schedule_check()) == 1  # never trained: due
    TrainingRun.objects.update(state=TrainingRun.State.SUCCEEDED)
    assert training.training_schedule_check() == []  # nothing new
    add_rankings(learnable, learnable.annotators.get(), 1, start=70)
    assert training.training_schedule_check() == []  # not a day yet
    tomorrow = timezone.now() + timedelta(days=1, minutes=1)
    [run] = training.training_schedule_check(now=tomorrow)
    assert run.trigger == TrainingRun.Trigger.DAILY


def test_poll_mode_runs_queued_runs_on_the_worker_tick(learnable):
    run = training.training_run_start(project=learnable, overrides=TINY_CONFIG)
    tick = training.training_worker_tick()
    run.refresh_from_db()
    assert run.state == TrainingRun.State.SUCCEEDED
    version_id = ModelVersion.objects.get(run=run).pk
    # The new active version then scores every ranked completion, for the annotators' model agreement.
    assert tick == {"reaped": [], "executed": [run.pk], "scored": [version_id]}
    assert CompletionScore.objects.filter(version_id=version_id).count() == 12 * 4
    from rewardtrain.services.quality import annotator_quality

    [quality] = annotator_quality(project=learnable)
    assert quality.model_rankings == 12 and quality.model_agreement is not None
    assert training.training_worker_tick() == {"reaped": [], "executed": [], "scored": []}
