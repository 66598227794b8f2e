"""The annotator loop's hot path (issue 3): the token cache, the lean next/submit views, the
statements they send, and the batched comparison-expansion hook."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.api import authentication
from annotate.models import Assignment, Completion, Prompt, Ranking
from annotate.services import tasks as tasks_service
from tests.annotate.test_tasks_api import best_first, next_url, submit_url
from tests.conftest import client_for

User = get_user_model()


@pytest.fixture(autouse=True)
def empty_token_cache():
    authentication.token_cache_clear()
    yield
    authentication.token_cache_clear()


@pytest.fixture
def later(monkeypatch):
    """later(seconds): move the token cache's clock on, as if that much time had passed."""
    offset = [0.0]
    monkeypatch.setattr(authentication, "monotonic", lambda: time.monotonic() + offset[0])

    def move(seconds: float) -> None:
        offset[0] += seconds

    return move


def count_statements(client: APIClient, method: str, url: str, body=None) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url) if method == "GET" else client.post(url, body, format="json")
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    return len(statements), answer


# --- Token cache ------------------------------------------------------------------------------
def test_a_cached_token_is_not_read_again(annotator_client):
    assert annotator_client.get("/api/v1/me").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert annotator_client.get("/api/v1/me").status_code == 200
    assert not [q for q in queries.captured_queries if "authtoken_token" in q["sql"]]


def test_a_revoked_token_stops_working_at_once_in_the_same_process(annotator_client, project):
    assert annotator_client.get(next_url(project)).status_code == 200
    assert annotator_client.delete("/api/v1/auth/token").status_code == 204
    assert annotator_client.get(next_url(project)).status_code == 401
    assert annotator_client.get("/api/v1/me").status_code == 401


def test_a_user_deactivated_with_save_is_refused_at_once(annotator, annotator_client, project):
    assert annotator_client.get(next_url(project)).status_code == 200
    annotator.is_active = False
    annotator.save()
    answer = annotator_client.get(next_url(project))
    assert answer.status_code == 401
    assert answer.json()["detail"] == "User inactive or deleted."


def test_changes_other_processes_make_take_effect_within_the_cache_time(annotator, annotator_client, project, later):
    """Writes that send no signal here (another gunicorn worker, QuerySet.update) are seen once the entry runs out."""
    assert annotator_client.get(next_url(project)).status_code == 200
    User.objects.filter(pk=annotator.pk).update(is_active=False)  # no signal
    assert annotator_client.get(next_url(project)).status_code == 200  # still cached
    later(authentication.settings.API_TOKEN_CACHE_SECONDS + 0.1)
    assert annotator_client.get(next_url(project)).status_code == 401

    User.objects.filter(pk=annotator.pk).update(is_active=True)
    assert annotator_client.get(next_url(project)).status_code == 200  # inactive users are not cached
    with connection.cursor() as cursor:  # no signal either
        cursor.execute("DELETE FROM authtoken_token WHERE user_id = %s", [annotator.pk])
    later(authentication.settings.API_TOKEN_CACHE_SECONDS + 0.1)
    assert annotator_client.get(next_url(project)).status_code == 401


def test_the_cache_can_be_turned_off(annotator, annotator_client, project, settings):
    settings.API_TOKEN_CACHE_SECONDS = 0
    assert annotator_client.get(next_url(project)).status_code == 200
    User.objects.filter(pk=annotator.pk).update(is_active=False)
    assert annotator_client.get(next_url(project)).status_code == 401


# --- Statements per request -------------------------------------------------------------------
def test_next_and_submit_send_one_statement_each_on_postgresql(project, make_prompt, annotator_client, monkeypatch):
    """With the token cached and no expiry sweep due: next = the permission check, the caller's open
    task and the claim in one statement; submit = the checked recording. SQLite takes the ORM way, in a
    few more."""
    for _ in range(4):
        make_prompt(project, k=5)
    monkeypatch.setattr(tasks_service, "_last_sweep", time.monotonic())  # no expiry sweep due
    warm = annotator_client.get(next_url(project)).json()  # token cached, statements prepared
    annotator_client.post(submit_url(warm["assignment_id"]), {"order": best_first(warm)}, format="json")

    next_statements, answer = count_statements(annotator_client, "GET", next_url(project))
    task = answer.json()
    assert task["assignment_id"] is not None
    submit_statements, answer = count_statements(
        annotator_client, "POST", submit_url(task["assignment_id"]), {"order": best_first(task), "seconds": 3}
    )
    assert answer.status_code == 201
    if connection.vendor == "postgresql":
        assert (next_statements, submit_statements) == (1, 1)
    else:
        assert next_statements <= 6 and submit_statements <= 6


def test_next_releases_the_callers_own_expired_task_and_claims_again(project, make_prompt, annotator_client):
    """The caller's open task has run out: next expires it and hands out a task again (its row reopened)."""
    make_prompt(project, k=3)
    first = annotator_client.get(next_url(project)).json()
    Assignment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    again = annotator_client.get(next_url(project)).json()
    assert again["assignment_id"] == first["assignment_id"]
    assignment = Assignment.objects.get()
    assert (assignment.state, assignment.expires_at > timezone.now()) == ("open", True)
    assert Prompt.objects.get().open_assignment_count == 1


def test_next_on_an_empty_pool_releases_stale_tasks_of_others(project, make_prompt, annotator_client, admin_client_api):
    project.rankings_per_prompt = 1
    project.save()
    make_prompt(project, k=2)
    held = admin_client_api.get(next_url(project)).json()
    assert annotator_client.get(next_url(project)).json()["assignment_id"] is None  # the only slot is held
    Assignment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    task = annotator_client.get(next_url(project)).json()
    assert task["assignment_id"] not in (None, held["assignment_id"])
    assert sorted(Assignment.objects.values_list("state", flat=True)) == ["expired", "open"]
    assert Prompt.objects.get().open_assignment_count == 1


@pytest.mark.parametrize("case", ["tie not allowed", "one missing", "one extra", "another prompt's"])
def test_a_wrong_order_through_the_one_statement_path_writes_nothing(project, make_prompt, annotator_client, case):
    """The one-statement submit checks the order against the task in SQL; the answer is the locked path's 400."""
    prompts = [make_prompt(project, k=3), make_prompt(project, k=2)]
    task = annotator_client.get(next_url(project)).json()
    ids = [completion["id"] for completion in task["completions"]]
    other = next(prompt for prompt in prompts if prompt.pk != task["prompt"]["id"])
    foreign = list(Completion.objects.filter(prompt=other).values_list("pk", flat=True))
    order = {
        "tie not allowed": [ids[:2], ids[2:]],
        "one missing": [[i] for i in ids[:-1]],
        "one extra": [[i] for i in ids] + [[foreign[0]]],
        "another prompt's": [[i] for i in ids[:-1]] + [[foreign[0]]],
    }[case]
    answer = annotator_client.post(submit_url(task["assignment_id"]), {"order": order}, format="json")
    assert answer.status_code == 400 and answer.json()["detail"].startswith("order:"), answer.json()
    assert not Ranking.objects.exists()
    assert Assignment.objects.get(pk=task["assignment_id"]).state == "open"


# --- The lean views answer as the DRF views do --------------------------------------------------
def drf_answer(client: APIClient, method: str, url: str, body=None):
    """The same request through the DRF view (a query string sends it there)."""
    url = f"{url}?via=drf"
    return client.get(url) if method == "GET" else client.post(url, body, format="json")


def test_next_answers_the_same_through_the_lean_and_the_drf_view(project, make_prompt, annotator_client):
    make_prompt(project, k=3, text="Prompt", context=[{"role": "user", "text": "Hi"}])
    lean = annotator_client.get(next_url(project))
    drf = drf_answer(annotator_client, "GET", next_url(project))
    assert lean.status_code == drf.status_code == 200
    assert lean.content == drf.content  # the same open task, byte for byte
    for header in ("Content-Type", "Allow", "Vary"):
        assert lean[header] == drf[header]
    missing = f"/api/v1/projects/{project.pk + 1000}/tasks/next"
    assert annotator_client.get(missing).content == drf_answer(annotator_client, "GET", missing).content


@pytest.mark.parametrize(
    "body",
    [
        {"order": [[1]]},
        {"order": None},
        {"comment": "no order"},
        {"order": "best first"},
        {"order": [[1]], "seconds": -1},
        {"order": [[1]], "seconds": "soon"},
        {"order": [[1]], "flags": None},
        {"order": [[1]], "comment": "x" * 10_001},
    ],
    ids=["foreign id", "null order", "no order", "not a list", "negative seconds", "bad seconds", "null flags", "long"],
)
def test_submit_errors_are_the_same_through_the_lean_and_the_drf_view(project, make_prompt, annotator_client, body):
    make_prompt(project, k=3)
    task = annotator_client.get(next_url(project)).json()
    lean = annotator_client.post(submit_url(task["assignment_id"]), body, format="json")
    drf = drf_answer(annotator_client, "POST", submit_url(task["assignment_id"]), body)
    assert lean.status_code == drf.status_code == 400
    assert lean.json() == drf.json()
    assert not Ranking.objects.exists()


def test_a_submit_with_a_comment_is_validated_by_the_serializer(project, make_prompt, annotator_client):
    make_prompt(project, k=2)
    task = annotator_client.get(next_url(project)).json()
    body = {"order": best_first(task), "comment": "  fine  ", "seconds": "12.5"}
    answer = annotator_client.post(submit_url(task["assignment_id"]), body, format="json")
    assert answer.status_code == 201, answer.json()
    assert (answer.json()["comment"], answer.json()["seconds"]) == ("fine", 12.5)


def test_session_callers_and_bad_tokens_are_answered_by_drf(project, make_prompt, annotator):
    make_prompt(project, k=2)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    answer = bad.get(next_url(project))
    assert (answer.status_code, answer["WWW-Authenticate"], answer.json()["detail"]) == (401, "Token", "Invalid token.")
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(annotator)
    task = browser.get(next_url(project)).json()
    answer = browser.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    assert answer.status_code == 403 and "CSRF" in answer.json()["detail"]
    assert Assignment.objects.get().state == "open"


def test_staff_use_the_lean_view_on_any_project(project, make_prompt, admin_client_api):
    make_prompt(project, k=2)
    task = admin_client_api.get(next_url(project)).json()
    answer = admin_client_api.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    assert answer.status_code == 201
    again = admin_client_api.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    assert (again.status_code, again.json()["id"]) == (200, answer.json()["id"])


# --- LeanApiMiddleware: the whole stack's answer, without the stack ------------------------------
LEAN_MIDDLEWARE = "annotate.api.lean.LeanApiMiddleware"


def whole_stack(settings, user) -> APIClient:
    """A client for ``user`` whose requests go through the whole stack (a client loads MIDDLEWARE once)."""
    settings.MIDDLEWARE = [path for path in settings.MIDDLEWARE if path != LEAN_MIDDLEWARE]
    return client_for(user)


def test_the_lean_middleware_is_first_and_knows_the_two_routes():
    from django.conf import settings

    from annotate.api.lean import lean_route, lean_routes

    assert settings.MIDDLEWARE[0] == LEAN_MIDDLEWARE
    routes = lean_routes()
    assert len(routes) == 2
    assert lean_route(routes, "/api/v1/projects/12/tasks/next")[1] == {"project_id": 12}
    assert lean_route(routes, "/api/v1/assignments/7/ranking")[1] == {"assignment_id": 7}
    for other in ("/api/v1/projects/12/tasks/next/", "/api/v1/projects/x/tasks/next", "/api/v1/assignments/7/skip"):
        assert lean_route(routes, other) is None


def test_lean_answers_skip_the_rest_of_the_stack(project, make_prompt, annotator_client, monkeypatch):
    from django.contrib.messages.middleware import MessageMiddleware

    calls = []
    monkeypatch.setattr(MessageMiddleware, "process_request", lambda self, request: calls.append(request.path))
    make_prompt(project, k=2)
    assert annotator_client.get(next_url(project)).status_code == 200
    assert calls == []
    assert annotator_client.get(f"{next_url(project)}?via=drf").status_code == 200  # not lean: the whole stack
    assert calls == [next_url(project)]


@pytest.mark.parametrize("case", ["next", "no such project", "bad order", "not the caller's"])
def test_lean_answers_carry_what_the_whole_stack_adds(
    project, make_prompt, annotator, annotator_client, settings, case
):
    """Status, body and every header (security headers, X-Frame-Options, Content-Length) as without the middleware."""
    make_prompt(project, k=3)
    task = annotator_client.get(next_url(project)).json()
    method, url, body = {
        "next": ("GET", next_url(project), None),
        "no such project": ("GET", f"/api/v1/projects/{project.pk + 99}/tasks/next", None),
        "bad order": ("POST", submit_url(task["assignment_id"]), {"order": [[1]]}),
        "not the caller's": ("POST", submit_url(task["assignment_id"] + 99), {"order": best_first(task)}),
    }[case]

    def call(client):
        answer = client.get(url) if method == "GET" else client.post(url, body, format="json")
        return answer.status_code, answer.content, dict(answer.headers)

    lean = call(annotator_client)
    assert call(whole_stack(settings, annotator)) == lean
    assert lean[2]["X-Frame-Options"] == "DENY" and lean[2]["X-Content-Type-Options"] == "nosniff"


def test_a_submit_answers_with_the_same_headers_either_way(project, make_prompt, annotator, annotator_client, settings):
    make_prompt(project, k=2)
    make_prompt(project, k=2)
    answers = []
    for client in (annotator_client, "whole stack"):
        client = whole_stack(settings, annotator) if client == "whole stack" else client
        task = client.get(next_url(project)).json()
        answer = client.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
        answers.append((answer.status_code, dict(answer.headers)))
    assert answers[0] == answers[1] and answers[0][0] == 201


def test_with_a_middleware_it_does_not_know_the_lean_middleware_stays_out_of_the_way(settings):
    from annotate.api.lean import LeanApiMiddleware

    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    assert LeanApiMiddleware(lambda request: None).routes is None


# --- The comparison-expansion hook --------------------------------------------------------------
def test_with_a_broker_the_hook_enqueues_one_message_per_batch(monkeypatch):
    from config.celery import app
    from rewardtrain import tasks as rewardtrain_tasks
    from rewardtrain.services import expansion_queue

    sent: list[list[int]] = []
    monkeypatch.setattr(rewardtrain_tasks.comparisons_expand_rankings, "delay", sent.append)
    monkeypatch.setattr(rewardtrain_tasks.comparisons_expand_ranking, "delay", lambda *a: pytest.fail("not batched"))
    monkeypatch.setattr(expansion_queue, "FLUSH_SECONDS", 0.05)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # as with REDIS_URL set
    try:
        for ranking_id in (11, 12, 13):
            expansion_queue.ranking_expansion_request(ranking_id=ranking_id)
        deadline = time.monotonic() + 5
        while not sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        app.conf.task_always_eager = eager
    assert sent == [[11, 12, 13]]
    assert expansion_queue.ranking_expansion_flush() == 0


def test_without_a_broker_the_hook_expands_in_the_caller(monkeypatch, celery_eager):
    from rewardtrain import tasks as rewardtrain_tasks
    from rewardtrain.services import expansion_queue

    ran: list[int] = []
    monkeypatch.setattr(rewardtrain_tasks.comparisons_expand_ranking, "delay", ran.append)
    expansion_queue.ranking_expansion_request(ranking_id=7)
    assert ran == [7]
