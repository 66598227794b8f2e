"""PostgreSQL ``COPY`` for the import's prompts and completions: several times faster than bulk_create.

    writer = CopyWriter.for_model(Prompt, ["project", "text", ...])  # None off PostgreSQL
    ids = writer.ids_reserve(len(rows))                              # from the table's own sequence
    writer.insert((pk, project_id, text, ...) for ...)                # id first, then the named fields

Building a model instance per row and letting the compiler prepare each value is most of
bulk_create's time; here each value is written straight into COPY's text format. Ids come
from the table's sequence first, so rows can point at each other without reading ids back.
Fields not named take their model default (the same value for every row): a field without
one makes ``for_model`` answer None, and the caller uses bulk_create.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, models
from django.utils import timezone


def copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def formatter_for(field: models.Field) -> Callable[[Any], str]:
    """How one Python value of ``field`` is written in COPY's text format."""
    kind = field.get_internal_type()
    if kind == "JSONField":
        return lambda value: copy_text(json.dumps(value))
    if kind in ("CharField", "TextField", "SlugField", "EmailField", "URLField"):
        return copy_text
    if kind == "BooleanField":
        return lambda value: "t" if value else "f"
    if kind == "DateTimeField":
        return lambda value: value.isoformat()
    if kind.endswith("IntegerField") or kind in ("ForeignKey", "BigAutoField", "AutoField"):
        return str
    raise LookupError(kind)


class CopyWriter:
    def __init__(self, model: type[models.Model], fields: list[str]) -> None:
        meta = model._meta
        self.table = meta.db_table
        self.named = [meta.get_field(name) for name in fields]
        self.formatters = [formatter_for(field) for field in self.named]
        now = timezone.now()
        constants = []
        for field in meta.concrete_fields:
            if field.primary_key or field in self.named:
                continue
            if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
                value: Any = now
            elif field.has_default() or field.null or field.empty_strings_allowed:
                value = field.get_default()
            else:
                raise LookupError(field.name)
            constants.append((field.column, "\\N" if value is None else formatter_for(field)(value)))
        self.pk_column = meta.pk.column
        self.columns = [meta.pk.column] + [field.column for field in self.named] + [column for column, _ in constants]
        self.constant_suffix = "".join("\t" + text for _, text in constants)

    @classmethod
    def for_model(cls, model: type[models.Model], fields: list[str]) -> CopyWriter | None:
        if connection.vendor != "postgresql":
            return None
        try:
            return cls(model, fields)
        except LookupError:  # a field COPY cannot fill the way bulk_create would
            return None

    def ids_reserve(self, count: int) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [self.table, self.pk_column, count],
            )
            return [row[0] for row in cursor.fetchall()]

    def insert(self, rows: Iterable[tuple]) -> None:
        """Rows of (id, *values of the named fields)."""
        formatters = self.formatters
        suffix = self.constant_suffix
        buffer = io.StringIO()
        for row in rows:
            buffer.write(str(row[0]))
            for format_value, value in zip(formatters, row[1:], strict=True):
                buffer.write("\t")
                buffer.write("\\N" if value is None else format_value(value))
            buffer.write(suffix)
            buffer.write("\n")
        buffer.seek(0)
        columns = ", ".join(connection.ops.quote_name(column) for column in self.columns)
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {connection.ops.quote_name(self.table)} ({columns}) FROM STDIN", buffer)
