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
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?format=rankings&meta=1&annotators=rater0")

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


# --- hostile query parameters (issue 13) ----------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("extra", ["", "&meta=1", "&format=parquet", "&format=parquet&meta=1"])
def test_since_with_any_utc_offset_selects_the_same_moment(admin_client_api, project, ranked, extra):
    """+20:00 is a valid ISO offset that PostgreSQL refuses in a timestamp: it used to pass the check and
    end the streamed export after 0 bytes with a 200 (parquet and meta: 500)."""
    url = f"/api/v1/projects/{project.id}/export?since=2000-01-01T00:00:00%2B20:00{extra}"
    response = admin_client_api.get(url)
    assert response.status_code == 200, response.content[:300] if not response.streaming else ""
    content = body(response) if response.streaming else response.getvalue()
    if extra.endswith("meta=1"):
        assert json.loads(content)["counts"]["comparisons"] == 18
    elif "parquet" not in extra:
        assert len(content.decode().splitlines()) == 18


@pytest.mark.django_db
@pytest.mark.parametrize("since", ["0001-01-01T00:00:00%2B05:00", "9999-12-31T23:59:59-05:00", "2024-13-01", "soon"])
def test_a_since_out_of_range_is_a_400_before_any_byte(admin_client_api, project, ranked, since):
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?since={since}")
    assert response.status_code == 400 and not response.streaming
    assert response.json()["detail"].startswith("since:")


@pytest.mark.django_db
def test_a_failure_mid_stream_never_looks_like_a_complete_file(admin_client_api, project, ranked, monkeypatch):
    from django.db import OperationalError

    from rewardtrain.api.export import FAILED_MARK
    from rewardtrain.services import export

    real = export._LINE_FORMATS["trl"]

    def dies_halfway(selection, stats, chunk_size):
        for number, line in enumerate(real(selection, stats, chunk_size)):
            if number == 5:
                raise OperationalError("server closed the connection unexpectedly")
            yield line

    monkeypatch.setitem(export._LINE_FORMATS, "trl", dies_halfway)
    response = admin_client_api.get(f"/api/v1/projects/{project.id}/export?format=trl")
    assert response.status_code == 200 and response.streaming
    received = []
    with pytest.raises(OperationalError):  # the server drops the connection: no last chunk
        for chunk in response.streaming_content:
            received.append(chunk)
    assert received[-1] == FAILED_MARK
    with pytest.raises(json.JSONDecodeError):
        [json.loads(line) for line in b"".join(received).decode().splitlines() if line]
