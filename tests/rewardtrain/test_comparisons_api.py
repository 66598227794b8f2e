"""/api/v1/projects/{id}/comparisons, .../comparisons/expand and .../agreement: staff only."""

from __future__ import annotations

import pytest

from rewardtrain.models import Comparison
from tests.rewardtrain.ranking_factory import annotators, rank


@pytest.fixture
def ranked(project, make_prompt):
    raters = annotators(3)
    prompt = make_prompt(project, k=4)
    rank(prompt, raters[0], [[0], [1], [2], [3]], seconds=12, shown=[0, 1, 2, 3])
    rank(prompt, raters[1], [[0], [1, 2], [3]], seconds=18, shown=[3, 2, 1, 0])
    rank(prompt, raters[2], [[3], [2], [1], [0]], seconds=40, shown=[3, 0, 1, 2])
    return prompt


@pytest.mark.django_db
def test_staff_expand_then_list_the_comparisons(admin_client_api, project, ranked):
    response = admin_client_api.post(f"/api/v1/projects/{project.id}/comparisons/expand")
    assert response.status_code == 200
    assert response.json()["inserted"] == 18
    assert response.json()["ties"] == 1
    assert response.json()["rankings_not_expanded"] == 0

    listing = admin_client_api.get(f"/api/v1/projects/{project.id}/comparisons?ties=1").json()
    assert listing["count"] == 1
    assert listing["results"][0]["is_tie"] is True
    assert admin_client_api.get(f"/api/v1/projects/{project.id}/comparisons").json()["count"] == 18


@pytest.mark.django_db
def test_staff_read_the_agreement_report(admin_client_api, project, ranked):
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/agreement")

    assert response.status_code == 200
    report = response.json()
    assert report["summary"]["prompts_with_several_rankings"] == 1
    by_name = {annotator["username"]: annotator for annotator in report["annotators"]}
    assert set(by_name) == {"rater0", "rater1", "rater2"}
    assert by_name["rater0"]["position_bias"]["shown_first_ranked_first"] == 1.0
    assert by_name["rater1"]["position_bias"]["shown_first_ranked_first"] == 0.0
    assert by_name["rater2"]["median_seconds"] == 40
    assert report["prompts"][0]["consensus"]
    assert report["comparisons"]["rankings"] == 3


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["comparisons", "agreement", "export?format=trl", "comparisons/expand"])
def test_annotators_and_outsiders_are_refused_and_anonymous_callers_must_log_in(
    annotator_client, outsider_client, anonymous_client, project, path
):
    url = f"/api/v1/projects/{project.id}/{path}"
    call = "post" if path.endswith("expand") else "get"
    assert getattr(annotator_client, call)(url).status_code == 403
    assert getattr(outsider_client, call)(url).status_code == 403
    assert getattr(anonymous_client, call)(url).status_code == 401
    assert Comparison.objects.count() == 0


@pytest.mark.django_db
def test_an_unknown_project_is_404(admin_client_api):
    assert admin_client_api.get("/api/v1/projects/999/agreement").status_code == 404


@pytest.mark.django_db
def test_the_agreement_report_follows_new_rankings(admin_client_api, project, ranked):
    url = f"/api/v1/projects/{project.id}/agreement"
    assert admin_client_api.get(url).json()["summary"]["rankings"] == 3

    (late,) = annotators(1, prefix="late")
    rank(ranked, late, [[0], [1], [2], [3]])

    assert admin_client_api.get(url).json()["summary"]["rankings"] == 4
