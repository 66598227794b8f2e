"""What the benchmark scripts share: a scratch PostgreSQL database, Django set up on it, a free port,
the shared data files.

    from scratch import django_setup, scratch_database

    with scratch_database("postgres://postgres@127.0.0.1:5432/postgres", "rf_bench_example") as url:
        django_setup(url)
        ...  # migrate, load, measure

The scripts run as ``python bench/<name>.py``, so ``bench/`` is on ``sys.path`` and this module
imports as ``scratch``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]


def _execute(admin_url: str, statement: str) -> None:
    import psycopg2  # only the PostgreSQL benchmarks need it

    connection = psycopg2.connect(admin_url)
    connection.autocommit = True  # CREATE / DROP DATABASE cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@contextmanager
def scratch_database(admin_url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """Creates database ``name`` on the server of ``admin_url`` (the URL of any database there),
    yields the new database's URL, and drops it on the way out unless ``keep``.

    A database left with that name by an earlier run that was kept or killed is replaced. The
    drop is forced (PostgreSQL 13+), so connections still open -- a server the benchmark
    started, Django's own -- do not keep it alive.
    """
    _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    finally:
        if not keep:
            _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_setup(database_url: str) -> None:
    """Django on ``database_url``, without a broker (Celery tasks run in-process) or a real secret key."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shared_data_file(relative: str) -> Path:
    """``relative`` (e.g. "oasst_en100/en_100_tree.jsonl") under the shipped data (``annotate/fixtures``,
    or ``RANKFORGE_DATA_DIR`` where set)."""
    from rewardtrain.core.config import shipped_data_dir

    candidate = shipped_data_dir() / relative
    if not candidate.exists():
        raise SystemExit(f"{relative} not found under {shipped_data_dir()} (RANKFORGE_DATA_DIR)")
    return candidate
