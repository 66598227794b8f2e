"""A few CPU steps on tiny random models lower the loss; the artifact round-trips; cancel writes nothing."""

from __future__ import annotations

import json

import pytest
import torch

from rewardtrain.core.config import TrainConfig
from rewardtrain.core.data import DataError, RankedRecord, load_records, split_by_prompt
from rewardtrain.core.evaluate import evaluate
from rewardtrain.core.model import resolve_device, resolve_precision, training_attention
from rewardtrain.core.scoring import RewardScorer
from rewardtrain.core.train import TrainingCancelled, train
from tests.core.conftest import TEST_DEVICE, make_records


def quick_config(model: str, **overrides) -> TrainConfig:
    values = dict(
        model=model,
        epochs=8,
        lr=5e-3,
        prompts_per_batch=4,
        max_length=64,
        eval_fraction=0.0,
        warmup_ratio=0.0,
        center_rewards_coefficient=0.0,
        device=TEST_DEVICE,
    )
    values.update(overrides)
    return TrainConfig(**values)


def losses_of(config: TrainConfig, records, out_dir) -> tuple[list[float], object]:
    losses: list[float] = []
    result = train(config, records, out_dir=out_dir, on_progress=lambda update: losses.append(update["loss"]))
    return losses, result


@pytest.mark.parametrize("backbone", ["tiny_encoder", "tiny_decoder"])
def test_a_few_cpu_steps_lower_the_loss(backbone, request, tmp_path):
    losses, result = losses_of(quick_config(request.getfixturevalue(backbone)), make_records(count=8), tmp_path / "rm")
    first, last = sum(losses[:3]) / 3, sum(losses[-4:-1]) / 3  # the final callback repeats the last step
    assert last < first * 0.8, losses
    assert result.train_stats["steps"] == 16


def test_the_artifact_round_trips_to_the_same_scores(tiny_decoder, tmp_path):
    records = make_records(count=8)
    config = quick_config(tiny_decoder, epochs=2, eval_fraction=0.25, center_rewards_coefficient=0.01)
    result = train(config, records, out_dir=tmp_path / "rm")
    info = json.loads((tmp_path / "rm" / "rewardtrain.json").read_text())
    assert info["config"]["model"] == tiny_decoder and info["architecture"] == "decoder"
    assert info["data"]["train"]["prompts"] + info["data"]["eval"]["prompts"] == 8
    assert info["metrics"]["eval"]["counts"]["pairs"] == result.metrics["counts"]["pairs"] > 0
    assert {"torch", "transformers"} <= set(info["versions"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rm"]  # no partial directory left behind

    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE)
    assert scorer.score(records) == RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE).score(records)
    assert scorer.bias == pytest.approx(result.normalization_bias)
    # the bias makes the training completions average 0
    trained_on = split_by_prompt(records, 0.25, config.seed)[0]
    flat = [s for rewards in scorer.score(trained_on) for s in rewards]
    assert abs(sum(flat) / len(flat)) < 1e-3
    (text_score,) = scorer.score_texts(["<|user|> w1 </s> <|assistant|> great w2 </s>"])
    assert isinstance(text_score, float)


@pytest.mark.parametrize("bf16", ["on", "off"])
def test_the_encoder_artifact_scores_like_the_trained_model(bf16, tiny_encoder, tmp_path):
    """Serving reproduces, bit for bit, the rewards training evaluated and normalized with (same device)."""
    records = make_records(count=6)
    config = quick_config(tiny_encoder, epochs=1, eval_fraction=0.34, bf16=bf16)
    result = train(config, records, out_dir=tmp_path / "rm")
    device = resolve_device(TEST_DEVICE)
    expected = resolve_precision("auto", device, recorded="bf16" if bf16 == "on" else "fp32")
    assert result.info["inference"]["precision"] == expected
    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE)
    assert scorer.precision == expected
    assert (next(scorer.model.parameters()).dtype == torch.bfloat16) == (expected == "bf16")
    held_out = split_by_prompt(records, 0.34, 0)[1]
    assert evaluate(scorer, held_out) == result.metrics  # every reward equal, so every metric
    if expected == "bf16":  # the check has teeth: the old serving numerics (fp32 weights, autocast) differ
        other = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE, precision="fp32-autocast")
        assert other.score(held_out) != scorer.score(held_out)


def test_forcing_fp32_scores_in_fp32(tiny_encoder, tmp_path):
    train(quick_config(tiny_encoder, epochs=1, bf16="on"), make_records(count=4), out_dir=tmp_path / "rm")
    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE, precision="fp32")
    assert scorer.precision == "fp32" and next(scorer.model.parameters()).dtype == torch.float32


def test_cancelling_writes_nothing(tiny_encoder, tmp_path):
    calls = iter(range(100))
    with pytest.raises(TrainingCancelled):
        train(
            quick_config(tiny_encoder),
            make_records(count=8),
            out_dir=tmp_path / "rm",
            should_stop=lambda: next(calls) >= 2,
        )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_artifact_is_replaced_whole(tiny_encoder, tmp_path):
    out = tmp_path / "rm"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    train(quick_config(tiny_encoder, epochs=1), make_records(count=4), out_dir=out)
    assert not (out / "stale.txt").exists() and (out / "rewardtrain.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rm"]


def test_lora_and_gradient_checkpointing_train_and_save_plain_weights(tiny_decoder, tmp_path):
    config = quick_config(tiny_decoder, epochs=2, lora=True, lora_r=4, gradient_checkpointing=True, mode="pairwise")
    losses, _ = losses_of(config, make_records(count=4), tmp_path / "rm")
    assert all(loss == loss for loss in losses)  # no NaN
    scorer = RewardScorer.load(tmp_path / "rm", device=TEST_DEVICE)
    assert not any("lora" in name for name, _ in scorer.model.named_parameters())


def test_gradient_accumulation_gives_the_same_step_count_per_effective_batch(tiny_encoder, tmp_path):
    config = quick_config(tiny_encoder, epochs=1, prompts_per_batch=2, gradient_accumulation_steps=2)
    losses, result = losses_of(config, make_records(count=8), tmp_path / "rm")
    assert result.train_stats["steps"] == 2 and result.train_stats["prompts"] == 8
    assert result.train_stats["mean_prompts_per_batch"] == 2.0


def test_mean_prompts_per_batch_counts_the_batches_run_when_the_last_accumulation_group_is_short(
    tiny_encoder, tmp_path
):
    config = quick_config(tiny_encoder, epochs=1, prompts_per_batch=2, gradient_accumulation_steps=2)
    result = train(config, make_records(count=5), out_dir=tmp_path / "rm")  # batches of 2, 2, 1: steps of 2 and 1
    assert result.train_stats["steps"] == 2 and result.train_stats["batches"] == 3
    assert result.train_stats["mean_prompts_per_batch"] == round(5 / 3, 2)


def test_eager_and_sdpa_attention_train_alike(tiny_encoder, tmp_path):
    """Eager attention (the CPU default for training, much faster there) is SDPA's math: same losses."""
    records = make_records(count=8)
    eager, _ = losses_of(quick_config(tiny_encoder, epochs=2, bf16="off", attention="eager"), records, tmp_path / "a")
    sdpa, _ = losses_of(quick_config(tiny_encoder, epochs=2, bf16="off", attention="sdpa"), records, tmp_path / "b")
    assert eager == pytest.approx(sdpa, rel=1e-4)


def test_training_attention_is_eager_on_the_cpu_only():
    assert training_attention("auto", torch.device("cpu")) == "eager"
    assert training_attention("auto", torch.device("cuda", 0)) is None  # the model's default (SDPA)
    assert training_attention("sdpa", torch.device("cpu")) == "sdpa"
    with pytest.raises(ValueError, match="attention must be"):
        TrainConfig(attention="flash")


def test_weight_zero_silences_reversed_rankings_that_unweighted_training_learns_from(tiny_encoder, tmp_path):
    """Half the training records are reversed (a careless annotator): weighted 0 they teach nothing."""
    clean, held_out = make_records(count=8, seed=1), make_records(count=8, seed=2)
    reversed_copies = [
        RankedRecord(prompt=r.prompt, completions=r.completions, order=r.order[::-1], context=r.context, weight=0.0)
        for r in make_records(count=8, seed=1)
    ]
    config = quick_config(tiny_encoder, epochs=6)
    accuracy = {}
    for name, weight in (("unweighted", 1.0), ("weighted", 0.0)):
        for record in reversed_copies:
            record.weight = weight
        train(config, clean + reversed_copies, out_dir=tmp_path / name)
        scorer = RewardScorer.load(tmp_path / name, device=TEST_DEVICE)
        accuracy[name] = evaluate(scorer, held_out)["pairwise_accuracy"]
    assert accuracy["weighted"] >= 0.9, accuracy
    assert accuracy["weighted"] > accuracy["unweighted"] + 0.2, accuracy


def test_a_rankings_file_carries_weights_and_refuses_a_bad_one(tmp_path):
    path = tmp_path / "rankings.jsonl"
    path.write_text(
        '{"prompt": "p", "completions": ["a", "b"], "order": [[0], [1]], "weight": 0.25}\n'
        '{"prompt": "q", "completions": ["a", "b"], "order": [[1], [0]]}\n'
    )
    first, second = load_records(path)
    assert (first.weight, second.weight) == (0.25, 1.0)
    assert first.to_json()["weight"] == 0.25 and "weight" not in second.to_json()
    path.write_text('{"prompt": "p", "completions": ["a", "b"], "order": [[0], [1]], "weight": -1}\n')
    with pytest.raises(DataError, match="line 1: 'weight' must be a finite number >= 0"):
        load_records(path)


def test_periodic_evaluation_is_timed_apart_from_training(tiny_encoder, tmp_path):
    """A caller timing the run (bench/time_to_accuracy.py) can leave every evaluation out of the clock."""
    records = make_records(count=100)
    train_records, eval_records = records[:4], records[4:]  # evaluations far costlier than the 4 steps
    updates: list[dict] = []
    config = quick_config(tiny_encoder, epochs=1, prompts_per_batch=1, eval_every_steps=1)
    result = train(config, train_records, eval_records, out_dir=tmp_path / "rm", on_progress=updates.append)
    periodic, final = updates[:-1], updates[-1]
    assert [update["eval"] is not None for update in periodic] == [True, True, True, False]  # not the last step
    assert all(update["eval_seconds"] > 0 for update in periodic[:3]) and periodic[3]["eval_seconds"] == 0.0
    assert final["eval"] is not None and final["eval_seconds"] > 0
    stats = result.train_stats
    assert stats["eval_seconds"] == pytest.approx(sum(update["eval_seconds"] for update in periodic), abs=2e-3)
    # Disjoint parts of the run: counted inside training_seconds too, the 3 evaluations would overflow the wall
    # time (all that is left outside them is the final evaluation, writing the artifact and 4 records' bias).
    parts = stats["setup_seconds"] + stats["training_seconds"] + stats["eval_seconds"] + final["eval_seconds"]
    assert parts <= stats["wall_seconds"] + 2e-3


def test_auto_batches_gather_prompts_until_they_hold_pairs_per_batch_comparisons():
    from rewardtrain.core.batching import make_batches

    pairs = [1, 3, 36, 3, 6, 3, 15, 1, 3, 10]  # K = 2, 3, 9, 3, 4, 3, 6, 2, 3, 5
    for group_by_length in (False, True):
        batches = make_batches([8] * 10, 0, seed=1, epoch=0, group_by_length=group_by_length, pairs=pairs,
                               pairs_per_batch=12)  # fmt: skip
        assert sorted(i for batch in batches for i in batch) == list(range(10))  # every prompt, once
        # each batch stops at the prompt that brings it to 12 comparisons (one short of them only at the end)
        assert all(sum(pairs[i] for i in batch[:-1]) < 12 for batch in batches)
        assert sum(sum(pairs[i] for i in batch) < 12 for batch in batches) <= 1
    with pytest.raises(ValueError, match="pairs_per_batch"):
        TrainConfig(model="unused", pairs_per_batch=0)
    with pytest.raises(ValueError, match="prompts_per_batch"):
        TrainConfig(model="unused", prompts_per_batch=-1)


def test_a_default_run_takes_as_many_prompts_a_step_as_hold_its_pairs(tiny_encoder, tmp_path):
    records = make_records(count=8, k=4)  # 6 pairs a prompt
    config = quick_config(tiny_encoder, epochs=2, prompts_per_batch=0, pairs_per_batch=12)
    result = train(config, records, out_dir=tmp_path / "rm")
    assert result.train_stats["mean_prompts_per_batch"] == 2.0
    assert result.train_stats["steps"] == 8 and result.train_stats["prompts"] == 16
    assert result.info["config"]["prompts_per_batch"] == 0  # the recipe as asked; what it did is in the stats


def test_training_forwards_stay_within_the_cpu_budget_and_an_explicit_one(tiny_encoder, tmp_path):
    from rewardtrain.core.scoring import RewardScorer

    records = make_records(count=6, k=4)
    auto = train(quick_config(tiny_encoder, epochs=1, device="cpu"), records, out_dir=tmp_path / "auto")
    assert auto.train_stats["tokens_per_forward"] == 1024  # 0 (the default): the CPU's training budget
    assert auto.info["config"]["max_tokens_per_forward"] == 0  # resolved again where the artifact is loaded
    assert RewardScorer.load(auto.out_dir, device="cpu").max_tokens_per_forward == 4096  # the CPU's scoring one
    # A budget smaller than one prompt's completions splits them into several forwards: same rows, more calls.
    config = quick_config(tiny_encoder, epochs=1, device="cpu", max_tokens_per_forward=16)
    small = train(config, records, out_dir=tmp_path / "small")
    assert small.train_stats["tokens_per_forward"] == 16
    assert RewardScorer.load(small.out_dir, device="cpu").max_tokens_per_forward == 16
    assert small.train_stats["sequences_forwarded"] == auto.train_stats["sequences_forwarded"]


@pytest.mark.parametrize("backbone", ["tiny_encoder", "tiny_decoder"])
def test_freeze_layers_trains_only_the_upper_layers_and_the_head(backbone, request, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    model_dir = request.getfixturevalue(backbone)
    config = quick_config(model_dir, epochs=2, freeze_layers=1)  # of the tiny models' 2 layers
    losses, result = losses_of(config, make_records(count=8), tmp_path / "rm")
    assert losses[-1] < losses[0]
    before = AutoModelForSequenceClassification.from_pretrained(model_dir).state_dict()
    after = load_file(str(result.out_dir / "model.safetensors"))
    moved = {name for name, tensor in after.items() if name in before and not torch.equal(tensor, before[name])}
    frozen = [name for name in before if "embed" in name or ".0." in name]  # embeddings and layer 0
    assert frozen and not moved.intersection(frozen)
    assert any(".1." in name for name in moved)  # layer 1 trained


def test_freeze_layers_refuses_to_freeze_every_layer_or_to_combine_with_lora(tiny_encoder, tmp_path):
    with pytest.raises(ValueError, match="at least one of the model's 2 layers"):
        train(quick_config(tiny_encoder, freeze_layers=2), make_records(count=4), out_dir=tmp_path / "rm")
    assert not (tmp_path / "rm").exists()
    with pytest.raises(ValueError, match="LoRA"):
        TrainConfig(model="unused", freeze_layers=1, lora=True)


@pytest.mark.parametrize("values", [{"min_lr_ratio": 1.5}, {"min_lr_ratio": -0.1}, {"warmup_ratio": 1.0}])
def test_the_schedule_settings_are_checked(values):
    with pytest.raises(ValueError, match="min_lr_ratio must be in"):
        TrainConfig(model="unused", **values)
