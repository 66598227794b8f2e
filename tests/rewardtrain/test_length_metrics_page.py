"""The project page shows the active model's length metrics (templates/rewardtrain/_length_metrics.html)."""

from __future__ import annotations

import pytest
from django.test import Client

from rewardtrain.models import ModelVersion


def page_of(user, project) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/projects/{project.id}/")
    assert response.status_code == 200
    return response.content.decode()


METRICS = {
    "pairwise_accuracy": 0.654,
    "length_baseline_accuracy": 0.66,
    "length_balanced_accuracy": 0.5125,
    "prefers_longer_share": 0.87,
    "humans_longer_wins_share": 0.66,
    "reward_length_correlation": 0.71,
    "human_length_correlation": 0.3,
    "length_counts": {"pairs_of_unequal_length": 987},
}


@pytest.mark.django_db
def test_staff_see_the_active_versions_length_metrics_beside_accuracy(admin_user, project):
    ModelVersion.objects.create(
        project=project, version=1, artifact_path="old", metrics={**METRICS, "prefers_longer_share": 0.5}
    )
    ModelVersion.objects.create(project=project, version=2, artifact_path="a", metrics=METRICS, is_active=True)
    ModelVersion.objects.create(project=project, version=3, artifact_path="b", metrics={})  # newer, not promoted

    page = page_of(admin_user, project)
    section = page.split('id="length-metrics"')[1].split("</div>")[0]
    assert "Version 2," in section and "987 pairs" in section
    for shown in ("65.4%", "66.0%", "51.2%", "87.0%", "0.71 (humans 0.30)"):
        assert shown in section


@pytest.mark.django_db
def test_without_an_active_version_the_newest_is_shown_and_without_any_nothing(admin_user, project):
    assert 'id="length-metrics"' not in page_of(admin_user, project)
    ModelVersion.objects.create(project=project, version=1, artifact_path="a", metrics={"pairwise_accuracy": 0.5})
    section = page_of(admin_user, project).split('id="length-metrics"')[1].split("</div>")[0]
    assert "(newest; none is active)" in section and "50.0%" in section and "–" in section
