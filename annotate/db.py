"""Server-side prepared statements for the hottest PostgreSQL statements (the annotator loop).

PostgreSQL parses and plans every statement it is sent; for the task loop's statements that
costs more CPU than running them. ``execute_prepared`` sends ``PREPARE`` once per database
connection and ``EXECUTE`` after that, so a persistent connection (``conn_max_age``) plans each
statement once. Not for a pooler in transaction mode (pgbouncer ``pool_mode=transaction``),
where a session's prepared statements are not where the next transaction runs.

    with connection.cursor() as cursor:
        execute_prepared(cursor, name="rf_claim", sql="SELECT ... WHERE id = %(prompt)s", params={"prompt": 7})
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from django.db import connection, models

_NAMED = re.compile(r"%\((\w+)\)s")

# The largest id a row can have (ids are bigint); URL ids and ids in bodies above it are refused
# before they reach SQL, where they would fail with "bigint out of range".
MAX_DATABASE_ID = 2**63 - 1


@lru_cache(maxsize=64)
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``%(name)s`` turned into ``$1``, ``$2``, ... and the names in that order."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


def execute_prepared(cursor, *, name: str, sql: str, params: Mapping[str, object]) -> None:
    """Run ``sql`` (``%(name)s`` placeholders, PostgreSQL only) as the prepared statement ``name``
    of the cursor's connection, preparing it on the connection's first use."""
    text, names = _positional(sql)
    raw = connection.connection
    prepared = getattr(connection, "_rankforge_prepared", None)
    if prepared is None or prepared[0] is not raw:  # a new database session: nothing prepared there yet
        prepared = (raw, set())
        connection._rankforge_prepared = prepared
    if name not in prepared[1]:
        cursor.execute(f"PREPARE {name} AS {text}")  # no parameters: psycopg2 leaves the text alone
        prepared[1].add(name)
    cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(names))})", [params[key] for key in names])


def fetch_one(*, name: str, sql: str, params: Mapping[str, object]) -> tuple | None:
    """The first row of ``sql``: prepared as ``name`` on PostgreSQL, sent as it is elsewhere."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            execute_prepared(cursor, name=name, sql=sql, params=params)
        else:
            cursor.execute(sql, params)
        return cursor.fetchone()


def model_loaded(model: type[models.Model], **values: object) -> models.Model:
    """An instance of ``model`` with these field values (attnames: ``id``, ``prompt_id``, ...), as if
    loaded from the database with only these fields (the others deferred): for rows a statement just
    returned. About half the CPU of ``model(**values)``, which the hot path builds several of per request."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(connection.alias, names, [values[name] for name in names])
