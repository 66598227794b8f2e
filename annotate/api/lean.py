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

``LeanApiMiddleware``, first in ``MIDDLEWARE``, goes one step further for the same requests: it
finds the lean views' URLs itself and, when the lean handler answers, skips the rest of the
middleware stack (sessions, CSRF, authentication, messages, static files: none of them acts on a
token caller's JSON request), running only the request checks and response headers of the
middleware that set them for every response (security, common, X-Frame-Options), in the order
the stack runs them. Anything the lean handler leaves (None) goes down the whole stack. If
``MIDDLEWARE`` holds a middleware it does not know, it stays out of the way.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLResolver, get_resolver
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from annotate.api.authentication import CachedTokenAuthentication, token_user_cached
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
    view then answers, 401 included). A key this process holds a fresh entry for is answered from it;
    anything else is read by the API's own token authenticator, as DRF would."""
    keyword, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if keyword == "Token" and key and " " not in key:
        user = token_user_cached(key=key)
        if user is not None:
            return user
    try:
        found = _token_authentication.authenticate(request)
    except exceptions.AuthenticationFailed:
        return None
    return None if found is None else found[0]


def lean_api_view(
    drf_view: type[APIView], *, method: str, handler: Callable[..., HttpResponse | None]
) -> Callable[..., HttpResponse]:
    """A view answering ``method`` from token callers with ``handler(request, user, allow=..., **url_kwargs)``,
    and every other request with ``drf_view``. Its ``lean_answer(request, **url_kwargs)`` is the first
    half alone: the response, or None where ``drf_view`` has to answer."""
    fallback = drf_view.as_view()
    instance = drf_view()
    if hasattr(instance, "get") and not hasattr(instance, "head"):
        instance.head = instance.get  # as View.setup does for each request
    allow = ", ".join(instance.allowed_methods)

    def lean_answer(request: HttpRequest, **kwargs) -> HttpResponse | None:
        if (
            request.method != method
            or request.META.get("QUERY_STRING")
            or request.META.get("HTTP_ACCEPT", "") not in JSON_ACCEPTS
        ):
            return None
        user = token_caller(request)
        if user is None:
            return None
        try:
            return handler(request, user, allow=allow, **kwargs)
        except (Http404, DjangoValidationError, exceptions.APIException) as error:
            answer = exception_handler(error, {})
            return api_json(answer.data, status=answer.status_code, allow=allow)

    @csrf_exempt  # as DRF's views: CSRF matters for session callers, and those go to DRF
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        return lean_answer(request, **kwargs) or fallback(request, **kwargs)

    view.lean_answer = lean_answer
    view.cls = fallback.cls  # drf-spectacular documents the DRF view
    view.initkwargs = fallback.initkwargs
    view.view_class = fallback.view_class
    return view


# The middleware the lean path runs the hooks of (they check requests or set headers on every
# response), and those it may skip: they act only on sessions, cookies, CSRF-protected views,
# messages or static files, none of which a lean answer has.
HOOKS_KEPT = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)
SKIPPED = frozenset(
    {
        "annotate.api.lean.LeanApiMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    }
)


def lean_routes(patterns=None, prefixes: tuple = ()) -> list[tuple[tuple, Callable[..., HttpResponse | None]]]:
    """(the chain of URL patterns leading to a lean view, its ``lean_answer``), in URLconf order."""
    routes = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            routes += lean_routes(entry.url_patterns, (*prefixes, entry.pattern))
        elif hasattr(entry.callback, "lean_answer"):
            routes.append(((*prefixes, entry.pattern), entry.callback.lean_answer))
    return routes


def lean_route(routes, path: str) -> tuple[Callable[..., HttpResponse | None], dict] | None:
    """(``lean_answer``, URL kwargs) of the route that matches ``path`` (e.g. "/api/v1/..."), or None."""
    for chain, answer in routes:
        remaining, kwargs = path[1:], {}
        for pattern in chain:
            match = pattern.match(remaining)
            if match is None:
                break
            remaining, _args, found = match
            kwargs.update(found)
        else:
            return answer, kwargs
    return None


class LeanApiMiddleware:
    """The lean views' requests skip the rest of the middleware stack when the lean handler answers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        unknown = [path for path in settings.MIDDLEWARE if path not in SKIPPED and path not in HOOKS_KEPT]
        # settings order: requests pass these first to last, responses last to first
        self.hooks = [import_string(path)(get_response) for path in settings.MIDDLEWARE if path in HOOKS_KEPT]
        self.routes = None if unknown else lean_routes()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = None if self.routes is None else lean_route(self.routes, request.path_info)
        if found is not None and not any(
            hasattr(hook, "process_request") and hook.process_request(request) is not None for hook in self.hooks
        ):
            answer, kwargs = found
            response = answer(request, **kwargs)
            if response is not None:
                for hook in reversed(self.hooks):
                    response = hook.process_response(request, response)
                return response
        return self.get_response(request)
