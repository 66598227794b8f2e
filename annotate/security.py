"""Who is calling, and what a locked-out caller is told: the hooks django-axes calls.

Password guessing is limited by django-axes (``AXES_*`` in config/settings.py): failures are counted
in the database, so every web process and machine shares the count, per account and per client
address separately, for the API's token endpoint, the login page and the admin alike.

The client address is ``REMOTE_ADDR`` unless that is a proxy named in ``TRUSTED_PROXIES``; only then
is ``X-Forwarded-For`` read, from the right, skipping the trusted proxies: the first address that is
not one of them is the client (a caller may put anything at the left of the header).
"""

from __future__ import annotations

import ipaddress

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


class AxesBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login that comes with a request (all that reach the site);
    a call without one (a shell, a test client's ``login()``) has no caller to count and passes on to
    the next backend, instead of failing as axes' own backend does."""

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(proxy, strict=False) for proxy in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """The caller's address, read from ``X-Forwarded-For`` only behind a trusted proxy."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    if not settings.TRUSTED_PROXIES or not _trusted(remote):
        return remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = hop.strip()
        if hop and not _trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # a forged, unparsable entry: count against the proxy's neighbour
    return remote


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials) -> HttpResponse:
    """429 with ``Retry-After``: JSON under /api/, the login page with the message elsewhere."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 3600
    message = f"Too many failed logins for this account or address; try again in {max(1, seconds // 60)} minutes."
    if request.path_info.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def content_security_policy_middleware(get_response):
    """Sets ``CONTENT_SECURITY_POLICY`` on every HTML page: scripts and styles from this site only, no
    inline script or style (page data travels in ``json_script`` blocks, which are not run). The
    API docs (Swagger UI styles itself inline) get ``CONTENT_SECURITY_POLICY_API_DOCS``."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        html = response.get("Content-Type", "").startswith("text/html")
        if policy and html and "Content-Security-Policy" not in response:
            if request.path_info.startswith("/api/"):
                policy = settings.CONTENT_SECURITY_POLICY_API_DOCS
            response["Content-Security-Policy"] = policy
        return response

    return middleware
