"""/api/v1/projects: staff manage projects, annotators read their own, everyone else is kept out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.http import Http404
from django.utils import timezone
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from annotate.api.permissions import CanAccessProject
from annotate.models import Assignment, Project, Prompt
from annotate.services.rankings import ranking_record

LIST_URL = "/api/v1/projects"


def detail_url(project: Project) -> str:
    return f"/api/v1/projects/{project.pk}"


@pytest.fixture
def other_project(db) -> Project:
    """A project the annotator is not on."""
    return Project.objects.create(name="Other project")


def rank(prompt: Prompt, user) -> None:
    now = timezone.now()
    ids = list(prompt.completions.values_list("id", flat=True))
    assignment = Assignment.objects.create(
        prompt=prompt, annotator=user, started_at=now, expires_at=now + timedelta(minutes=30), shown_order=ids
    )
    ranking_record(assignment=assignment, order=[[i] for i in ids], seconds=10.0)


# --- list --------------------------------------------------------------------------------


def test_staff_list_every_project_with_all_fields(admin_client_api, project, other_project, make_prompt):
    make_prompt(project)
    response = admin_client_api.get(LIST_URL)
    assert response.status_code == 200
    assert response.data["count"] == 2
    by_name = {row["name"]: row for row in response.data["results"]}
    assert by_name["Test project"]["annotators"] == ["annotator"]
    assert by_name["Test project"]["prompt_count"] == 1
    assert by_name["Other project"]["rankings_per_prompt"] == 3


def test_an_annotator_lists_only_their_projects_without_the_member_list(annotator_client, project, other_project):
    response = annotator_client.get(LIST_URL)
    assert response.status_code == 200
    assert [row["name"] for row in response.data["results"]] == ["Test project"]
    row = response.data["results"][0]
    assert row["instructions"] == "Rank the replies, best first."
    assert "annotators" not in row and "base_model" not in row


def test_an_outsider_lists_no_projects(outsider_client, project):
    response = outsider_client.get(LIST_URL)
    assert response.status_code == 200
    assert response.data["results"] == []


def test_the_list_is_paginated(admin_client_api, db):
    for i in range(3):
        Project.objects.create(name=f"Project {i}")
    response = admin_client_api.get(LIST_URL, {"limit": 2})
    assert response.data["count"] == 3
    assert len(response.data["results"]) == 2
    assert response.data["next"]


def test_anonymous_callers_get_401_everywhere(anonymous_client, project):
    for method, url in [
        ("get", LIST_URL),
        ("post", LIST_URL),
        ("get", detail_url(project)),
        ("patch", detail_url(project)),
        ("delete", detail_url(project)),
        ("post", f"{detail_url(project)}/annotators"),
        ("delete", f"{detail_url(project)}/annotators"),
        ("get", f"{detail_url(project)}/progress"),
    ]:
        response = getattr(anonymous_client, method)(url, {}, format="json")
        assert response.status_code == 401, (method, url)


# --- create ------------------------------------------------------------------------------


def test_staff_create_a_project_with_defaults(admin_client_api, annotator):
    response = admin_client_api.post(LIST_URL, {"name": "Helpfulness", "annotators": ["annotator"]}, format="json")
    assert response.status_code == 201, response.data
    project = Project.objects.get(name="Helpfulness")
    assert response.data["id"] == project.pk
    assert (project.min_completions, project.max_completions, project.rankings_per_prompt) == (4, 9, 3)
    assert project.shuffle_completions is True
    assert project.render_markdown is True
    assert list(project.annotators.all()) == [annotator]


def test_staff_create_a_project_with_every_setting(admin_client_api, db):
    payload = {
        "name": "Pairs",
        "instructions": "Pick the better reply.",
        "min_completions": 2,
        "max_completions": 2,
        "rankings_per_prompt": 1,
        "allow_ties": True,
        "shuffle_completions": False,
        "render_markdown": False,
        "assignment_minutes": 10,
        "base_model": "/models/minilm",
        "retrain_after_rankings": 0,
        "retrain_daily": True,
    }
    response = admin_client_api.post(LIST_URL, payload, format="json")
    assert response.status_code == 201, response.data
    assert {key: response.data[key] for key in payload} == payload


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"name": "X", "min_completions": 6, "max_completions": 4}, "min_completions: must not exceed"),
        ({"name": "X", "max_completions": 17}, "max_completions: must be at most 16"),
        ({"name": "X", "min_completions": 1}, "min_completions:"),
        ({"name": "X", "min_completions": 10}, "min_completions: must not exceed max_completions (10 > 9)"),
        ({"name": "X", "rankings_per_prompt": 0}, "rankings_per_prompt:"),
        ({"instructions": "no name"}, "name:"),
        ({"name": "X", "annotators": ["nobody"]}, "usernames: unknown users: nobody"),
    ],
)
def test_it_rejects_an_invalid_project(admin_client_api, db, payload, message):
    response = admin_client_api.post(LIST_URL, payload, format="json")
    assert response.status_code == 400
    assert response.data["detail"].startswith(message), response.data
    assert not Project.objects.exists()


def test_it_rejects_a_duplicate_project_name(admin_client_api, project):
    response = admin_client_api.post(LIST_URL, {"name": project.name}, format="json")
    assert response.status_code == 400
    assert response.data["detail"].startswith("name:")


def test_annotators_cannot_create_projects(annotator_client, outsider_client, db):
    for client in (annotator_client, outsider_client):
        response = client.post(LIST_URL, {"name": "Mine"}, format="json")
        assert response.status_code == 403
    assert not Project.objects.exists()


# --- detail ------------------------------------------------------------------------------


def test_staff_read_any_project(admin_client_api, other_project):
    response = admin_client_api.get(detail_url(other_project))
    assert response.status_code == 200
    assert response.data["name"] == "Other project"
    assert response.data["annotators"] == []


def test_an_annotator_reads_their_project_with_fewer_fields(annotator_client, project):
    response = annotator_client.get(detail_url(project))
    assert response.status_code == 200
    assert set(response.data) == {"id", "name", "instructions", "min_completions", "max_completions", "allow_ties"}


def test_other_projects_are_404_for_annotators_and_outsiders(annotator_client, outsider_client, project, other_project):
    assert annotator_client.get(detail_url(other_project)).status_code == 404
    assert outsider_client.get(detail_url(project)).status_code == 404
    assert outsider_client.patch(detail_url(project), {"name": "x"}, format="json").status_code == 404
    assert annotator_client.get("/api/v1/projects/999999").status_code == 404


def test_staff_change_a_project(admin_client_api, project, outsider):
    response = admin_client_api.patch(
        detail_url(project), {"max_completions": 5, "annotators": ["outsider"]}, format="json"
    )
    assert response.status_code == 200, response.data
    project.refresh_from_db()
    assert project.max_completions == 5
    assert project.min_completions == 4  # untouched
    assert list(project.annotators.all()) == [outsider]
    assert response.data["annotators"] == ["outsider"]


def test_a_change_is_checked_against_the_values_it_keeps(admin_client_api, project):
    response = admin_client_api.patch(detail_url(project), {"max_completions": 3}, format="json")
    assert response.status_code == 400
    assert "must not exceed max_completions (4 > 3)" in response.data["detail"]
    project.refresh_from_db()
    assert project.max_completions == 9


def test_staff_pick_the_active_learning_strategy_and_the_queue_follows(
    admin_client_api, project, make_prompt, django_capture_on_commit_callbacks, celery_eager
):
    first, second = make_prompt(project), make_prompt(project)
    Prompt.objects.filter(pk=second.pk).update(model_uncertainty=0.9)
    Prompt.objects.filter(pk=first.pk).update(model_uncertainty=0.1)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_api.patch(
            detail_url(project), {"acquisition_strategy": "uncertainty", "acquisition_exploration": 0}, format="json"
        )
    assert response.status_code == 200, response.data
    assert (response.data["acquisition_strategy"], response.data["acquisition_exploration"]) == ("uncertainty", 0.0)
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.claim_priority > first.claim_priority


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"acquisition_strategy": "loudest"}, "acquisition_strategy"),
        ({"acquisition_exploration": 1.5}, "acquisition_exploration"),
        ({"acquisition_exploration": -0.1}, "acquisition_exploration"),
    ],
)
def test_an_unknown_strategy_or_share_is_refused_and_changes_nothing(admin_client_api, project, payload, field):
    response = admin_client_api.patch(detail_url(project), payload, format="json")
    assert response.status_code == 400
    assert field in response.data["errors"]
    project.refresh_from_db()
    assert (project.acquisition_strategy, project.acquisition_exploration) == ("coverage", 0.2)


def test_annotators_cannot_change_the_strategy(annotator_client, project):
    response = annotator_client.patch(detail_url(project), {"acquisition_strategy": "uncertainty"}, format="json")
    assert response.status_code == 403
    assert "acquisition_strategy" not in annotator_client.get(detail_url(project)).data


def test_annotators_cannot_change_or_delete_their_project(annotator_client, project):
    assert annotator_client.patch(detail_url(project), {"name": "Mine"}, format="json").status_code == 403
    assert annotator_client.delete(detail_url(project)).status_code == 403
    project.refresh_from_db()
    assert project.name == "Test project"


def test_staff_delete_a_project_with_its_prompts(admin_client_api, project, make_prompt):
    make_prompt(project)
    response = admin_client_api.delete(detail_url(project))
    assert response.status_code == 204
    assert not Project.objects.exists() and not Prompt.objects.exists()


def test_a_ranked_project_cannot_be_deleted(admin_client_api, project, make_prompt, annotator):
    rank(make_prompt(project), annotator)
    response = admin_client_api.delete(detail_url(project))
    assert response.status_code == 409
    assert "has 1 rankings" in response.data["detail"]
    assert Project.objects.filter(pk=project.pk).exists()


# --- membership --------------------------------------------------------------------------


def test_staff_add_and_remove_annotators(admin_client_api, project, outsider):
    url = f"{detail_url(project)}/annotators"
    response = admin_client_api.post(url, {"usernames": ["outsider"]}, format="json")
    assert response.status_code == 200
    assert response.data == {"annotators": ["annotator", "outsider"]}
    response = admin_client_api.delete(url, {"usernames": ["annotator"]}, format="json")
    assert response.status_code == 200
    assert response.data == {"annotators": ["outsider"]}


def test_membership_changes_name_unknown_users_and_change_nothing(admin_client_api, project):
    url = f"{detail_url(project)}/annotators"
    response = admin_client_api.post(url, {"usernames": ["ghost", "annotator", "phantom"]}, format="json")
    assert response.status_code == 400
    assert response.data["detail"] == "usernames: unknown users: ghost, phantom"
    assert admin_client_api.post(url, {"usernames": []}, format="json").status_code == 400
    assert admin_client_api.post("/api/v1/projects/999999/annotators", {"usernames": ["annotator"]}).status_code == 404


def test_annotators_cannot_change_membership(annotator_client, outsider_client, project, outsider):
    url = f"{detail_url(project)}/annotators"
    assert annotator_client.post(url, {"usernames": ["outsider"]}, format="json").status_code == 403
    assert outsider_client.post(url, {"usernames": ["outsider"]}, format="json").status_code == 403
    assert annotator_client.delete(url, {"usernames": ["annotator"]}, format="json").status_code == 403
    assert list(project.annotators.values_list("username", flat=True)) == ["annotator"]


# --- progress ----------------------------------------------------------------------------


def test_staff_see_progress_overall_and_per_annotator(admin_client_api, project, make_prompt, annotator, outsider):
    second = get_user_model().objects.create_user("second")
    project.annotators.add(second)
    project.rankings_per_prompt = 1
    project.save()
    first_prompt, second_prompt, _ = make_prompt(project), make_prompt(project), make_prompt(project)
    rank(first_prompt, annotator)
    rank(first_prompt, outsider)  # a former member: counted, shown as not a member
    rank(second_prompt, annotator)
    now = timezone.now()
    Assignment.objects.create(
        prompt=_, annotator=second, started_at=now, expires_at=now + timedelta(minutes=5), shown_order=[]
    )

    response = admin_client_api.get(f"{detail_url(project)}/progress")
    assert response.status_code == 200
    data = response.data
    assert (data["prompts"], data["rankings"], data["rankings_wanted"]) == (3, 3, 3)
    assert data["rankings_done"] == 2  # the second ranking of the first prompt is beyond the target
    assert data["prompts_complete"] == 2
    by_name = {row["username"]: row for row in data["annotators"]}
    assert by_name["annotator"] == {
        "username": "annotator",
        "is_member": True,
        "rankings": 2,
        "open_tasks": 0,
        "skipped": 0,
        "mean_seconds": 10.0,
    }
    assert by_name["outsider"]["is_member"] is False
    assert by_name["second"]["open_tasks"] == 1 and by_name["second"]["rankings"] == 0


def test_progress_of_an_empty_project(admin_client_api, other_project):
    data = admin_client_api.get(f"{detail_url(other_project)}/progress").data
    assert data == {
        "prompts": 0,
        "rankings": 0,
        "rankings_wanted": 0,
        "rankings_done": 0,
        "prompts_complete": 0,
        "annotators": [],
    }


def test_progress_is_staff_only(annotator_client, outsider_client, project):
    assert annotator_client.get(f"{detail_url(project)}/progress").status_code == 403
    assert outsider_client.get(f"{detail_url(project)}/progress").status_code == 403


# --- the reusable permission --------------------------------------------------------------


def test_can_access_project_lets_staff_and_members_in_and_hides_the_project_from_others(
    admin_user, annotator, outsider, project, make_prompt
):
    prompt = make_prompt(project)
    permission = CanAccessProject()
    view = APIView()
    view.kwargs = {"project_id": project.pk}

    def request_as(user):
        request = APIRequestFactory().get("/")
        force_authenticate(request, user=user)
        return APIView().initialize_request(request)

    for user in (admin_user, annotator):
        request = request_as(user)
        assert permission.has_permission(request, view)
        assert permission.has_object_permission(request, view, prompt)
    request = request_as(outsider)
    with pytest.raises(Http404):
        permission.has_permission(request, view)
    with pytest.raises(Http404):
        permission.has_object_permission(request, view, prompt)
