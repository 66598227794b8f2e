"""Pages run under the Content-Security-Policy (issue 13): scripts and styles from the site only, and
the ranking page and the project page work with nothing blocked."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.browser.test_rank_page import make_project, open_rank_page

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_ranking_page_ranks_under_the_policy_with_nothing_blocked(page_as, live_server, ranker):
    project = make_project(ranker, allow_ties=False, prompts=1)
    page = open_rank_page(page_as, live_server, ranker, project)
    response = page.request.get(f"{live_server.url}/projects/{project.pk}/rank/")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert "style-src 'self';" in response.headers["content-security-policy"]
    for key in "1234":
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_selector('#workspace[data-state="done"]')
    assert project.prompts.get().ranking_count == 1
    assert page.csp_violations == [] and page.errors == []


def test_the_project_page_draws_under_the_policy_with_nothing_blocked(page_as, live_server, ranker):
    staff = get_user_model().objects.create_user("staff", password="staff-pass-123", is_staff=True)
    project = make_project(ranker, allow_ties=False, prompts=1)
    page = page_as(staff)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").count() >= 1
    assert page.csp_violations == [] and page.errors == []


def test_an_inline_script_would_be_blocked(page_as, live_server, ranker):
    """The policy is really enforced: a script written into the page is refused and reported."""
    project = make_project(ranker, allow_ties=False, prompts=1)
    page = open_rank_page(page_as, live_server, ranker, project)
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.body.appendChild(s); }"
    )
    assert page.evaluate("() => window.ran") is None
    assert page.csp_violations, "the browser reported nothing"
