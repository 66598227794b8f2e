"""RankForge settings, read from the environment.

Every setting has an embedded default that works after a plain checkout: SQLite under
``var/``, Celery tasks run in-process. Set ``DATABASE_URL`` and ``REDIS_URL`` for
PostgreSQL and a real Celery worker on Redis. See docs/configuration.md for the full list.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# pytest sets PYTEST_VERSION; tests run with DEBUG off but need no production secrets.
TESTING = "PYTEST_VERSION" in os.environ or env_bool("RANKFORGE_TESTING", False)

# The key: SECRET_KEY from the environment; else the random key `make up` keeps in var/secret_key
# (docker/run-local.sh writes it once), so that a command run from another shell of the same checkout
# (`manage.py import_prompts ...`) needs no variables; else a default that keeps development
# friction-free and that production (DEBUG off) refuses. Docker builds leave var/ out.
DEFAULT_SECRET_KEY = "rankforge-insecure-development-key-do-not-use-in-production"
SECRET_KEY_FILE = VAR_DIR / "secret_key"


def secret_key_from_file(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text().strip()
    return ""


SECRET_KEY = os.environ.get("SECRET_KEY") or secret_key_from_file(SECRET_KEY_FILE) or DEFAULT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY and not TESTING:
    raise ImproperlyConfigured(
        "SECRET_KEY is the insecure default while DEBUG is off. Set SECRET_KEY in the "
        "environment (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(50))'`), "
        f"or run `make up` once, which keeps a random one in {SECRET_KEY_FILE}."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "annotate",
    "rewardtrain",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "annotate.api.errors.api_error_middleware",  # API bodies over the limit: JSON 413 before they are read
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "annotate.security.content_security_policy_middleware",
    "axes.middleware.AxesMiddleware",  # a locked-out login answers 429 (annotate/security.py)
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "rankforge.sqlite3",
            # WAL + a busy timeout let the web server and a worker share the file.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
# Parallel test runs (several developers, one server) each get their own test database.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Password guessing (docs/operations.md): django-axes counts failed logins in the database, so every
# process shares the count, per account and per client address; the API token, the login page and the
# admin all go through it. The client address trusts X-Forwarded-For only from TRUSTED_PROXIES.
AUTHENTICATION_BACKENDS = [
    "annotate.security.AxesBackend",  # django-axes' backend, also for calls without a request
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 10))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_LOCKOUT_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one alone locks: many accounts, or many addresses
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "annotate.security.client_ip"
AXES_LOCKOUT_CALLABLE = "annotate.security.lockout_response"
AXES_VERBOSE = False
# Pages may load scripts, styles, images and fonts from this site only, run no inline script or style,
# and be framed by no one (annotate/security.py). Empty turns the header off.
CONTENT_SECURITY_POLICY = os.environ.get(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
# Swagger UI (the API docs page) sets inline styles; its scripts still come from this site only.
CONTENT_SECURITY_POLICY_API_DOCS = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
# Addresses (or networks) of reverse proxies whose X-Forwarded-For is believed; empty: none is.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# WhiteNoise warns on every request when STATIC_ROOT is missing (development serves static/ itself).
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve static/ straight from the checkout, no collectstatic needed

# The largest request body other than an import upload (API JSON bodies too): larger ones get 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 50 * 1024 * 1024))
# Imports of large files arrive as uploads; keep them on disk rather than in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Import limits (docs/import.md): the upload as sent, what it inflates to (gzip), and one line of it.
IMPORT_MAX_UPLOAD_BYTES = int(os.environ.get("IMPORT_MAX_UPLOAD_BYTES", 512 * 1024 * 1024))
IMPORT_MAX_DECOMPRESSED_BYTES = int(os.environ.get("IMPORT_MAX_DECOMPRESSED_BYTES", 4 * 1024 * 1024 * 1024))
IMPORT_MAX_LINE_BYTES = int(os.environ.get("IMPORT_MAX_LINE_BYTES", 16 * 1024 * 1024))

if not DEBUG and not TESTING:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind TLS (the documented production setup: a proxy terminating HTTPS): plain HTTP is redirected to
# HTTPS and browsers are told to use HTTPS only (HSTS). `manage.py check --deploy` is then clean.
BEHIND_TLS = env_bool("BEHIND_TLS", False)
if BEHIND_TLS and not DEBUG:
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", 365 * 24 * 3600))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
    # "preload" only allows submitting the domain to browsers' preload lists; nothing is sent anywhere.
    SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", True)

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotate.api.authentication.CachedTokenAuthentication",  # DRF's, with a few seconds' cache per process
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "annotate.api.schema.AutoSchema",  # names nested Input/Output serializers apart
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "annotate.api.errors.exception_handler",
}
# Whether /api/v1/schema/ and /api/v1/docs/ need a login (token or session); by default they do in
# production (DEBUG off) and not in development.
API_DOCS_REQUIRE_LOGIN = env_bool("API_DOCS_REQUIRE_LOGIN", not DEBUG)
SPECTACULAR_SETTINGS = {
    "TITLE": "RankForge API",
    "DESCRIPTION": "Rank completions, expand comparisons, train and serve reward models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files: the docs page works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two models have a `state` field with different choices; give each enum its own name.
    "ENUM_NAME_OVERRIDES": {
        "AssignmentStateEnum": "annotate.models.Assignment.State",
        "TrainingRunStateEnum": "rewardtrain.models.TrainingRun.State",
    },
}

# --- Celery ---------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_RESULT_BACKEND = None
# Without Redis, tasks run in the calling process (the embedded default). Beat's schedule
# still reaches a worker through a broker kept in files under var/, so `make up` works with
# nothing but Python.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # A message a killed worker had taken but not acked goes back to the queue after this long
    # (Redis has no connection-bound acks). Short, so expansions catch up within a minute; a
    # training message redelivered while its run still trains finds the run taken and does nothing.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("BROKER_VISIBILITY_TIMEOUT_SECONDS", 60))
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "celery-broker"
    for _folder in (_broker_dir, VAR_DIR / "celery-control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "rewardtrain.tasks.training_run_execute": {"queue": "training"},
    # Scores every prompt still wanting rankings with the model: the GPU worker where there is one.
    "rewardtrain.tasks.acquisition_scores_refresh": {"queue": "training"},
    "rewardtrain.tasks.completion_scores_refresh": {"queue": "training"},  # loads a model: where training runs
}
# django_celery_beat's DatabaseScheduler, which also reaps dead training runs every heartbeat.
CELERY_BEAT_SCHEDULER = "rewardtrain.beat:Scheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- RankForge ------------------------------------------------------------------------
ARTIFACT_DIR = Path(os.environ.get("ARTIFACT_DIR", VAR_DIR / "artifacts"))
# Training runs and reward serving (docs/training-runs.md). How a started run reaches a worker:
# "broker" sends it to the `training` queue; "poll" leaves it queued for the worker's minute tick
# (the default without Redis, so a web request never trains in-process); "inline" runs it in the caller.
TRAINING_DISPATCH = os.environ.get("TRAINING_DISPATCH", "broker" if REDIS_URL else "poll")
# A running run writes a heartbeat this often; one silent for TRAINING_HEARTBEAT_TIMEOUT_SECONDS (four
# beats by default) is presumed dead (its worker was killed) and marked failed by the reaper, which
# beat's scheduler runs every heartbeat (rewardtrain.beat), as do starts and the pages that show runs.
TRAINING_HEARTBEAT_SECONDS = float(os.environ.get("TRAINING_HEARTBEAT_SECONDS", 5))
TRAINING_HEARTBEAT_TIMEOUT_SECONDS = float(
    os.environ.get("TRAINING_HEARTBEAT_TIMEOUT_SECONDS", 4 * TRAINING_HEARTBEAT_SECONDS)
)
# A queued run that no worker took within this long is failed with the reason (0 = wait forever).
# Runs queue behind each other only across projects on one training worker; raise it if yours do.
TRAINING_QUEUED_TIMEOUT_SECONDS = float(os.environ.get("TRAINING_QUEUED_TIMEOUT_SECONDS", 3600))
# Progress points are written at most this often (the last step and evaluations always are).
TRAINING_PROGRESS_SECONDS = float(os.environ.get("TRAINING_PROGRESS_SECONDS", 2))
# A new version replaces the active one only if it is better on this held-out metric, measured for
# both on the new run's evaluation prompts. Metrics named in TRAINING_LOWER_IS_BETTER improve downwards.
TRAINING_PROMOTION_METRIC = os.environ.get("TRAINING_PROMOTION_METRIC", "pairwise_accuracy")
TRAINING_LOWER_IS_BETTER = ("log_loss", "ece", "expected_calibration_error")
# And it must not be worse than the active one on length-balanced accuracy (the accuracy a model earns by
# reading, not by preferring the longer reply), so a better length detector is never promoted.
TRAINING_PROMOTION_REQUIRE_LENGTH_BALANCED = env_bool("TRAINING_PROMOTION_REQUIRE_LENGTH_BALANCED", True)
# After a failed scheduled run, wait this long before the schedule starts another.
TRAINING_FAILED_BACKOFF_SECONDS = float(os.environ.get("TRAINING_FAILED_BACKOFF_SECONDS", 600))
# Largest number of completions (or texts) one scoring request may carry.
SCORING_MAX_COMPLETIONS = int(os.environ.get("SCORING_MAX_COMPLETIONS", 4096))
# Where serving processes run the model: "auto" (a GPU if present), "cpu", "cuda:0", ...
SCORING_DEVICE = os.environ.get("SCORING_DEVICE", "auto")
# How serving runs the model: "auto" (the artifact's recorded inference precision: bf16 weights where the
# device supports bf16, else fp32), or force "fp32", "bf16" or "fp32-autocast".
SCORING_PRECISION = os.environ.get("SCORING_PRECISION", "auto")
# Concurrent scoring requests are gathered into one forward of at most this many completions ...
SCORING_BATCH_SEQUENCES = int(os.environ.get("SCORING_BATCH_SEQUENCES", 256))
# ... and a request that finds the model idle waits this long (ms) for others to join it (0 = no wait).
SCORING_GATHER_MS = float(os.environ.get("SCORING_GATHER_MS", 0))
# Serving processes (the web server's workers, serve_rewards) load the active models before their first
# request: "active" (every project's active model, up to 4 a process) or "off" (load on first use) ...
SCORING_PRELOAD = os.environ.get("SCORING_PRELOAD", "active")
# ... and look this often (seconds) for a newly activated version, which they load in the background.
SCORING_WATCH_SECONDS = float(os.environ.get("SCORING_WATCH_SECONDS", 2))
# How long each process may answer an API token from memory instead of the database: a deleted
# token or a deactivated user stops working in other processes after at most this (0 = no cache).
API_TOKEN_CACHE_SECONDS = float(os.environ.get("API_TOKEN_CACHE_SECONDS", 5))
# Largest prompt or completion accepted by import and annotation, in characters.
MAX_TEXT_CHARS = int(os.environ.get("MAX_TEXT_CHARS", 100_000))
# Files uploaded on the import page wait here for the worker that checks and imports them (the web
# and worker processes must both see it: in docker/compose.yml it lies on the shared artifacts volume).
IMPORT_UPLOAD_DIR = Path(os.environ.get("IMPORT_UPLOAD_DIR", ARTIFACT_DIR / "uploads"))
# Largest file the import page accepts, in bytes (plain or gzip'd; the API has its own limits).
IMPORT_UPLOAD_MAX_BYTES = int(os.environ.get("IMPORT_UPLOAD_MAX_BYTES", 1024 * 1024 * 1024))
# Largest number of completions a project may ask for per prompt.
MAX_COMPLETIONS_LIMIT = 16

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
