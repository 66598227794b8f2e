"""A lean front for the hottest API views (the annotator's next task and submit).

DRF's request wrapping, content negotiation, serializer set-up and response finalising cost
about as much CPU as the services behind these two endpoints. ``lean_api_view`` answers the
plain case itself and hands everything else to the DRF view it fronts, unchanged:

- it answers only ``method``, with no query string, for ``Accept`` absent, ``*/*`` or
  ``application/json``, and for a caller with a valid ``Authorization: Token <key>`` of an
  active user (``annotate.api.authentication``; staff or not). Session callers (the browser,
  with its CSRF check), other methods (OPTIONS, 405), the browsable API, a missing or bad
  token (401 with ``WWW-Authenticate``) all go to the DRF view;
- the handler may also return None before it has changed anything (e.g. a body it does not
  take the quick way), and DRF answers that request as before;
- errors the handler raises (Http404, Django or DRF ValidationError, APIException) are
  answered by ``annotate.api.errors.exception_handler``, as in the DRF view, and rendered by
  DRF's ``JSONRenderer``: the same status, bytes and headers (``Allow``, ``Vary: Accept``).

The DRF view stays what the OpenAPI schema describes: the lean view carries its ``cls``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from annotate.api.authentication import CachedTokenAuthentication
from annotate.api.errors import exception_handler

_renderer = JSONRenderer()
_token_authentication = CachedTokenAuthentication()
JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})


def api_json(data: object, *, status: int = 200, allow: str) -> HttpResponse:
    """``data`` as DRF's JSONRenderer writes it, with the headers a DRF view adds."""
    response = HttpResponse(_renderer.render(data), status=status, content_type="application/json")
    response["Allow"] = allow
    response["Vary"] = "Accept"
    return response


def token_caller(request: HttpRequest):
    """The active user of a well-formed ``Authorization: Token <key>`` header; None otherwise (the DRF
    view then answers, 401 included). The header is read by the API's own token authenticator."""
    try:
        found = _token_authentication.authenticate(request)
    except exceptions.AuthenticationFailed:
        return None
    return None if found is None else found[0]


def lean_api_view(
    drf_view: type[APIView], *, method: str, handler: Callable[..., HttpResponse | None]
) -> Callable[..., HttpResponse]:
    """A view answering ``method`` from token callers with ``handler(request, user, allow=..., **url_kwargs)``,
    and every other request with ``drf_view``."""
    fallback = drf_view.as_view()
    instance = drf_view()
    if hasattr(instance, "get") and not hasattr(instance, "head"):
        instance.head = instance.get  # as View.setup does for each request
    allow = ", ".join(instance.allowed_methods)

    @csrf_exempt  # as DRF's views: CSRF matters for session callers, and those go to DRF
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        if (
            request.method == method
            and not request.META.get("QUERY_STRING")
            and request.META.get("HTTP_ACCEPT", "") in JSON_ACCEPTS
        ):
            user = token_caller(request)
            if user is not None:
                try:
                    response = handler(request, user, allow=allow, **kwargs)
                except (Http404, DjangoValidationError, exceptions.APIException) as error:
                    answer = exception_handler(error, {})
                    return api_json(answer.data, status=answer.status_code, allow=allow)
                if response is not None:
                    return response
        return fallback(request, **kwargs)

    view.cls = fallback.cls  # drf-spectacular documents the DRF view
    view.initkwargs = fallback.initkwargs
    view.view_class = fallback.view_class
    return view
