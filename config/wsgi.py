"""WSGI entry point: ``granian --interface wsgi config.wsgi:application`` (or ``gunicorn config.wsgi``)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Load the URLs and views now rather than at the first request, then freeze: what is loaded by
# now (Django, DRF, Celery, the apps: ~70,000 objects) lives as long as the process, and frozen,
# the collector's full passes skip it. Measured in the annotator loop (bench/annotate_load.py):
# a full pass took 65 ms unfrozen, 13 ms frozen, each a stall of that web worker's requests.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018

# Every worker loads the projects' active reward models before its first request and watches for newly
# activated versions (SCORING_PRELOAD; rewardtrain.services.serving): the first call after a start or an
# activation took 4.5-5.9 s while the model loaded, later ones ~40 ms. Loaded before the freeze below.
from rewardtrain.services.serving import serving_warm_start  # noqa: E402

serving_warm_start()
gc.freeze()
