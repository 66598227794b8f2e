"""Limit/offset pagination for plain APIViews: ``?limit=50&offset=100``.

    return paginated_response(request=request, view=self, queryset=projects, serializer_class=OutputSerializer)

answers ``{"count", "next", "previous", "results"}`` with at most ``PAGE_SIZE`` (100) rows.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer


class Pagination(LimitOffsetPagination):
    max_limit = 1000


def paginated_response(
    *,
    request: Request,
    view: Any,
    queryset: QuerySet,
    serializer_class: type[BaseSerializer],
    context: dict | None = None,
) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request, **(context or {})})
    return paginator.get_paginated_response(serializer.data)
