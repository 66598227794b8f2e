"""The real thing: a Celery worker subprocess on Redis, PostgreSQL, and the beat tasks.

Needs REDIS_URL and a PostgreSQL DATABASE_URL (the worker must reach pytest's test database,
which an in-memory SQLite database cannot offer); skipped otherwise. CI runs it with both.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from annotate.models import Completion, Project, Prompt
from rewardtrain.models import Comparison, ModelVersion, TrainingRun
from rewardtrain.services import training
from rewardtrain.tasks import comparisons_expand_all, training_runs_reap, training_schedule_check
from tests.core.conftest import BAD, GOOD, WORDS
from tests.rewardtrain.training_helpers import TINY_CONFIG, build_tiny_encoder

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a real Redis broker: set REDIS_URL"),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the worker subprocess must share the test database: set DATABASE_URL to PostgreSQL",
    ),
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder")))


def worker_database_url() -> str:
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def start_worker(transactional_db, settings, tmp_path) -> Iterator[Callable[[], subprocess.Popen]]:
    """start_worker() -> a `celery -A config worker -Q default,training` on the test database."""
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.TRAINING_DISPATCH = "broker"
    from config.celery import app

    app.control.purge()  # nothing left over from an earlier run on this Redis database
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "ARTIFACT_DIR": str(settings.ARTIFACT_DIR),
        "TRAINING_DISPATCH": "broker",
        "TRAINING_HEARTBEAT_SECONDS": "0.5",
        "TRAINING_PROGRESS_SECONDS": "0",
        "RANKFORGE_TESTING": "1",
        "VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("TEST_DATABASE_NAME", None)
    env.pop("PYTEST_VERSION", None)
    workers: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,training", "--concurrency", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
            "--loglevel", "INFO",
        ]  # fmt: skip
        log = open(tmp_path / f"worker-{len(workers)}.log", "w")  # noqa: SIM115 - closed with the process
        worker = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
    for log in sorted(tmp_path.glob("worker-*.log")):
        print(f"--- {log.name}\n{log.read_text()[-4000:]}")


def wait_for(condition: Callable[[], object], timeout: float = 120, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what or condition}")


def learnable_prompts(project: Project, count: int, k: int = 4) -> None:
    rng = random.Random(1)
    for n in range(count):
        prompt = Prompt.objects.create(project=project, text=f"prompt {n} {rng.choice(WORDS)}")
        qualities = list(range(k))
        rng.shuffle(qualities)
        Completion.objects.bulk_create(
            Completion(prompt=prompt, position=i, text=" ".join([rng.choice(WORDS), *[GOOD] * q, *[BAD] * (k - q)]))
            for i, q in enumerate(qualities)
        )


def test_rankings_submitted_through_the_api_end_in_an_active_model_that_scores(
    start_worker, tiny_model, annotator, annotator_client, admin_client_api
):
    project = Project.objects.create(
        name="Worker", base_model=tiny_model, rankings_per_prompt=1, retrain_after_rankings=8
    )
    project.annotators.add(annotator)
    learnable_prompts(project, 8)
    start_worker()
    for _ in range(8):
        task = annotator_client.get(f"/api/v1/projects/{project.pk}/tasks/next").json()
        best_first = sorted(task["completions"], key=lambda c: -c["text"].count(GOOD))
        order = [[completion["id"]] for completion in best_first]
        url = f"/api/v1/assignments/{task['assignment_id']}/ranking"
        response = annotator_client.post(url, {"order": order}, format="json")
        assert response.status_code == 201, response.json()
    # The after-submit hook's tasks ran on the worker; the beat task mops up anything left.
    comparisons_expand_all.delay()
    wait_for(lambda: Comparison.objects.filter(project_id=project.pk).count() == 8 * 6, what="expanded comparisons")

    # The beat's schedule check, through the broker, starts a run; the training queue runs it.
    training_schedule_check.delay()
    run = wait_for(lambda: TrainingRun.objects.filter(project=project).first(), what="a scheduled run")
    assert run.trigger == TrainingRun.Trigger.RANKINGS
    wait_for(
        lambda: TrainingRun.objects.get(pk=run.pk).state in ("succeeded", "failed", "cancelled"),
        timeout=300,
        what="the run to finish",
    )
    run.refresh_from_db()
    assert run.state == TrainingRun.State.SUCCEEDED, run.error
    assert run.pid and run.host and run.progress
    version = ModelVersion.objects.get(run=run)
    assert version.is_active
    response = admin_client_api.post(
        f"/api/v1/projects/{project.pk}/score",
        {"items": [{"prompt": "p", "completions": ["great great", "awful awful"]}]},
        format="json",
    )
    assert response.status_code == 200 and response.json()["model_version"] == version.version


def test_a_killed_worker_leaves_a_failed_run_and_the_next_run_starts_normally(
    start_worker, tiny_model, annotator, settings
):
    from tests.rewardtrain.training_helpers import learnable_project

    project = learnable_project(annotator, tiny_model, name="Killed")
    worker = start_worker()
    long_config = {**TINY_CONFIG, "epochs": 400}
    run = training.training_run_start(project=project, overrides=long_config)
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).step >= 2, timeout=180, what="training to be under way")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    run.refresh_from_db()
    assert run.state == TrainingRun.State.RUNNING  # nobody said otherwise yet

    settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS = 2
    time.sleep(3)
    training_runs_reap()  # the beat's minute tick, called here
    run.refresh_from_db()
    assert run.state == TrainingRun.State.FAILED and "presumed dead" in run.error
    assert not ModelVersion.objects.exists()
    artifacts = Path(settings.ARTIFACT_DIR) / str(project.pk)
    assert not artifacts.exists() or not any(artifacts.iterdir())  # nothing half-written left, nothing registered

    settings.TRAINING_FAILED_BACKOFF_SECONDS = 0
    Project.objects.filter(pk=project.pk).update(retrain_after_rankings=1)
    start_worker()
    [next_run] = training.training_schedule_check()
    wait_for(
        lambda: TrainingRun.objects.get(pk=next_run.pk).state in ("succeeded", "failed"), timeout=300, what="next run"
    )
    next_run.refresh_from_db()
    assert next_run.state == TrainingRun.State.SUCCEEDED, next_run.error
    assert ModelVersion.objects.get().run_id == next_run.pk


@pytest.mark.parametrize("mode", ["broker", "poll"])
def test_a_run_queued_while_a_worker_is_idle_starts_within_seconds(start_worker, tiny_model, annotator, settings, mode):
    """Poll mode (``make up`` without Redis) used to leave the run for the worker's minute tick (≈ 51 s
    queued, nothing in the worker log); its message now goes through the broker as well."""
    from config.celery import app
    from tests.rewardtrain.training_helpers import learnable_project

    project = learnable_project(annotator, tiny_model, name=f"Idle {mode}")
    start_worker()
    assert wait_for(lambda: app.control.ping(timeout=0.5), timeout=60, what="the worker to be up")
    settings.TRAINING_DISPATCH = mode
    run = training.training_run_start(project=project, overrides=TINY_CONFIG)
    started = time.monotonic()
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).state != "queued", timeout=15, what="the run to start")
    assert time.monotonic() - started < 15
