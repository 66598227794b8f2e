"""No training run is left behind (issue 13): the broker down at start, a run no worker takes, a
worker killed mid-run with no worker left to reap it, and expansion retried over database errors."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from annotate.models import Project
from rewardtrain import tasks as rewardtrain_tasks
from rewardtrain.models import Comparison, TrainingRun
from tests.rewardtrain.test_training_api import runs_url
from tests.rewardtrain.training_helpers import add_rankings


@pytest.fixture
def ranked(project, annotator) -> Project:
    add_rankings(project, annotator, 3)
    return project


DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


@contextmanager
def broker_down():
    """Celery's producer pointed at a broker that refuses connections, as when Redis is down."""
    from config.celery import app

    saved = app.conf.broker_url, app.conf.broker_write_url
    app.conf.broker_url, app.conf.broker_write_url = DEAD_BROKER, None
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_write_url = saved
        app._pool = None
        app.amqp._producer_pool = None


@pytest.mark.django_db(transaction=True)  # the dispatch runs when the start really commits
def test_a_start_with_the_broker_down_answers_503_and_leaves_no_run_blocking(admin_client_api, ranked, settings):
    settings.TRAINING_DISPATCH = "broker"
    with broker_down():
        answer = admin_client_api.post(runs_url(ranked), {}, format="json")
    assert answer.status_code == 503, answer.content
    assert answer["Retry-After"] and "broker" in answer.json()["detail"]
    run = TrainingRun.objects.get(project=ranked)
    assert run.state == "failed" and "could not hand the run to a worker" in run.error

    settings.TRAINING_DISPATCH = "poll"  # the broker is back (poll: nothing needs a worker here)
    again = admin_client_api.post(runs_url(ranked), {}, format="json")
    assert again.status_code == 201, again.json()  # not 409: the refused run blocks nothing


@pytest.mark.django_db(transaction=True)
def test_in_poll_mode_a_refused_message_leaves_the_run_queued_for_the_worker_tick(admin_client_api, ranked, settings):
    settings.TRAINING_DISPATCH = "poll"
    with broker_down():
        answer = admin_client_api.post(runs_url(ranked), {}, format="json")
    assert answer.status_code == 201 and answer.json()["state"] == "queued"


def test_a_queued_run_no_worker_took_is_failed_with_the_reason(admin_client_api, ranked, settings):
    settings.TRAINING_DISPATCH = "poll"
    run = admin_client_api.post(runs_url(ranked), {}, format="json").json()
    TrainingRun.objects.filter(pk=run["id"]).update(created_at=timezone.now() - timedelta(hours=2))
    listing = admin_client_api.get(runs_url(ranked)).json()  # showing the runs reaps them
    [shown] = listing["results"]
    assert shown["state"] == "failed" and "no worker took the run" in shown["error"]
    assert "TRAINING_QUEUED_TIMEOUT_SECONDS" in shown["error"]
    assert admin_client_api.post(runs_url(ranked), {}, format="json").status_code == 201


def stale_running_run(project: Project) -> TrainingRun:
    long_ago = timezone.now() - timedelta(seconds=django_settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS + 5)
    return TrainingRun.objects.create(
        project=project, state="running", started_at=long_ago, heartbeat_at=long_ago, host="gone", pid=4242
    )


def test_a_dead_run_does_not_block_the_next_start(admin_client_api, ranked, settings):
    settings.TRAINING_DISPATCH = "poll"
    dead = stale_running_run(ranked)
    answer = admin_client_api.post(runs_url(ranked), {}, format="json")
    assert answer.status_code == 201, answer.json()
    dead.refresh_from_db()
    assert dead.state == "failed" and "presumed dead" in dead.error


def test_a_dead_run_is_not_shown_as_running(admin_client_api, ranked):
    dead = stale_running_run(ranked)
    detail = admin_client_api.get(reverse("api-training-run", args=[dead.pk])).json()
    assert detail["state"] == "failed" and "presumed dead" in detail["error"]


@pytest.mark.django_db(transaction=True)  # beat closes and reopens its connections, as in production
def test_beat_reaps_dead_runs_itself_with_no_worker_alive(ranked):
    """The scheduler's tick calls the reaper: no task has to reach a worker for it."""
    from config.celery import app
    from rewardtrain.beat import Scheduler

    dead = stale_running_run(ranked)
    scheduler = Scheduler(app=app, lazy=True)
    scheduler.tick()
    dead.refresh_from_db()
    assert dead.state == "failed" and "presumed dead" in dead.error


def test_a_dead_worker_is_detected_within_a_few_heartbeats():
    beats = django_settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS / django_settings.TRAINING_HEARTBEAT_SECONDS
    assert beats <= 5 and django_settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS <= 30


def test_expansion_is_acked_late_and_put_back_when_its_worker_dies():
    for task in (
        rewardtrain_tasks.comparisons_expand_ranking,
        rewardtrain_tasks.comparisons_expand_rankings,
        rewardtrain_tasks.comparisons_expand_all,
    ):
        assert task.acks_late and task.reject_on_worker_lost, task.name


def test_expansion_retries_a_database_error_and_catches_up(project, annotator, monkeypatch):
    rankings = add_rankings(project, annotator, 2)
    real = rewardtrain_tasks.comparisons_expand
    failures = []

    def flaky(**kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")  # a database restart
        return real(**kwargs)

    monkeypatch.setattr(rewardtrain_tasks, "comparisons_expand", flaky)
    result = rewardtrain_tasks.comparisons_expand_rankings.apply(
        args=[[ranking.pk for ranking in rankings]], throw=False
    )
    assert result.successful(), result.traceback
    assert failures == [1] and Comparison.objects.filter(ranking__in=rankings).count() == 2 * 6
