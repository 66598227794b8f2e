"""Every API error answers ``{"detail": message, ...}`` so clients can show one line.

``exception_handler`` does it for DRF views; ``api_error_middleware`` and the ``handler400/404/500``
views (``config/urls.py``) for what happens outside them, under ``/api/``: an unknown URL (404), a
body over the limit (413, before it is read), the database down (503 with ``Retry-After``),
anything else (500). Pages keep Django's HTML answers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class Conflict(APIException):
    """409: the request is valid but clashes with the current state (already ranked, in use, ...)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class ErrorSerializer(serializers.Serializer):
    """What every API error answers (the OpenAPI component ``Error``)."""

    detail = serializers.CharField()


class ServiceUnavailable(APIException):
    """503 with ``Retry-After``: a service behind the API (database, broker, model) cannot answer now."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is unavailable for a moment; try again."
    default_code = "service_unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def first_message(detail: Any) -> str:
    """The first human-readable message inside DRF's nested error structure, with its field."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = first_message(value)
            return message if field in ("detail", "non_field_errors") else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    else:
        exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(exc.retry_after)
    if response is not None and isinstance(response.data, (dict, list)) and "detail" not in response.data:
        errors = response.data
        response.data = {"detail": first_message(errors), "errors": errors}
    return response


DATABASE_UNAVAILABLE = "The database is unavailable for a moment; try again."
TOO_DEEP = "JSON nested too deeply"


def _as_api_exception(exc: Exception) -> Exception:
    """What a few exceptions that are not DRF's mean to the caller; others unchanged."""
    if isinstance(exc, (OperationalError, InterfaceError)):  # the database is down or restarting
        logger.warning("database unavailable: %s", exc)
        return ServiceUnavailable(DATABASE_UNAVAILABLE)
    if isinstance(exc, RecursionError):  # json's parser (or a walk of what it parsed) ran out of stack
        return ParseError(TOO_DEEP)
    if isinstance(exc, DataError):  # a value PostgreSQL's column type refuses that no check caught
        logger.warning("value out of range: %s", exc)
        return ValidationError("a value in the request is out of range")
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(str(exc))
    return exc


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def json_error(status_code: int, detail: str, *, retry_after: int | None = None) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status_code)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def body_limit(request: HttpRequest) -> int | None:
    """The most bytes a request body may have: imports (multipart uploads) have their own limit."""
    if request.content_type == "multipart/form-data":
        return settings.IMPORT_MAX_UPLOAD_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def api_error_middleware(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Refuses an API body over its limit with 413 before anything reads it (DRF's parsers read the
    stream themselves, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE), and answers exceptions that
    escape the API views as JSON."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if is_api(request):
            limit = body_limit(request)
            length = request.META.get("CONTENT_LENGTH") or "0"
            if limit is not None and (not length.isdigit() or int(length) > limit):
                return json_error(413, f"The request body is larger than the limit of {limit} bytes.")
        return get_response(request)

    return middleware


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: under /api/, JSON (413 for a body over the limit); pages keep Django's page."""
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return json_error(413, f"The request body is too large: {exception}")
    return json_error(400, str(exception) or "Bad request.")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return json_error(404, "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: under /api/, JSON; the database down is a 503 with Retry-After."""
    if not is_api(request):
        return defaults.server_error(request)
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        return json_error(503, DATABASE_UNAVAILABLE, retry_after=5)
    if isinstance(error, RecursionError):
        return json_error(400, TOO_DEEP)
    return json_error(500, "Server error.")
