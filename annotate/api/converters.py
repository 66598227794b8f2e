"""The ``<id:...>`` URL converter: a row id, as ``<int:...>`` but at most a bigint.

``<int:...>`` matches any run of digits; an id of 2^63 or more then reached PostgreSQL and answered
500 ("bigint out of range"). Such an id names no row: the URL does not match, and the caller gets
the same 404 as for any other id that does not exist.
"""

from __future__ import annotations

from django.urls.converters import IntConverter

from annotate.db import MAX_DATABASE_ID


class IdConverter(IntConverter):
    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_DATABASE_ID:
            raise ValueError(f"{value} is larger than any id")
        return number
