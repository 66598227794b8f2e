"""PUT/GET/DELETE /api/v1/prompts/{id}/gold: a prompt's reference ranking, staff only."""

from __future__ import annotations

import pytest

from annotate.models import Prompt
from tests.rewardtrain.ranking_factory import completion_ids


@pytest.fixture
def prompt(project, make_prompt) -> Prompt:
    return make_prompt(project, k=3)


@pytest.mark.django_db
def test_staff_mark_a_reference_ranking_with_ties(admin_client_api, prompt):
    ids = completion_ids(prompt)

    response = admin_client_api.put(f"/api/v1/prompts/{prompt.pk}/gold", {"order": [[ids[2]], ids[:2]]}, format="json")

    assert response.status_code == 200
    prompt.refresh_from_db()
    assert prompt.gold_order == [[ids[2]], ids[:2]]
    assert admin_client_api.get(f"/api/v1/prompts/{prompt.pk}/gold").json()["gold_order"] == prompt.gold_order
    assert admin_client_api.delete(f"/api/v1/prompts/{prompt.pk}/gold").status_code == 200
    prompt.refresh_from_db()
    assert prompt.gold_order is None


@pytest.mark.django_db
def test_an_order_missing_a_completion_is_refused_and_changes_nothing(admin_client_api, prompt):
    ids = completion_ids(prompt)

    response = admin_client_api.put(f"/api/v1/prompts/{prompt.pk}/gold", {"order": [[ids[0]], [ids[1]]]}, format="json")

    assert response.status_code == 400
    assert f"completions missing from the ranking: {ids[2]}" in str(response.json())
    prompt.refresh_from_db()
    assert prompt.gold_order is None


@pytest.mark.django_db
def test_only_staff_mark_gold(annotator_client, outsider_client, anonymous_client, prompt):
    ids = completion_ids(prompt)
    for client, status in ((annotator_client, 403), (outsider_client, 403), (anonymous_client, 401)):
        response = client.put(f"/api/v1/prompts/{prompt.pk}/gold", {"order": [[i] for i in ids]}, format="json")
        assert response.status_code == status
    prompt.refresh_from_db()
    assert prompt.gold_order is None
