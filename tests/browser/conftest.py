"""Headless Debian Chromium driven by Playwright against pytest-django's live server.

Run them alone with ``.venv/bin/python -m pytest -m browser``. They need /usr/bin/chromium
(``make browser`` installs it); without it they are skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between page actions are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if Path(item.fspath).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason="needs Debian's /usr/bin/chromium: run `make browser`"))


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page_as(browser, live_server) -> Iterator[Callable]:
    """page_as(user, width=1280) -> a Playwright page logged in as ``user`` (session cookie).

    Other keywords go to the browser context (``has_touch=True, is_mobile=True`` for a phone).
    """
    contexts = []

    def open_page(user, width: int = 1280, height: int = 900, **context_options):
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.csp_violations = []  # what the Content-Security-Policy blocked (Chromium reports it on the console)
        page.on(
            "console",
            lambda message: (
                page.csp_violations.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def ranker(transactional_db):
    return get_user_model().objects.create_user("ranker", password="ranker-pass-123")
