"""Limit/offset pagination for plain APIViews: ``?limit=50&offset=100``.

    return paginated_response(request=request, view=self, queryset=projects, serializer_class=OutputSerializer)

answers ``{"count", "next", "previous", "results"}`` with at most ``PAGE_SIZE`` (100) rows. A view
that answers a list sets ``pagination_class = Pagination``, so that the OpenAPI schema describes the
page (and its ``limit``/``offset`` parameters), not a bare array. A ``limit``
or ``offset`` that is not a whole number >= 0 (``limit`` >= 1) is refused with 400 instead of being
ignored, as DRF does: a script asking for ``offset=-5`` must not silently get the first page.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from annotate.db import MAX_DATABASE_ID


class Pagination(LimitOffsetPagination):
    max_limit = 1000

    def get_limit(self, request: Request) -> int:
        limit = query_integer(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request: Request) -> int:
        offset = query_integer(request, self.offset_query_param, minimum=0)
        return offset or 0


def query_integer(request: Request, name: str, *, minimum: int) -> int | None:
    """``?name=`` as a whole number >= ``minimum`` (and a bigint at most); None when absent; 400 otherwise."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or not minimum <= int(value) <= MAX_DATABASE_ID:
        raise ValidationError({name: f"must be a whole number from {minimum} to {MAX_DATABASE_ID}, got {value!r}"})
    return int(value)


def paginated_response(
    *,
    request: Request,
    view: Any,
    queryset: QuerySet,
    serializer_class: type[BaseSerializer],
    context: dict | None = None,
) -> Response:
    paginator = getattr(view, "pagination_class", None) or Pagination
    paginator = paginator()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request, **(context or {})})
    return paginator.get_paginated_response(serializer.data)
