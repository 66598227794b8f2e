"""Beat entries of rewardtrain, kept in django_celery_beat's tables (the DatabaseScheduler).

Each ``ensure_*`` function creates its entry or brings it back to the intended interval, and is run
after every ``migrate`` (``RewardtrainConfig.ready`` connects them to ``post_migrate``), so a fresh
database gets its schedule without a data migration. An admin may disable an entry; that is kept.
"""

from __future__ import annotations

from django_celery_beat.models import IntervalSchedule, PeriodicTask

COMPARISON_SCHEDULE_NAME = "rewardtrain: expand comparisons"
COMPARISON_INTERVAL_MINUTES = 2


def ensure_comparison_schedule() -> PeriodicTask:
    """Expand rankings that arrived without the after-submit hook (imports) every 2 minutes."""
    every, _ = IntervalSchedule.objects.get_or_create(
        every=COMPARISON_INTERVAL_MINUTES, period=IntervalSchedule.MINUTES
    )
    task, created = PeriodicTask.objects.get_or_create(
        name=COMPARISON_SCHEDULE_NAME,
        defaults={"task": "rewardtrain.tasks.comparisons_expand_all", "interval": every},
    )
    if not created and (task.task != "rewardtrain.tasks.comparisons_expand_all" or task.interval_id != every.pk):
        task.task = "rewardtrain.tasks.comparisons_expand_all"
        task.interval = every
        task.save(update_fields=["task", "interval"])
    return task


# --- training runs (issue 5) ----------------------------------------------------------------------

TRAINING_REAP_SCHEDULE_NAME = "rewardtrain: reap dead training runs"
TRAINING_CHECK_SCHEDULE_NAME = "rewardtrain: start scheduled training runs"
TRAINING_CHECK_INTERVAL_MINUTES = 5


def ensure_interval_task(*, name: str, task: str, every: int, period: str = IntervalSchedule.MINUTES) -> PeriodicTask:
    """Create the entry, or point it back at ``task`` every ``every`` ``period``; an admin's ``enabled`` is kept."""
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    entry, created = PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval})
    if not created and (entry.task != task or entry.interval_id != interval.pk):
        entry.task, entry.interval = task, interval
        entry.save(update_fields=["task", "interval"])
    return entry


def ensure_training_schedules() -> list[PeriodicTask]:
    """Reap dead runs every minute (in poll mode the same tick runs queued runs); check retraining every 5."""
    return [
        ensure_interval_task(name=TRAINING_REAP_SCHEDULE_NAME, task="rewardtrain.tasks.training_runs_reap", every=1),
        ensure_interval_task(
            name=TRAINING_CHECK_SCHEDULE_NAME,
            task="rewardtrain.tasks.training_schedule_check",
            every=TRAINING_CHECK_INTERVAL_MINUTES,
        ),
    ]
