"""/api/v1/projects/{id}/prompts: staff import (JSON list or upload) and list; everyone else is kept out."""

from __future__ import annotations

import gzip
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.models import Project, Prompt, Ranking

FOUR = ["A", "B", "C", "D"]


def url(project: Project) -> str:
    return f"/api/v1/projects/{project.pk}/prompts"


def upload(name: str, lines: list) -> SimpleUploadedFile:
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return SimpleUploadedFile(name, gzip.compress(data) if name.endswith(".gz") else data)


# --- import --------------------------------------------------------------------------------


def test_staff_import_a_json_list(admin_client_api, project):
    body = [{"id": "p1", "prompt": "Q", "completions": FOUR}, {"prompt": "R", "completions": FOUR}]
    response = admin_client_api.post(url(project), body, format="json")
    assert response.status_code == 201
    assert response.data["prompts_created"] == 2
    assert response.data["completions_created"] == 8
    assert "2 prompts created" in response.data["summary"]
    again = admin_client_api.post(url(project), body, format="json")
    assert (again.status_code, again.data["prompts_created"], again.data["prompts_existing"]) == (201, 0, 2)


def test_staff_upload_a_gzipped_file_with_a_format(admin_client_api, db):
    project = Project.objects.create(name="Pairs")
    file = upload("pairs.jsonl.gz", [{"prompt": "Q", "chosen": "Good", "rejected": "Bad"}])
    response = admin_client_api.post(url(project), {"file": file, "format": "pairs"}, format="multipart")
    assert response.status_code == 201
    assert (response.data["format"], response.data["rankings_created"]) == ("pairs", 1)
    assert Ranking.objects.get().source == Ranking.Source.IMPORT


def test_staff_upload_csv_and_json_lists_of_pairs(admin_client_api, db):
    project = Project.objects.create(name="Mixed", min_completions=2)
    csv_file = SimpleUploadedFile("p.csv", b'id,prompt,completions\nc1,Q,"[""A"", ""B""]"\n')
    assert admin_client_api.post(url(project), {"file": csv_file}, format="multipart").data["prompts_created"] == 1
    pairs = [{"prompt": "Q", "chosen": "Good", "rejected": "Bad"}]
    response = admin_client_api.post(url(project), pairs, format="json")
    assert (response.status_code, response.data["format"], response.data["rankings_created"]) == (201, "pairs", 1)


def test_a_bad_upload_answers_400_with_line_and_field_and_imports_nothing(admin_client_api, project):
    file = upload(
        "p.jsonl",
        [
            {"prompt": "Q", "completions": FOUR},
            {"prompt": "R", "completions": FOUR},
            {"prompt": "S", "completions": ["A", "B"]},
        ],
    )
    response = admin_client_api.post(url(project), {"file": file}, format="multipart")
    assert response.status_code == 400
    assert response.data["detail"] == "line 3: completions: 2 given; this project takes 4 to 9 per prompt"
    assert not Prompt.objects.exists()


def test_a_bad_json_body_names_the_item(admin_client_api, project):
    response = admin_client_api.post(
        url(project), [{"prompt": "Q", "completions": FOUR}, {"prompt": "R"}], format="json"
    )
    assert (response.status_code, response.data["detail"]) == (400, "item 2: completions: missing")
    assert not Prompt.objects.exists()


def test_a_body_that_is_neither_a_list_nor_an_upload_is_refused(admin_client_api, project):
    response = admin_client_api.post(url(project), {"prompt": "Q"}, format="json")
    assert response.status_code == 400
    assert "JSON list" in response.data["detail"]


def test_a_bad_format_answers_400(admin_client_api, project):
    file = upload("p.jsonl", [{"prompt": "Q", "completions": FOUR}])
    response = admin_client_api.post(url(project), {"file": file, "format": "xml"}, format="multipart")
    assert (response.status_code, response.data["detail"]) == (
        400,
        "format: must be one of jsonl, csv, oasst, pairs, not 'xml'",
    )


def test_an_unknown_project_answers_404(admin_client_api, db):
    response = admin_client_api.post("/api/v1/projects/999999/prompts", [], format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("caller", ["annotator_client", "outsider_client"])
def test_annotators_may_not_import(request, caller, project):
    client = request.getfixturevalue(caller)
    response = client.post(url(project), [{"prompt": "Q", "completions": FOUR}], format="json")
    assert response.status_code == 403
    assert not Prompt.objects.exists()


def test_anonymous_callers_must_log_in_to_import(anonymous_client, project):
    response = anonymous_client.post(url(project), [{"prompt": "Q", "completions": FOUR}], format="json")
    assert response.status_code == 401


# --- list ----------------------------------------------------------------------------------


def test_staff_list_prompts_with_completions_and_pagination(admin_client_api, project, make_prompt):
    first = make_prompt(project, k=4, external_id="e1")
    make_prompt(project, k=5, text="Second")
    response = admin_client_api.get(url(project), {"limit": 1})
    assert response.status_code == 200
    assert response.data["count"] == 2 and response.data["next"]
    row = response.data["results"][0]
    assert (row["id"], row["external_id"], row["ranking_count"], len(row["completions"])) == (first.pk, "e1", 0, 4)


def test_annotators_may_not_list_prompts(annotator_client, project):
    assert annotator_client.get(url(project)).status_code == 403


def test_anonymous_callers_must_log_in_to_list_prompts(anonymous_client, project):
    assert anonymous_client.get(url(project)).status_code == 401
