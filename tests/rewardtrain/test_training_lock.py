"""The one-run-per-project lock under real concurrency (PostgreSQL: row locks and parallel connections)."""

from __future__ import annotations

import os

import pytest

from rewardtrain.models import TrainingRun
from rewardtrain.services import training
from tests.rewardtrain.training_helpers import TINY_CONFIG

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL: set DATABASE_URL"
    ),
]


def test_one_run_per_project_holds_across_concurrent_starts(transactional_db, annotator):
    """Two processes' worth of starts at once: the row lock and the partial index let exactly one through."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from tests.rewardtrain.training_helpers import learnable_project

    project = learnable_project(annotator, "unused-model", name="Race", rankings=2)

    def start(_: int) -> str:
        try:
            training.training_run_start(project=project, overrides=TINY_CONFIG, dispatch=False)
            return "started"
        except training.TrainingRunConflict:
            return "conflict"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(start, range(8)))
    assert outcomes.count("started") == 1 and outcomes.count("conflict") == 7
    assert TrainingRun.objects.filter(project=project).count() == 1
