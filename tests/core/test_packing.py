"""Prefix sharing (core/packing.py) on tiny random decoders: the packed forward gives the unshared rewards
and gradients, for Llama and Qwen2, eager and SDPA attention, fp32 and bf16 autocast, several K, ties,
identical completions, truncation at the length limit, padding across groups and long groups split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast

from rewardtrain.core.batching import Collator, padded_chunks
from rewardtrain.core.config import TrainConfig
from rewardtrain.core.data import RankedRecord, split_by_prompt
from rewardtrain.core.encoding import EncodedSequence, SequenceEncoder
from rewardtrain.core.loss import bradley_terry_loss
from rewardtrain.core.model import autocast, load_backbone, prepare_tokenizer
from rewardtrain.core.packing import PrefixSharing, plan_packing
from rewardtrain.core.scoring import MicroBatcher, RewardScorer
from rewardtrain.core.train import encode_records
from tests.core.conftest import TEST_DEVICE, WORDS, make_records
from tests.core.test_train import losses_of, quick_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["tiny_decoder", "tiny_qwen2"])
def decoder(request) -> str:
    return request.getfixturevalue(request.param)


def load(path: str, attention: str = "eager"):
    # The word-level tokenizer as saved (AutoTokenizer would rebuild it as Qwen2's BPE tokenizer for Qwen2).
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32, attn_implementation=attention)
    prepare_tokenizer(tokenizer, model)
    return model.to(TEST_DEVICE).eval(), tokenizer


def long_records(count: int = 6, k: int = 5, seed: int = 3) -> list[RankedRecord]:
    """Multi-turn contexts and completions of very different lengths, so a short max_length truncates."""
    records = make_records(count=count, k=k, seed=seed, with_ties=True)
    for n, record in enumerate(records):
        record.context = [
            {"role": "user", "text": " ".join(WORDS[(n + i) % 60] for i in range(12))},
            {"role": "assistant", "text": " ".join(WORDS[(3 * n + i) % 60] for i in range(9))},
        ]
        record.completions[0] = " ".join([record.completions[0]] * (n % 3 + 1))
    records[0].completions[1] = records[0].completions[2]  # two identical completions (tied or not)
    return records


def sequences_and_groups(tokenizer, records, max_length):
    encoder = SequenceEncoder(tokenizer, architecture="decoder", max_length=max_length)
    encoded = encode_records(encoder, records)
    return [row for record in encoded for row in record.sequences], [len(record.sequences) for record in encoded]


def unshared_rewards(model, sequences, pad_token_id) -> torch.Tensor:
    rewards = torch.empty(len(sequences), device=TEST_DEVICE)
    for rows, inputs in padded_chunks(sequences, 1 << 20, pad_token_id):
        inputs = {name: tensor.to(TEST_DEVICE) for name, tensor in inputs.items()}
        rewards = rewards.index_put((rows.to(TEST_DEVICE),), model(**inputs).logits[:, 0].float())
    return rewards


def shared_rewards(model, sharing, sequences, groups, max_tokens=1 << 20) -> torch.Tensor:
    rewards = torch.empty(len(sequences), device=TEST_DEVICE)
    forwards = 0
    for rows, inputs in sharing.chunks(sequences, groups, max_tokens):
        assert "segment_ids" in inputs
        inputs = {name: tensor.to(TEST_DEVICE) for name, tensor in inputs.items()}
        rewards = rewards.index_put((rows.to(TEST_DEVICE),), sharing.rewards(model, inputs).float())
        forwards += 1
    assert forwards >= 1
    return rewards


def sharing_for(model, max_length, **overrides) -> PrefixSharing:
    sharing = PrefixSharing.for_model(model, architecture="decoder", max_length=max_length, **overrides)
    assert sharing.enabled, sharing.reason
    # Pack wherever tokens are saved: a tiny model's attention would make the planner pass on some groups.
    sharing.pairs_per_token = float("inf")
    return sharing


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
@pytest.mark.parametrize("k", [2, 4, 9])
def test_packed_rewards_equal_the_unshared_forward(decoder, attention, k):
    model, tokenizer = load(decoder, attention)
    records = make_records(count=5, k=k, seed=k, with_ties=True)
    sequences, groups = sequences_and_groups(tokenizer, records, max_length=128)
    sharing = sharing_for(model, 128)
    with torch.no_grad():
        expected = unshared_rewards(model, sequences, tokenizer.pad_token_id)
        got = shared_rewards(model, sharing, sequences, groups)  # five groups padded into one forward
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    unshared_tokens = sum(len(sequence) for sequence in sequences)
    assert sharing.plan(sequences, groups).tokens < unshared_tokens  # the prompts really were shared


def test_truncated_identical_and_padded_sequences_stay_exact(decoder):
    model, tokenizer = load(decoder)
    sequences, groups = sequences_and_groups(tokenizer, long_records(), max_length=48)
    assert max(len(sequence) for sequence in sequences) == 48  # the length limit cut some of them
    assert min(len(sequence) for sequence in sequences) < 48
    sharing = sharing_for(model, 48)
    with torch.no_grad():
        expected = unshared_rewards(model, sequences, tokenizer.pad_token_id)
        got = shared_rewards(model, sharing, sequences, groups, max_tokens=200)  # several forwards
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    identical = [(a, b) for a in range(5) for b in range(a) if sequences[a].input_ids == sequences[b].input_ids]
    assert identical and all(got[a] == pytest.approx(float(got[b]), abs=1e-5) for a, b in identical)


def test_a_group_longer_than_the_packing_limit_is_split_into_rows_that_each_repeat_the_prefix(tiny_decoder):
    model, tokenizer = load(tiny_decoder)
    sequences, groups = sequences_and_groups(tokenizer, make_records(count=2, k=9, seed=5), max_length=64)
    limit = 64
    sharing = sharing_for(model, 64, max_packed_length=limit)
    plan = sharing.plan(sequences, groups)
    assert max(len(row) for row in plan.rows) <= limit
    assert len(plan.rows) > 2  # each group of nine needed more than one row
    assert sum(len(row) for row in plan.rows) < sum(len(sequence) for sequence in sequences)
    with torch.no_grad():
        expected = unshared_rewards(model, sequences, tokenizer.pad_token_id)
        got = shared_rewards(model, sharing, sequences, groups)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_a_sequence_that_ends_in_pad_tokens_is_read_where_the_model_reads_it(tiny_decoder):
    model, tokenizer = load(tiny_decoder)
    pad = tokenizer.pad_token_id
    prefix = tokenizer("w1 w2 w3 w4", add_special_tokens=False)["input_ids"]
    own = tokenizer("w5 w6", add_special_tokens=False)["input_ids"]
    sequences = [EncodedSequence(ids) for ids in (prefix + own + [pad], prefix + [pad, pad], prefix + own)]
    sharing = sharing_for(model, 64)
    with torch.no_grad():
        expected = unshared_rewards(model, sequences, pad)
        got = shared_rewards(model, sharing, sequences, [3])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert got[0] == pytest.approx(float(got[2]), abs=1e-5)  # both read at w6


def test_bf16_autocast_rewards_agree_within_bf16_rounding(decoder):
    model, tokenizer = load(decoder, "sdpa")
    sequences, groups = sequences_and_groups(tokenizer, long_records(), max_length=64)
    sharing = sharing_for(model, 64)
    device = torch.device(TEST_DEVICE)
    with torch.no_grad(), autocast(device, True):
        expected = unshared_rewards(model, sequences, tokenizer.pad_token_id)
        got = shared_rewards(model, sharing, sequences, groups)
    scale = float(expected.abs().max())
    torch.testing.assert_close(got, expected, rtol=2e-2, atol=2e-2 * scale)


@pytest.mark.parametrize("lora", [False, True])
def test_gradients_equal_the_unshared_forward(tiny_decoder, lora):
    model, tokenizer, _ = load_backbone(TrainConfig(model=tiny_decoder, lora=lora, max_length=64))
    model.to(TEST_DEVICE).train()
    records = encode_records(SequenceEncoder(tokenizer, architecture="decoder", max_length=64), long_records())
    batch = Collator().collate(records)
    sharing = sharing_for(model, 64)
    gradients = []
    for shared in (False, True):
        model.zero_grad(set_to_none=True)
        if shared:
            rewards = shared_rewards(model, sharing, batch.rows, batch.group_sizes)
        else:
            rewards = unshared_rewards(model, batch.rows, tokenizer.pad_token_id)
        on_device = Collator().collate(records)
        loss = bradley_terry_loss(rewards.cpu(), on_device, center_rewards_coefficient=0.01)
        loss.backward()
        gradients.append({name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None})
    assert gradients[0].keys() == gradients[1].keys() and gradients[0]
    for name, gradient in gradients[0].items():
        torch.testing.assert_close(gradients[1][name], gradient, rtol=1e-4, atol=1e-6, msg=name)


def test_training_with_and_without_sharing_takes_the_same_steps(tiny_decoder, tmp_path):
    records = long_records(count=8)
    runs = {
        shared: losses_of(
            quick_config(tiny_decoder, epochs=6, max_length=48, bf16="off", prefix_sharing=shared),
            records,
            tmp_path / f"rm-{shared}",
        )
        for shared in (True, False)
    }
    (shared_losses, shared_result), (plain_losses, plain_result) = runs[True], runs[False]
    assert shared_result.train_stats["prefix_sharing"] and not plain_result.train_stats["prefix_sharing"]
    assert sum(shared_losses[-4:-1]) < sum(shared_losses[:3]) * 0.8, shared_losses  # it learns
    assert shared_losses == pytest.approx(plain_losses, rel=1e-3, abs=1e-4)  # the same steps, shared or not
    assert shared_result.train_stats["padded_tokens"] < plain_result.train_stats["padded_tokens"]
    assert shared_result.normalization_bias == pytest.approx(plain_result.normalization_bias, abs=1e-4)


def test_the_scorer_and_the_batcher_share_prompts_and_score_alike(tiny_qwen2):
    model, tokenizer = load(tiny_qwen2, "sdpa")
    encoder = SequenceEncoder(tokenizer, architecture="decoder", max_length=48)
    shared = RewardScorer(model, encoder, device=torch.device(TEST_DEVICE))
    plain = RewardScorer(model, encoder, device=torch.device(TEST_DEVICE), prefix_sharing=False)
    assert shared.sharing.enabled and not plain.sharing.enabled
    items = [{"prompt": r.prompt, "context": r.context, "completions": r.completions} for r in long_records(count=5)]
    expected = plain.score(items, batch_size=7)
    for got in (shared.score(items, batch_size=7), MicroBatcher(shared).score(items)):
        assert [len(rewards) for rewards in got] == [len(rewards) for rewards in expected]
        for a, b in zip(got, expected, strict=True):
            assert a == pytest.approx(b, abs=1e-5)


def test_encoders_and_sliding_windows_keep_the_unshared_path(tiny_encoder, tmp_path):
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    encoder_model, _ = load(tiny_encoder)
    off = PrefixSharing.for_model(encoder_model, architecture="encoder", max_length=64)
    assert not off.enabled and "encoder" in off.reason
    config = Qwen2Config(
        vocab_size=80,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=32,
        num_labels=1,
        pad_token_id=0,
        use_sliding_window=True,
        sliding_window=16,
        max_window_layers=0,
    )
    windowed = PrefixSharing.for_model(Qwen2ForSequenceClassification(config), architecture="decoder", max_length=64)
    assert not windowed.enabled and "sliding" in windowed.reason
    switched_off = PrefixSharing.for_model(encoder_model, architecture="decoder", max_length=64, enabled=False)
    assert not switched_off.enabled
    sequences = [EncodedSequence([1, 2, 3]), EncodedSequence([1, 2, 4])]
    assert "segment_ids" not in next(iter(switched_off.chunks(sequences, [2], 100)))[1]


def test_the_plan_rejects_group_sizes_that_do_not_add_up():
    with pytest.raises(ValueError, match="add up"):
        plan_packing([EncodedSequence([1, 2])], [2], pad_token_id=0, max_packed_length=64, pairs_per_token=1e3)


def test_a_batch_whose_sequences_share_too_little_keeps_the_plain_forwards(tiny_decoder):
    model, _ = load(tiny_decoder)
    sharing = sharing_for(model, 64)  # tokens only: the planner joins wherever a token is saved
    group_a = [EncodedSequence([6, *range(10 + 10 * n, 20 + 10 * n)]) for n in range(4)]  # one token in common
    group_b = [EncodedSequence(list(range(50, 61))), EncodedSequence(list(range(51, 62)))]  # nothing in common
    sequences, groups = group_a + group_b, [4, 2]
    plan = sharing.plan(sequences, groups)
    assert plan.tokens < sum(len(sequence) for sequence in sequences)  # 41 + 11 + 11 < 6 x 11 ...
    assert sharing.cost(plan.rows, 1 << 20) > sharing.cost(sequences, 1 << 20)  # ... but 3 rows of 41 padded
    assert sharing.choose(sequences, groups, 1 << 20) is None
    assert all("segment_ids" not in inputs for _, inputs in sharing.chunks(sequences, groups, 1 << 20))
    assert sharing.tokens_forwarded(sequences, groups, 1 << 20) == 66
    shared_prompt = [EncodedSequence([*range(6, 26), 30 + n]) for n in range(4)]
    assert sharing.choose(shared_prompt, [4], 1 << 20) is not None
    assert sharing.tokens_forwarded(shared_prompt, [4], 1 << 20) == 24


def test_torchrun_ddp_trains_a_decoder_with_shared_prompts(tiny_decoder, tmp_path):
    data = tmp_path / "rankings.jsonl"
    data.write_text("".join(json.dumps(record.to_json()) + "\n" for record in long_records(count=8)))
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"),
        *("-m", "rewardtrain", "train", "--data", str(data), "--out", str(tmp_path / "rm"), "--model", tiny_decoder),
        *("--device", "cpu", "--bf16", "off", "--epochs", "2", "--prompts-per-batch", "2", "--max-length", "48"),
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment, cwd=ROOT)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["train"]["prefix_sharing"] is True
    assert result["train"]["padded_tokens"] < result["train"]["real_tokens"]
    assert result["train"]["steps"] == 2 * -(-len(split_by_prompt(long_records(count=8), 0.2, 0)[0]) // 4)  # 2 ranks
    assert (tmp_path / "rm" / "rewardtrain.json").exists()
