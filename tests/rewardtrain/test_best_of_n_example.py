"""examples/best_of_n.py against a live server: held-out prompts reranked through /get_reward."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from rewardtrain.core.data import split_by_prompt
from rewardtrain.core.evaluate import best_of_k
from rewardtrain.models import ModelVersion
from rewardtrain.services.serving import scorer_cache
from rewardtrain.services.training import ranked_records
from tests.core.conftest import make_records
from tests.rewardtrain.training_helpers import TINY_CONFIG, build_tiny_encoder, learnable_project

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "best_of_n.py"


def load_example():
    spec = importlib.util.spec_from_file_location("best_of_n", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_example_reranks_held_out_prompts_and_reports_the_win_rates(live_server, admin_user, annotator, tmp_path):
    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.scoring import RewardScorer
    from rewardtrain.core.train import train

    model = str(build_tiny_encoder(tmp_path / "tiny"))
    settings = {key: value for key, value in TINY_CONFIG.items() if key != "eval_fraction"}
    artifact = train(TrainConfig(model=model, **settings), make_records(8), [], out_dir=tmp_path / "rm").out_dir
    project = learnable_project(annotator, model, rankings=10)
    ModelVersion.objects.create(project=project, version=1, artifact_path=str(artifact), is_active=True)
    token = Token.objects.create(user=admin_user).key
    scorer_cache.clear()
    example = load_example()

    result = example.main(["--url", live_server.url, "--project", str(project.pk), "--token", token])

    # The same held-out rankings and picks, computed here with the core scorer (no HTTP).
    records = [record for _, record in ranked_records(project=project, up_to_ranking_id=10**9)]
    _, held_out = split_by_prompt(records, 0.2, 0)
    scorer = RewardScorer.load(artifact, device="cpu")
    picks = [
        best_of_k(record, scorer.score_texts([example.render_query(record, text) for text in record.completions]))
        for record in held_out
    ]
    assert result["rankings"] == len(held_out) == 2 and result["held_out_prompts"] == 2
    assert result["best_of_n_win_rate"] == pytest.approx(sum(pick[0] for pick in picks) / len(picks), abs=1e-4)
    assert result["longest_win_rate"] == pytest.approx(sum(pick[1] for pick in picks) / len(picks), abs=1e-4)
    assert result["random_win_rate"] == pytest.approx(1 / 4)  # K = 4, one best completion each
    assert result["answered_by_versions"] == [1]
    scorer_cache.clear()
