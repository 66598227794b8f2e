"""The workspace pages: the project list and the ranking page (its script has browser tests)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from annotate.models import Assignment


@pytest.fixture
def browser_for():
    def login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


def page_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="rank-data" type="application/json">') + len(
        '<script id="rank-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_home_lists_the_annotators_projects_with_progress_and_a_start_link(
    project, make_prompt, annotator, browser_for
):
    make_prompt(project)
    response = browser_for(annotator).get("/")
    assert response.status_code == 200
    assert project.name in response.content.decode()
    assert f'href="/projects/{project.pk}/rank/"' in response.content.decode()
    assert "rankings left in the project" in response.content.decode()


def test_home_hides_other_projects_from_outsiders(project, outsider, browser_for):
    response = browser_for(outsider).get("/")
    assert project.name not in response.content.decode()


def test_the_rank_page_carries_the_first_task_progress_and_a_csrf_cookie(project, make_prompt, annotator, browser_for):
    make_prompt(project, k=3, text="</script><script>alert(1)</script>")
    response = browser_for(annotator).get(f"/projects/{project.pk}/rank/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    data = page_data(response)
    assert data["task"]["assignment_id"] == Assignment.objects.get().pk
    assert data["task"]["prompt"]["text"] == "</script><script>alert(1)</script>"  # json_script escaped it
    assert data["progress"] == {"done_today": 0, "done_total": 0, "left": 3}
    assert data["urls"]["submit"] == "/api/v1/assignments/{id}/ranking"
    assert data["project"] == {"id": project.pk, "render_markdown": True}
    html = response.content.decode()
    for script in ("vendor/markdown-it/markdown-it.umd.min.js", "vendor/dompurify/purify.min.js", "js/rank.js"):
        assert script in html
    assert "<script>" not in html  # no inline script (a Content-Security-Policy of 'self' allows only files)
    assert 'rel="icon"' in html


def test_the_favicon_is_served_and_the_old_path_points_to_it(annotator, browser_for):
    client = browser_for(annotator)
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 301
    icon = client.get(redirect["Location"])
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)


def test_the_rank_page_is_for_the_projects_annotators_and_staff(project, outsider, admin_user, browser_for):
    assert browser_for(outsider).get(f"/projects/{project.pk}/rank/").status_code == 404
    assert browser_for(admin_user).get(f"/projects/{project.pk}/rank/").status_code == 200
    anonymous = Client().get(f"/projects/{project.pk}/rank/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
