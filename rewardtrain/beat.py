"""Beat's scheduler: django_celery_beat's ``DatabaseScheduler`` that also reaps dead training runs.

    celery -A config beat          # CELERY_BEAT_SCHEDULER = "rewardtrain.beat:Scheduler"

The reaper used to run only as a task on a worker, so with no worker alive a dead run stayed
``running`` and blocked its project. Beat is the one process every deployment runs exactly once;
it now calls ``training_runs_reap`` itself every ``TRAINING_HEARTBEAT_SECONDS``, so a run whose
worker died is failed within a few heartbeats whether or not any worker is up.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)


class Scheduler(DatabaseScheduler):
    """The database schedule, plus the training-run reaper on every heartbeat."""

    _next_reap = 0.0

    def tick(self, *args, **kwargs) -> float:
        interval = super().tick(*args, **kwargs)
        every = max(settings.TRAINING_HEARTBEAT_SECONDS, 1.0)
        if time.monotonic() >= self._next_reap:
            self._next_reap = time.monotonic() + every
            self.reap()
        return min(interval, every)

    def reap(self) -> list[int]:
        from rewardtrain.services.training import training_runs_reap

        close_old_connections()  # a database restart must not leave beat on a dead connection
        try:
            return training_runs_reap()
        except Exception:  # the database is down: the next tick tries again
            logger.exception("could not reap training runs")
            return []
