"""The OpenAPI schema (``/api/v1/schema/``) and its Swagger UI page (``/api/v1/docs/``).

The page is drf-spectacular's split view: its start-up script is a file of its own, so the page runs
under the Content-Security-Policy with no inline script. ``API_DOCS_REQUIRE_LOGIN`` decides who may
see them.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import BasePermission


class DocsPermission(BasePermission):
    """The schema and the docs page: for logged-in callers when ``API_DOCS_REQUIRE_LOGIN`` (the default
    in production), for anyone otherwise. They list every operation, not any data."""

    def has_permission(self, request, view) -> bool:
        return not settings.API_DOCS_REQUIRE_LOGIN or bool(request.user and request.user.is_authenticated)


class SchemaApi(SpectacularAPIView):
    permission_classes = [DocsPermission]


class DocsPage(SpectacularSwaggerSplitView):
    permission_classes = [DocsPermission]
