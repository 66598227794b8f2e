"""The task loop over HTTP: next, submit, skip, progress, for an admin, an annotator, an outsider, anonymous."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.models import Assignment, Project, Ranking
from annotate.services import tasks as tasks_service


def next_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/tasks/next"


def submit_url(assignment_id: int) -> str:
    return f"/api/v1/assignments/{assignment_id}/ranking"


def best_first(task: dict) -> list[list[int]]:
    return [[completion["id"]] for completion in task["completions"]]


@pytest.fixture
def task(project, make_prompt, annotator_client) -> dict:
    make_prompt(project, k=3, text="Write a <b>haiku</b>.", context=[{"role": "user", "text": "Hi"}])
    return annotator_client.get(next_url(project)).json()


def test_next_answers_the_task_with_completions_in_the_shown_order(project, task):
    assert task["assignment_id"] == Assignment.objects.get().pk
    assert task["prompt"]["text"] == "Write a <b>haiku</b>."
    assert task["prompt"]["context"] == [{"role": "user", "text": "Hi"}]
    assert [c["id"] for c in task["completions"]] == Assignment.objects.get().shown_order
    assert task["instructions"] == project.instructions
    assert task["allow_ties"] is False
    assert "unsafe" in task["flags"]


def test_next_answers_the_same_task_until_it_is_done(project, task, annotator_client):
    assert annotator_client.get(next_url(project)).json()["assignment_id"] == task["assignment_id"]


def test_next_says_so_when_nothing_is_left(project, annotator_client):
    answer = annotator_client.get(next_url(project))
    assert answer.status_code == 200
    assert answer.json()["assignment_id"] is None
    assert "No task left" in answer.json()["message"]


def test_staff_get_tasks_of_any_project(project, make_prompt, admin_client_api):
    make_prompt(project)
    assert admin_client_api.get(next_url(project)).json()["assignment_id"] is not None


def test_outsiders_do_not_see_the_project(project, make_prompt, outsider_client):
    make_prompt(project)
    assert outsider_client.get(next_url(project)).status_code == 404
    assert outsider_client.get(f"/api/v1/projects/{project.pk}/tasks/progress").status_code == 404
    assert not Assignment.objects.exists()


def test_anonymous_callers_must_log_in(project, anonymous_client):
    assert anonymous_client.get(next_url(project)).status_code == 401
    assert anonymous_client.post(submit_url(1), {"order": [[1]]}, format="json").status_code == 401
    assert anonymous_client.post("/api/v1/assignments/1/skip", {}, format="json").status_code == 401


def test_submit_records_the_ranking(project, task, annotator_client, django_capture_on_commit_callbacks):
    ids = [c["id"] for c in task["completions"]]
    body = {
        "order": [[ids[2]], [ids[0]], [ids[1]]],
        "flags": {str(ids[1]): ["incorrect"]},
        "comment": "ok",
        "seconds": 8,
    }
    with django_capture_on_commit_callbacks(execute=True):
        answer = annotator_client.post(submit_url(task["assignment_id"]), body, format="json")
    assert answer.status_code == 201, answer.json()
    ranking = Ranking.objects.get()
    assert answer.json()["id"] == ranking.pk
    assert (ranking.order, ranking.flags, ranking.comment, ranking.seconds) == (body["order"], body["flags"], "ok", 8)
    progress = annotator_client.get(f"/api/v1/projects/{project.pk}/tasks/progress").json()
    assert progress == {"done_today": 1, "done_total": 1, "left": 2}


def test_a_resubmitted_ranking_answers_200_with_the_same_ranking(task, annotator_client):
    body = {"order": best_first(task)}
    first = annotator_client.post(submit_url(task["assignment_id"]), body, format="json")
    again = annotator_client.post(submit_url(task["assignment_id"]), body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Ranking.objects.count() == 1


def test_a_different_second_ranking_answers_409(task, annotator_client):
    annotator_client.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    answer = annotator_client.post(submit_url(task["assignment_id"]), {"order": best_first(task)[::-1]}, format="json")
    assert answer.status_code == 409
    assert "different ranking" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("make_order", "message"),
    [
        (lambda ids: [[ids[0]], [ids[1]]], "completions missing from the ranking"),
        (lambda ids: [[ids[0]], [ids[1]], [ids[2]], [ids[1]]], "appears more than once"),
        (lambda ids: [[ids[0]], [ids[1]], [ids[2]], [999999]], "completion 999999 is not one of this task's"),
        (lambda ids: [[ids[0], ids[1]], [ids[2]]], "does not allow ties"),
        (lambda ids: "best first", "must be a non-empty list"),
    ],
    ids=["missing id", "duplicate id", "foreign id", "tie not allowed", "not a list"],
)
def test_a_bad_order_answers_400_naming_the_problem(task, annotator_client, make_order, message):
    ids = [c["id"] for c in task["completions"]]
    answer = annotator_client.post(submit_url(task["assignment_id"]), {"order": make_order(ids)}, format="json")
    assert answer.status_code == 400
    assert message in answer.json()["detail"]
    assert not Ranking.objects.exists()


def test_a_missing_order_answers_400(task, annotator_client):
    answer = annotator_client.post(submit_url(task["assignment_id"]), {"comment": "hm"}, format="json")
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("order:")


def test_an_expired_task_answers_400(task, annotator_client):
    Assignment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    answer = annotator_client.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    assert answer.status_code == 400
    assert "expired" in answer.json()["detail"]
    assert not Ranking.objects.exists()


def test_another_annotators_task_answers_404_like_a_missing_one(task, admin_client_api, outsider_client):
    body = {"order": best_first(task)}
    assert admin_client_api.post(submit_url(task["assignment_id"]), body, format="json").status_code == 404
    assert outsider_client.post(submit_url(task["assignment_id"]), body, format="json").status_code == 404
    assert (
        outsider_client.post(f"/api/v1/assignments/{task['assignment_id']}/skip", {}, format="json").status_code == 404
    )
    assert outsider_client.post(submit_url(987654), body, format="json").status_code == 404
    assert not Ranking.objects.exists()
    assert Assignment.objects.get().state == "open"


def test_skip_gives_the_task_back_and_next_moves_on(project, make_prompt, task, annotator_client):
    make_prompt(project, k=2, text="Another")
    answer = annotator_client.post(
        f"/api/v1/assignments/{task['assignment_id']}/skip", {"reason": "not English"}, format="json"
    )
    assert answer.status_code == 200
    assert answer.json() == {"id": task["assignment_id"], "state": "skipped", "skip_reason": "not English"}
    assert annotator_client.get(next_url(project)).json()["prompt"]["text"] == "Another"


def test_skipping_a_ranked_task_answers_409(task, annotator_client):
    annotator_client.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    answer = annotator_client.post(f"/api/v1/assignments/{task['assignment_id']}/skip", {}, format="json")
    assert answer.status_code == 409


def test_session_posts_need_the_csrf_token(project, make_prompt, annotator):
    make_prompt(project, k=2)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(annotator)
    task = browser.get(next_url(project)).json()
    answer = browser.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    assert answer.status_code == 403
    assert "CSRF" in answer.json()["detail"]
    assert not Ranking.objects.exists()


def test_next_and_submit_use_few_queries(
    project, make_prompt, annotator_client, django_assert_max_num_queries, monkeypatch
):
    for _ in range(3):
        make_prompt(project, k=6)
    monkeypatch.setattr(tasks_service, "_last_sweep", time.monotonic())  # no expiry sweep due
    # Counted here: SAVEPOINT and RELEASE (BEGIN and COMMIT in production); the rest is one query each.
    with django_assert_max_num_queries(9):
        task = annotator_client.get(next_url(project)).json()
    with django_assert_max_num_queries(8):
        answer = annotator_client.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    assert answer.status_code == 201


def test_an_annotator_removed_from_the_project_gets_no_more_tasks(project, make_prompt, annotator, annotator_client):
    make_prompt(project)
    project.annotators.remove(annotator)
    assert annotator_client.get(next_url(project)).status_code == 404
    assert Project.objects.filter(annotators=annotator).count() == 0
