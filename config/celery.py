"""The Celery app. Workers: ``celery -A config worker -Q default`` (CPU work) and
``celery -A config worker -Q training --concurrency 1`` (GPU nodes); ``celery -A config beat``."""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rankforge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def _beat_sends_to_the_broker(sender, **kwargs) -> None:
    """Without Redis, tasks run eagerly in the calling process; beat must still hand its entries to
    the worker (through the filesystem broker under var/), not run them itself."""
    sender.app.conf.task_always_eager = False
