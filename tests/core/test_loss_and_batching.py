"""The collator's contract, the loss, and grouped == pairwise (loss and gradients) on the same data."""

from __future__ import annotations

import pytest
import torch

from rewardtrain.core.batching import Collator, EncodedRecord, chunk_plan, make_batches, shard_batches
from rewardtrain.core.config import TrainConfig
from rewardtrain.core.data import Comparison, RankedRecord
from rewardtrain.core.encoding import EncodedSequence, SequenceEncoder
from rewardtrain.core.loss import bradley_terry_loss
from rewardtrain.core.model import load_backbone
from rewardtrain.core.train import compute_rewards, encode_records
from tests.core.conftest import make_records


def sequences(*lengths: int) -> list[EncodedSequence]:
    return [EncodedSequence(list(range(1, n + 1))) for n in lengths]


def docstring_example() -> list[EncodedRecord]:
    a = EncodedRecord(sequences(3, 4, 5), [Comparison(0, 1, 1), Comparison(0, 2, 2), Comparison(1, 2, 1)])
    b = EncodedRecord(sequences(2, 6), [Comparison(1, 0, 1)])
    return [a, b]


def test_the_grouped_collator_matches_its_documented_example():
    batch = Collator("grouped", margin_by_rank_gap=True, rank_margin=0.5).collate(docstring_example())
    assert [len(row) for row in batch.rows] == [3, 4, 5, 2, 6]
    assert batch.winner.tolist() == [0, 0, 1, 4]
    assert batch.loser.tolist() == [1, 2, 2, 3]
    assert batch.pair_weight.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])
    assert batch.margin.tolist() == [0.0, 0.5, 0.0, 0.0]
    assert batch.row_weight.tolist() == pytest.approx([1 / 6] * 3 + [1 / 4] * 2)


def test_the_pairwise_collator_forwards_two_rows_per_pair():
    batch = Collator("pairwise").collate(docstring_example())
    assert [len(row) for row in batch.rows] == [3, 4, 3, 5, 4, 5, 6, 2]
    assert batch.winner.tolist() == [0, 2, 4, 6] and batch.loser.tolist() == [1, 3, 5, 7]
    assert batch.pair_weight.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])


def test_pair_weighting_weighs_every_pair_alike_across_prompts():
    batch = Collator("grouped", pair_weighting="pair").collate(docstring_example())
    assert batch.pair_weight.tolist() == pytest.approx([1 / 4] * 4)  # the K=3 prompt now counts 3x the K=2 one
    assert batch.row_weight.tolist() == pytest.approx([1 / 6] * 3 + [1 / 4] * 2)  # centering stays per prompt
    with pytest.raises(ValueError, match="pair_weighting"):
        TrainConfig(pair_weighting="row")


def test_record_weights_scale_their_pairs_in_both_weightings():
    a, b = docstring_example()
    a.weight, b.weight = 1.5, 0.5
    batch = Collator("grouped").collate([a, b])
    assert batch.pair_weight.tolist() == pytest.approx([1.5 / 6] * 3 + [0.5 / 2])
    batch = Collator("grouped", pair_weighting="pair").collate([a, b])
    assert batch.pair_weight.tolist() == pytest.approx([1.5 / 4] * 3 + [0.5 / 4])


def test_encoding_rescales_weights_to_average_one_and_refuses_all_zero(tiny_encoder):
    model, tokenizer, architecture = load_backbone(TrainConfig(model=tiny_encoder, device="cpu"))
    encoder = SequenceEncoder(tokenizer, architecture=architecture, max_length=32)
    records = make_records(count=3)
    for record, weight in zip(records, (0.0, 1.0, 2.0), strict=True):
        record.weight = weight
    assert [record.weight for record in encode_records(encoder, records)] == pytest.approx([0.0, 1.0, 2.0])
    records[1].weight = records[2].weight = 0.0
    with pytest.raises(ValueError, match="weight 0"):
        encode_records(encoder, records)


def test_chunks_are_length_sorted_and_within_the_token_budget():
    batch = Collator().collate(docstring_example())
    chunks = list(batch.chunks(max_tokens=12, pad_token_id=0))
    assert [rows.tolist() for rows, _ in chunks] == [[4, 2], [1, 0, 3]]
    assert all(inputs["input_ids"].numel() <= 12 for _, inputs in chunks)
    rows, inputs = chunks[1]
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]
    assert batch.padded_tokens(12) == 12 + 12


def test_the_forward_budget_is_the_setting_or_the_devices():
    from rewardtrain.core.model import (
        CPU_SCORING_TOKENS_PER_FORWARD,
        CPU_TRAINING_TOKENS_PER_FORWARD,
        GPU_TOKENS_PER_FORWARD,
        resolve_tokens_per_forward,
    )

    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert resolve_tokens_per_forward(512, cpu, training=True) == 512  # an explicit budget wins everywhere
    assert resolve_tokens_per_forward(512, gpu, training=False) == 512
    assert resolve_tokens_per_forward(0, cpu, training=True) == CPU_TRAINING_TOKENS_PER_FORWARD == 1024
    assert resolve_tokens_per_forward(0, cpu, training=False) == CPU_SCORING_TOKENS_PER_FORWARD == 4096
    assert resolve_tokens_per_forward(0, gpu, training=True) == GPU_TOKENS_PER_FORWARD == 16384
    assert TrainConfig(model="unused").max_tokens_per_forward == 0
    with pytest.raises(ValueError, match="max_tokens_per_forward"):
        TrainConfig(model="unused", max_tokens_per_forward=-1)


def test_long_and_short_rows_go_through_separate_forwards():
    rows = sequences(*([1000] * 8 + [10] * 8))
    plan = chunk_plan(rows, max_tokens=100_000)
    assert [len(chunk) for chunk in plan] == [8, 8]
    assert {len(rows[i]) for i in plan[1]} == {10}  # not padded to 100


def test_the_loss_is_the_weighted_bradley_terry_nll():
    batch = Collator().collate(docstring_example())
    rewards = torch.tensor([2.0, 1.0, 0.0, 0.5, -0.5])
    expected_a = -(torch.nn.functional.logsigmoid(torch.tensor([1.0, 2.0, 1.0]))).mean()
    expected_b = -torch.nn.functional.logsigmoid(torch.tensor(-1.0))
    assert bradley_terry_loss(rewards, batch).item() == pytest.approx(((expected_a + expected_b) / 2).item())
    centered = bradley_terry_loss(rewards, batch, center_rewards_coefficient=0.1).item()
    centering = 0.1 * ((4 + 1 + 0) / 3 + (0.25 + 0.25) / 2) / 2
    assert centered == pytest.approx(((expected_a + expected_b) / 2).item() + centering)


@pytest.mark.parametrize(("centering", "margin"), [(0.0, False), (0.01, True)])
def test_grouped_and_pairwise_modes_give_the_same_loss_and_gradients(tiny_encoder, centering, margin):
    config = TrainConfig(model=tiny_encoder, max_length=64, bf16="off", device="cpu")
    model, tokenizer, architecture = load_backbone(config)
    model.train()  # dropout is off by default, so train mode is deterministic
    encoder = SequenceEncoder(tokenizer, architecture=architecture, max_length=64)
    encoded = encode_records(encoder, make_records(count=3, k=4, with_ties=True) + make_records(count=2, k=3, seed=5))

    def loss_and_gradients(mode: str) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        batch = Collator(mode, margin_by_rank_gap=margin).collate(encoded)
        from rewardtrain.core.train import _ChunkedRewards

        rewards = compute_rewards(
            _ChunkedRewards(model), batch, device=torch.device("cpu"), bf16=False, max_tokens=256, pad_token_id=0
        )
        loss = bradley_terry_loss(rewards, batch, center_rewards_coefficient=centering)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    grouped_loss, grouped_grads = loss_and_gradients("grouped")
    pairwise_loss, pairwise_grads = loss_and_gradients("pairwise")
    assert grouped_loss == pytest.approx(pairwise_loss, rel=1e-5)
    assert len(grouped_grads) == len(pairwise_grads) > 10
    for grouped, pairwise in zip(grouped_grads, pairwise_grads, strict=True):
        torch.testing.assert_close(grouped, pairwise, rtol=1e-4, atol=1e-6)


def test_ties_leave_pairs_out_and_records_without_preferences_are_skipped(tiny_encoder):
    config = TrainConfig(model=tiny_encoder, max_length=32)
    _, tokenizer, architecture = load_backbone(config)
    encoder = SequenceEncoder(tokenizer, architecture=architecture, max_length=32)
    tied = RankedRecord(prompt="p", completions=["a", "b", "c"], order=[[0, 1], [2]])
    all_tied = RankedRecord(prompt="q", completions=["a", "b"], order=[[0, 1]])
    (encoded,) = encode_records(encoder, [tied, all_tied])
    assert [(c.winner, c.loser) for c in encoded.comparisons] == [(0, 2), (1, 2)]


def test_length_grouped_batches_cover_every_record_once_and_are_deterministic():
    lengths = [5, 50, 7, 48, 9, 51, 6, 49]
    batches = make_batches(lengths, 2, seed=3, epoch=0, group_by_length=True)
    assert sorted(i for batch in batches for i in batch) == list(range(8))
    assert batches == make_batches(lengths, 2, seed=3, epoch=0, group_by_length=True)
    assert batches != make_batches(lengths, 2, seed=3, epoch=1, group_by_length=True)
    spread = sum(abs(lengths[a] - lengths[b]) for a, b in batches)
    assert spread == 5  # similar lengths share a batch


def test_each_rank_gets_as_many_batches():
    batches = [[i] for i in range(5)]
    shards = [shard_batches(batches, rank, 2) for rank in range(2)]
    assert [len(shard) for shard in shards] == [3, 3]
    assert sorted(i for shard in shards for batch in shard for i in batch)[:5] == [0, 0, 1, 2, 3]
