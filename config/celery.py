"""The Celery app. Workers: ``celery -A config worker -Q default`` (CPU work) and
``celery -A config worker -Q training --concurrency 1`` (GPU nodes); ``celery -A config beat``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rankforge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
