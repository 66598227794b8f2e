"""Length control (style control, length-balanced weighting, a length head) and uncertainty heads, on tiny models."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rewardtrain.core.batching import Collator
from rewardtrain.core.config import TrainConfig
from rewardtrain.core.data import RankedRecord
from rewardtrain.core.encoding import SequenceEncoder
from rewardtrain.core.evaluate import auroc, evaluate, uncertainty_metrics
from rewardtrain.core.model import load_backbone
from rewardtrain.core.scoring import RewardScorer
from rewardtrain.core.style import StyleScaler, style_features
from rewardtrain.core.train import _ChunkedRewards, batch_loss, compute_outputs, encode_records, length_balance, train
from tests.core.conftest import TEST_DEVICE, make_records
from tests.core.test_train import quick_config


def test_style_features_count_markdown_by_hand():
    text = "# Title\n\nSome **bold** and __more__.\n- one\n* two\n3. three\nnot-a-list\n## Next"
    log_length, headers, items, bold = style_features(text)
    assert log_length == pytest.approx(math.log1p(len(text)))
    assert (headers, items, bold) == pytest.approx((math.log1p(2), math.log1p(3), math.log1p(2)))
    scaler = StyleScaler.fit([[0.0, 1.0], [2.0, 1.0]])
    assert scaler.transform([2.0, 1.0]) == [1.0, 0.0]  # a constant feature stays 0
    assert StyleScaler.from_dict({**scaler.to_dict(), "features": ["log_length", "headers", "list_items", "bold"]})


def test_length_balance_gives_longer_won_and_shorter_won_pairs_half_the_weight_each():
    records = [
        RankedRecord(prompt="a", completions=["xxx", "xx", "x"], order=[[0], [1], [2]]),  # 3 longer-won pairs
        RankedRecord(prompt="b", completions=["y", "yyyy"], order=[[0], [1]]),  # 1 shorter-won pair
    ]
    longer, shorter = length_balance(records)
    assert (longer, shorter) == (4 / 6, 4 / 2)
    assert 3 * longer == 1 * shorter


def test_auroc_by_hand():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.8, 0.9, 0.2], [True, True, False, False]) == 0.25
    assert auroc([0.5, 0.5], [True, False]) == 0.5  # a tie counts half
    assert auroc([0.1, 0.2], [False, False]) is None


def test_uncertainty_metrics_rank_the_wrong_pair_first():
    records = [RankedRecord(prompt="p", completions=["a", "b", "c"], order=[[0], [1], [2]])]
    scores = [[1.0, 2.0, 0.0]]  # (0, 1) is ordered wrongly
    uncertainties = [[0.1, 0.9, 0.1]]
    heads = [[[1.0, 1.0], [1.0, 3.0], [0.0, 0.0]]]  # the heads disagree about completion 1 only
    metrics = uncertainty_metrics(records, scores, uncertainties, heads)
    assert metrics["errors"] == 1 and metrics["pairs"] == 3
    assert metrics["auroc"] == 0.75  # (0,1) and (1,2) tie at the top: the error beats one, ties one
    assert metrics["auroc_head_disagreement"] == 0.75
    assert metrics["auroc_small_margin"] == 0.75  # margins 1, 1, 2: the error ties (0, 2), beats (1, 2)


@pytest.mark.parametrize("control", ["style", "balance", "length_head"])
def test_grouped_and_pairwise_modes_give_the_same_length_controlled_loss(tiny_encoder, control):
    config = TrainConfig(
        model=tiny_encoder, max_length=64, bf16="off", device="cpu", length_control=control, uncertainty_heads=3
    )
    model, tokenizer, architecture = load_backbone(config)
    encoder = SequenceEncoder(tokenizer, architecture=architecture, max_length=64)
    records = make_records(count=4, k=4, with_ties=True)
    style = StyleScaler.fit([style_features(text) for record in records for text in record.completions])
    encoded = encode_records(encoder, records, style=style, balance=length_balance(records), bootstrap_heads=3, seed=1)
    beta = torch.tensor([0.5, -0.2, 0.1, 0.3]) if control == "style" else None

    def loss_of(mode: str) -> float:
        batch = Collator(mode).collate(encoded)
        outputs = compute_outputs(
            _ChunkedRewards(model), batch, device=torch.device("cpu"), bf16=False, max_tokens=256, pad_token_id=0
        )
        assert outputs.shape[1] == config.output_heads
        return batch_loss(outputs, batch, config, beta).item()

    if control == "length_head":  # its correlation terms are over rows, and pairwise mode repeats rows
        assert math.isfinite(loss_of("grouped"))
    else:
        assert loss_of("grouped") == pytest.approx(loss_of("pairwise"), rel=1e-5)


def test_style_control_learns_beta_and_serves_the_content_reward_unless_asked(tiny_encoder, tmp_path):
    records = make_records(count=10)
    config = quick_config(tiny_encoder, epochs=3, length_control="style", eval_fraction=0.2)
    result = train(config, records, out_dir=tmp_path / "rm")
    info = json.loads((tmp_path / "rm" / "rewardtrain.json").read_text())
    assert info["length_control"] == "style" and info["style"]["features"][0] == "log_length"
    beta = info["style"]["beta"]
    assert len(beta) == 4 and any(value != 0 for value in beta)  # learned
    assert result.metrics["length_balanced_accuracy"] is not None

    items = [{"prompt": "w1", "completions": ["great w2", "# H\n- awful **w3** w4 w5 w6"]}]
    plain = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE).score(items)[0]
    styled = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE, include_style=True).score(items)[0]
    scaler = StyleScaler.from_dict(info["style"])
    for reward, with_style, text in zip(plain, styled, items[0]["completions"], strict=True):
        term = sum(b * f for b, f in zip(beta, scaler.transform(style_features(text)), strict=True))
        assert with_style == pytest.approx(reward + term, abs=1e-5)


def test_a_length_head_is_trained_and_never_served(tiny_encoder, tmp_path):
    records = make_records(count=8)
    result = train(quick_config(tiny_encoder, epochs=2, length_control="length_head"), records, out_dir=tmp_path / "rm")
    info = json.loads((tmp_path / "rm" / "rewardtrain.json").read_text())
    assert info["heads"] == {"reward": 0, "length": 1, "uncertainty": []}  # no uncertainty heads by default
    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE)
    assert scorer.output_count == 2 and result.train_stats["steps"] == 4
    with pytest.raises(ValueError, match="no style term"):
        RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE, include_style=True)


def test_uncertainty_heads_give_every_reward_an_uncertainty_from_the_same_forward(tiny_encoder, tmp_path):
    records = make_records(count=12)
    config = quick_config(tiny_encoder, epochs=3, uncertainty_heads=4, eval_fraction=0.25, length_control="balance")
    result = train(config, records, out_dir=tmp_path / "rm")
    info = json.loads((tmp_path / "rm" / "rewardtrain.json").read_text())
    assert info["heads"]["uncertainty"] == [1, 2, 3, 4] and len(info["normalization"]["head_bias"]) == 5
    assert info["length_balance"]["longer_won"] > 0
    uncertainty = result.metrics["uncertainty"]
    assert uncertainty["pairs"] == result.metrics["counts"]["pairs"]
    assert set(uncertainty) >= {"auroc", "auroc_small_margin", "errors"}
    assert evaluate(RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE), records[:3])["uncertainty"]["pairs"] > 0

    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE)
    items = [{"prompt": "w1", "completions": ["great w2", "awful w3", "w4"]}]
    rewards, uncertainties = scorer.score(items, with_uncertainty=True)
    assert rewards == scorer.score(items)
    assert len(uncertainties[0]) == 3 and all(value > 0 for value in uncertainties[0])


def test_asking_a_model_without_heads_for_uncertainty_is_an_error(tiny_encoder, tmp_path):
    train(quick_config(tiny_encoder, epochs=1, uncertainty_heads=0), make_records(count=4), out_dir=tmp_path / "rm")
    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE)
    with pytest.raises(ValueError, match="no uncertainty heads"):
        scorer.score([{"prompt": "p", "completions": ["a", "b"]}], with_uncertainty=True)
