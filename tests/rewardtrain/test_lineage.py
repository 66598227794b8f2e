"""Dataset lineage: a model version's recorded snapshot, and export --model-version giving back its bytes.

The check is against what the trainer itself hashed: the artifact's rewardtrain.json holds the sha256 of
its train and eval records (``records_summary``), written by the core from the records it was given.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Completion, Project
from rewardtrain.models import ModelVersion
from rewardtrain.services import training
from rewardtrain.services.lineage import id_ranges, ids_from_ranges, project_lineage
from tests.rewardtrain.ranking_factory import annotators, completion_ids, rank
from tests.rewardtrain.training_helpers import TINY_CONFIG, add_rankings, learnable_project

pytestmark = pytest.mark.usefixtures("quick_training")


def trained_version(project: Project, **start) -> ModelVersion:
    run = training.training_run_start(project=project, overrides=TINY_CONFIG, **start)
    run = training.training_run_execute(run_id=run.pk)
    assert run.error == ""
    return ModelVersion.objects.get(run=run)


def artifact_hashes(version: ModelVersion) -> dict:
    info = json.loads((Path(version.artifact_path) / "rewardtrain.json").read_text())
    return {"train": info["data"]["train"]["sha256"], "eval": info["data"]["eval"]["sha256"]}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_id_ranges_round_trip():
    assert id_ranges([7, 1, 3, 2, 9, 8]) == [[1, 3], [7, 9]]
    assert ids_from_ranges([[1, 3], [7, 9]]) == [1, 2, 3, 7, 8, 9]
    assert id_ranges([]) == []


@pytest.mark.django_db
def test_export_model_version_gives_back_the_training_data_byte_for_byte(annotator, tiny_model, tmp_path):
    project = learnable_project(annotator, tiny_model)
    version = trained_version(project)
    lineage = version.run.data["lineage"]
    assert lineage["rankings"] == 12 and lineage["by_source"] == {"annotator": 12, "import": 0}
    add_rankings(project, annotator, 3, start=100)  # arrives after the run: not part of version 1

    for split, expected in (("train", "train"), ("test", "eval")):
        out = tmp_path / f"{split}.jsonl"
        call_command("export_comparisons", project=project.name, model_version="1", split=split, out=str(out))
        assert sha256(out.read_bytes()) == artifact_hashes(version)[expected]
    out = tmp_path / "all.jsonl"
    call_command("export_comparisons", project=project.name, model_version="1", out=str(out))
    assert sha256(out.read_bytes()) == lineage["sha256"]
    assert len(out.read_text().splitlines()) == 12
    assert json.loads(Path(f"{out}.meta.json").read_text())["lineage"]["rankings"] == 12

    rows = project_lineage(project=project)
    assert rows[0]["version"] == 1 and rows[0]["rankings"] == 12 and rows[0]["arrived_since"] == 3


@pytest.mark.django_db
def test_reliability_weighted_runs_record_and_give_back_their_weights(annotator, tiny_model, tmp_path):
    project = learnable_project(annotator, tiny_model)
    careless, *others = annotators(3)
    for prompt in project.prompts.all():  # two others repeat annotator's order, careless reverses it
        ids = completion_ids(prompt)
        order = [[ids.index(group[0])] for group in prompt.rankings.get().order]
        for other in others:
            rank(prompt, other, order)
        rank(prompt, careless, order[::-1])
    version = trained_version(project, weighting="reliability")
    weights = version.run.data["lineage"]["weights"]
    assert weights[str(careless.pk)] == 0.0 and weights[str(annotator.pk)] == 1.0

    out = tmp_path / "all.jsonl"
    call_command("export_comparisons", project=project.name, model_version="1", out=str(out))
    assert sha256(out.read_bytes()) == version.run.data["lineage"]["sha256"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted({line.get("weight", 1.0) for line in lines}) == [0.0, 1.0]
    out = tmp_path / "train.jsonl"
    call_command("export_comparisons", project=project.name, model_version="1", split="train", out=str(out))
    assert sha256(out.read_bytes()) == artifact_hashes(version)["train"]


@pytest.mark.django_db
def test_an_edited_completion_makes_the_export_refuse_and_write_nothing(annotator, tiny_model, tmp_path):
    project = learnable_project(annotator, tiny_model)
    trained_version(project)
    completion = Completion.objects.filter(prompt__project=project).first()
    completion.text += " (edited)"
    completion.save()
    out = tmp_path / "v1.jsonl"

    with pytest.raises(CommandError, match="changed since it was trained"):
        call_command("export_comparisons", project=project.name, model_version="1", out=str(out))
    assert not out.exists()
    with pytest.raises(CommandError, match="has no version 7"):
        call_command("export_comparisons", project=project.name, model_version="7", out=str(out))


@pytest.mark.django_db
def test_the_api_exports_a_versions_data_for_staff_only(
    annotator, tiny_model, admin_client_api, annotator_client, anonymous_client
):
    project = learnable_project(annotator, tiny_model)
    version = trained_version(project)
    url = f"/api/v1/projects/{project.pk}/export?model_version=1&split=train"

    response = admin_client_api.get(url)
    assert response.status_code == 200
    assert sha256(response.content) == artifact_hashes(version)["train"] == response["X-Export-Sha256"]
    assert admin_client_api.get(url + "&meta=1").json()["lines"] == version.run.data["lineage"]["train_records"]
    assert admin_client_api.get(f"/api/v1/projects/{project.pk}/export?model_version=x").status_code == 400
    assert annotator_client.get(url).status_code == 403
    assert anonymous_client.get(url).status_code == 401
