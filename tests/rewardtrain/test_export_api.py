"""GET /api/v1/projects/{id}/export: streamed datasets and their metadata, staff only."""

from __future__ import annotations

import csv
import io
import json

import pytest

from rewardtrain.services.comparisons import comparisons_expand
from tests.rewardtrain.ranking_factory import annotators, rank


@pytest.fixture
def ranked(project, make_prompt):
    raters = annotators(2)
    for index in range(3):
        prompt = make_prompt(project, k=3, text=f"Prompt {index}")
        rank(prompt, raters[0], [[0], [1], [2]])
        rank(prompt, raters[1], [[0], [2], [1]])
    comparisons_expand()


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_trl_is_streamed_as_jsonl_with_the_options_in_a_header(admin_client_api, project, ranked):
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?format=trl&margin=1")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    assert 'filename="project-' in response["Content-Disposition"]
    lines = [json.loads(line) for line in body(response).decode().splitlines()]
    assert len(lines) == 18
    assert set(lines[0]) == {"prompt", "chosen", "rejected", "margin"}
    assert json.loads(response["X-Export-Options"])["margin"] is True


@pytest.mark.django_db
def test_meta_answers_the_counts_instead_of_the_data(admin_client_api, project, ranked):
    response = admin_client_api.get(
        f"/api/v1/projects/{project.id}/export?format=rankings&meta=1&annotators=rater0"
    )

    assert response.status_code == 200
    meta = response.json()
    assert meta["counts"]["lines"] == 3
    assert meta["options"]["annotators"] == ["rater0"]


@pytest.mark.django_db
def test_csv_and_parquet_come_back_whole(admin_client_api, project, ranked):
    import pyarrow.parquet as pq

    csv_response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?format=csv")
    rows = list(csv.reader(io.StringIO(body(csv_response).decode(), newline="")))
    assert len(rows) == 19  # header + 18 comparisons

    parquet_response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?format=parquet&pairs=adjacent")
    assert parquet_response.status_code == 200
    table = pq.read_table(io.BytesIO(body(parquet_response)))
    assert table.num_rows == 12


@pytest.mark.django_db
def test_a_bad_option_is_a_400_naming_the_field(admin_client_api, project):
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?format=xml")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("format:")
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?format=trl&test_fraction=2")
    assert response.status_code == 400
