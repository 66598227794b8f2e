"""Training-run and model-version endpoints: staff only, 409 on conflicts, progress in the detail."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.models import Project
from rewardtrain.models import ModelActivation, ModelVersion, TrainingRun
from tests.rewardtrain.training_helpers import add_rankings


@pytest.fixture(autouse=True)
def no_dispatch(settings):
    settings.TRAINING_DISPATCH = "poll"  # runs stay queued: these tests are about the API


@pytest.fixture
def ranked(project, annotator) -> Project:
    add_rankings(project, annotator, 3)
    return project


def runs_url(project: Project) -> str:
    return reverse("api-training-runs", args=[project.pk])


def test_staff_start_a_run_with_overrides_and_read_its_progress(admin_client_api, ranked):
    response = admin_client_api.post(runs_url(ranked), {"config": {"epochs": 2}, "model": "/m"}, format="json")
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["state"] == "queued" and run["config"]["epochs"] == 2 and run["config"]["model"] == "/m"
    TrainingRun.objects.filter(pk=run["id"]).update(step=3, total_steps=10, progress=[{"step": 3, "loss": 0.6}])
    detail = admin_client_api.get(reverse("api-training-run", args=[run["id"]])).json()
    assert detail["step"] == 3 and detail["total_steps"] == 10 and detail["progress"][0]["loss"] == 0.6
    listing = admin_client_api.get(runs_url(ranked)).json()
    assert listing["count"] == 1 and "progress" not in listing["results"][0]


def test_a_second_start_is_409_naming_the_active_run(admin_client_api, ranked):
    first = admin_client_api.post(runs_url(ranked), {}, format="json").json()
    response = admin_client_api.post(runs_url(ranked), {}, format="json")
    assert response.status_code == 409 and response.json()["run"] == first["id"]


def test_bad_overrides_and_empty_projects_are_400(admin_client_api, ranked, db):
    assert admin_client_api.post(runs_url(ranked), {"config": {"nope": 1}}, format="json").status_code == 400
    empty = Project.objects.create(name="Empty")
    response = admin_client_api.post(runs_url(empty), {}, format="json")
    assert response.status_code == 400 and "no rankings" in response.json()["detail"]


def test_cancel_then_retry(admin_client_api, ranked):
    run = admin_client_api.post(runs_url(ranked), {}, format="json").json()
    cancelled = admin_client_api.post(reverse("api-training-run-cancel", args=[run["id"]]))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert admin_client_api.post(reverse("api-training-run-cancel", args=[run["id"]])).status_code == 409
    retry = admin_client_api.post(reverse("api-training-run-retry", args=[run["id"]]))
    assert retry.status_code == 201 and retry.json()["retry_of"] == run["id"]
    assert admin_client_api.post(reverse("api-training-run-retry", args=[retry.json()["id"]])).status_code == 409


def test_models_list_and_activate_with_pin(admin_client_api, project, admin_user):
    old = ModelVersion.objects.create(project=project, version=1, artifact_path="a")
    ModelVersion.objects.create(project=project, version=2, artifact_path="b", is_active=True)
    listing = admin_client_api.get(reverse("api-model-versions", args=[project.pk])).json()
    assert [v["version"] for v in listing["results"]] == [2, 1]
    response = admin_client_api.post(reverse("api-model-activate", args=[old.pk]), {"pinned": True}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] and response.json()["pinned"]
    assert ModelActivation.objects.get().reason == "rollback"
    unpinned = admin_client_api.post(reverse("api-model-activate", args=[old.pk]), {"pinned": False}, format="json")
    assert unpinned.json()["pinned"] is False


def endpoints(project: Project, run: TrainingRun, version: ModelVersion) -> list[tuple[str, str]]:
    return [
        ("get", runs_url(project)),
        ("post", runs_url(project)),
        ("get", reverse("api-training-run", args=[run.pk])),
        ("post", reverse("api-training-run-cancel", args=[run.pk])),
        ("post", reverse("api-training-run-retry", args=[run.pk])),
        ("get", reverse("api-model-versions", args=[project.pk])),
        ("post", reverse("api-model-activate", args=[version.pk])),
    ]


@pytest.fixture
def things(ranked):
    run = TrainingRun.objects.create(project=ranked, state=TrainingRun.State.FAILED)
    version = ModelVersion.objects.create(project=ranked, version=1, artifact_path="a")
    return ranked, run, version


def test_annotators_and_outsiders_are_forbidden_everywhere(things, annotator_client, outsider_client):
    for method, url in endpoints(*things):
        assert getattr(annotator_client, method)(url, {}, format="json").status_code == 403, url
        assert getattr(outsider_client, method)(url, {}, format="json").status_code == 403, url
    assert TrainingRun.objects.count() == 1 and not ModelVersion.objects.filter(is_active=True).exists()


def test_anonymous_callers_are_unauthorized_everywhere(things, anonymous_client):
    for method, url in endpoints(*things):
        assert getattr(anonymous_client, method)(url, {}, format="json").status_code == 401, url


def test_unknown_ids_are_404_for_staff(admin_client_api, db):
    assert admin_client_api.get("/api/v1/training-runs/999").status_code == 404
    assert admin_client_api.post("/api/v1/models/999/activate", {}, format="json").status_code == 404
    assert admin_client_api.get("/api/v1/projects/999/training-runs").status_code == 404
