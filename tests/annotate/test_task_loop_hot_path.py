"""The annotator loop's hot path (issue 3): the token cache, the one statement next and submit
send, their one request path (issue 13), and the batched comparison-expansion hook."""

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


# --- Next and submit through DRF and the whole middleware stack -------------------------------
def test_there_is_one_request_path_for_next_and_submit():
    """No front answers the annotator loop ahead of the middleware stack (issue 13)."""
    from django.conf import settings
    from django.urls import resolve

    assert not [path for path in settings.MIDDLEWARE if "lean" in path.lower()]
    with pytest.raises(ImportError):
        __import__("annotate.api.lean")
    assert resolve("/api/v1/projects/12/tasks/next").func.view_class.__name__ == "TaskNextApi"
    assert resolve("/api/v1/assignments/7/ranking").func.view_class.__name__ == "RankingSubmitApi"


def test_token_requests_go_through_the_whole_middleware_stack(project, make_prompt, annotator_client, monkeypatch):
    from django.contrib.messages.middleware import MessageMiddleware

    calls = []
    monkeypatch.setattr(MessageMiddleware, "process_request", lambda self, request: calls.append(request.path))
    make_prompt(project, k=2)
    task = annotator_client.get(next_url(project))
    assert task.status_code == 200
    answer = annotator_client.post(
        submit_url(task.json()["assignment_id"]), {"order": best_first(task.json())}, format="json"
    )
    assert answer.status_code == 201
    assert calls == [next_url(project), submit_url(task.json()["assignment_id"])]
    assert answer["X-Frame-Options"] == "DENY" and answer["X-Content-Type-Options"] == "nosniff"


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
def test_a_bad_submit_is_refused_and_writes_nothing(project, make_prompt, annotator_client, body):
    make_prompt(project, k=3)
    task = annotator_client.get(next_url(project)).json()
    answer = annotator_client.post(submit_url(task["assignment_id"]), body, format="json")
    assert answer.status_code == 400 and answer.json()["detail"]
    assert not Ranking.objects.exists()


def test_a_submit_with_a_comment_is_validated_by_the_serializer(project, make_prompt, annotator_client):
    make_prompt(project, k=2)
    task = annotator_client.get(next_url(project)).json()
    body = {"order": best_first(task), "comment": "  fine  ", "seconds": "12.5"}
    answer = annotator_client.post(submit_url(task["assignment_id"]), body, format="json")
    assert answer.status_code == 201, answer.json()
    assert (answer.json()["comment"], answer.json()["seconds"]) == ("fine", 12.5)


def test_session_callers_need_the_csrf_token_and_bad_tokens_get_401(project, make_prompt, annotator):
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


def test_staff_rank_in_any_project_and_a_repeated_submit_answers_the_stored_ranking(
    project, make_prompt, admin_client_api
):
    make_prompt(project, k=2)
    task = admin_client_api.get(next_url(project)).json()
    answer = admin_client_api.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    assert answer.status_code == 201
    again = admin_client_api.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    assert (again.status_code, again.json()["id"]) == (200, answer.json()["id"])


# --- The comparison-expansion hook --------------------------------------------------------------
def test_with_a_broker_the_hook_enqueues_one_message_per_batch(monkeypatch):
    from config.celery import app
    from rewardtrain import tasks as rewardtrain_tasks
    from rewardtrain.services import expansion_queue

    expansion_queue.ranking_expansion_flush()  # what earlier tests' submits left for their timer
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
