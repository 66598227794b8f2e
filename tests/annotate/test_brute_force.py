"""Password guessing is limited per account and per client address, in the database (shared by every
process), for the API token, the login page and the admin; X-Forwarded-For counts only behind a
trusted proxy (issue 13)."""

from __future__ import annotations

import itertools

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from annotate.security import client_ip

TOKEN_URL = "/api/v1/auth/token"
RIGHT = {"username": "annotator", "password": "annotator-pass-123"}
addresses = (f"198.51.100.{n}" for n in itertools.count(1))


@pytest.fixture(autouse=True)
def three_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3


def token_attempt(password: str = "wrong", *, username: str = "annotator", **headers) -> object:
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, **headers)


def test_the_token_endpoint_locks_an_account_and_then_refuses_even_the_right_password(annotator):
    codes = [token_attempt().status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    locked = token_attempt(RIGHT["password"])
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert "Too many failed logins" in locked.json()["detail"]


def test_a_forged_forwarded_for_header_does_not_reset_the_count(annotator):
    """Without TRUSTED_PROXIES the header is ignored: a fresh made-up address per request changes nothing."""
    codes = [token_attempt(HTTP_X_FORWARDED_FOR=next(addresses)).status_code for _ in range(4)]
    assert codes == [400, 400, 429, 429]


def test_one_account_is_locked_whatever_address_the_guesses_come_from(annotator):
    codes = [token_attempt(REMOTE_ADDR=next(addresses)).status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    assert token_attempt(RIGHT["password"], REMOTE_ADDR=next(addresses)).status_code == 429


def test_one_address_is_locked_whatever_accounts_it_tries(annotator, outsider):
    codes = [token_attempt(username=f"user{n}", REMOTE_ADDR="203.0.113.9").status_code for n in range(3)]
    assert codes == [400, 400, 429]
    assert token_attempt(RIGHT["password"], REMOTE_ADDR="203.0.113.9").status_code == 429
    assert token_attempt(RIGHT["password"], REMOTE_ADDR="203.0.113.10").status_code == 200  # others still log in


def test_the_count_is_in_the_database_not_in_one_process(annotator):
    for _ in range(3):
        token_attempt()
    cache.clear()  # nothing a single process holds in memory matters
    assert AccessAttempt.objects.filter(username="annotator").exists()
    assert token_attempt(RIGHT["password"]).status_code == 429


def test_the_html_login_page_is_limited_too(annotator):
    browser = Client()
    for _ in range(2):
        assert browser.post("/login/", {"username": "annotator", "password": "wrong"}).status_code == 200
    assert browser.post("/login/", {"username": "annotator", "password": "wrong"}).status_code == 429
    answer = browser.post("/login/", RIGHT)
    assert answer.status_code == 429 and b"Too many failed logins" in answer.content
    assert "_auth_user_id" not in browser.session


def test_a_login_below_the_limit_resets_the_account_but_not_the_address(annotator):
    assert [token_attempt(REMOTE_ADDR="192.0.2.1").status_code for _ in range(2)] == [400, 400]
    assert Client(REMOTE_ADDR="192.0.2.1").post("/login/", RIGHT).status_code == 302  # logged in
    assert [token_attempt(REMOTE_ADDR="192.0.2.2").status_code for _ in range(2)] == [400, 400]  # account reset
    assert token_attempt(REMOTE_ADDR="192.0.2.1").status_code == 429  # the address's third failure


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own(annotator, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = {"REMOTE_ADDR": "10.1.2.3"}
    codes = [
        token_attempt(username=f"user{n}", HTTP_X_FORWARDED_FOR="192.0.2.7, 10.0.0.5", **proxy).status_code
        for n in range(3)
    ]
    assert codes == [400, 400, 429]
    other_client = token_attempt(RIGHT["password"], HTTP_X_FORWARDED_FOR="192.0.2.8", **proxy)
    assert other_client.status_code == 200


@pytest.mark.parametrize(
    "remote, forwarded, trusted, expected",
    [
        ("198.51.100.1", "1.2.3.4", [], "198.51.100.1"),  # no trusted proxy: the header is ignored
        ("198.51.100.1", "1.2.3.4", ["10.0.0.0/8"], "198.51.100.1"),  # not from the proxy: ignored
        ("10.0.0.1", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.9", ["10.0.0.0/8"], "1.2.3.4"),  # the caller's own entry is left
        ("10.0.0.1", "not-an-address", ["10.0.0.0/8"], "10.0.0.1"),
        ("10.0.0.1", "", ["10.0.0.0/8"], "10.0.0.1"),
    ],
)
def test_the_client_address_trusts_forwarded_for_only_from_a_trusted_proxy(
    rf, settings, remote, forwarded, trusted, expected
):
    settings.TRUSTED_PROXIES = trusted
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
