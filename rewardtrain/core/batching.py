"""Batches: which sequences go through the model, and which pairs of their rewards the loss compares.

The collator's contract, on a tiny example. Two prompts: A with 3 completions ranked a0 > a1 > a2, and
B with 2 completions where b1 > b0. In ``grouped`` mode each completion is one row::

    rows        = [a0, a1, a2, b0, b1]            # token id sequences, unpadded
    winner      = [0, 0, 1, 4]                    # row of each pair's winner ...
    loser       = [1, 2, 2, 3]                    # ... and loser
    pair_weight = [1/6, 1/6, 1/6, 1/2]            # 1/(pairs of its prompt) / (prompts in the batch)
    margin      = [0, 0.5, 0, 0]                  # with margin_by_rank_gap: rank_margin * (gap - 1)
    row_weight  = [1/6, 1/6, 1/6, 1/4, 1/4]       # 1/(rows of its prompt) / (prompts), for centering

In ``pairwise`` mode (TRL's compute) every pair gets its own two rows -- ``[a0, a1, a0, a2, a1, a2, b1,
b0]``, winner ``[0, 2, 4, 6]``, loser ``[1, 3, 5, 7]`` -- with the same weights, so both modes compute
the same loss; grouped forwards K sequences per prompt instead of K(K-1).

:meth:`Batch.chunks` pads the rows for the model: sorted by length and cut into forwards of at most
``max_tokens`` padded tokens, so short completions are not padded to the longest one of the batch.

Example::

    from rewardtrain.core.batching import Collator
    batch = Collator(mode="grouped").collate(encoded_records)
    for rows, inputs in batch.chunks(max_tokens=8192, pad_token_id=0):
        rewards[rows] = model(**inputs).logits[:, 0]
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence, Sized
from dataclasses import dataclass, field
from typing import Literal

import torch

from rewardtrain.core.data import Comparison
from rewardtrain.core.encoding import EncodedSequence


@dataclass
class EncodedRecord:
    """A record after tokenization: its ranked completions' sequences and the comparisons between them."""

    sequences: list[EncodedSequence]
    comparisons: list[Comparison]  # winner/loser index into ``sequences``
    weight: float = 1.0  # the record's weight, rescaled so the training set's weights average 1
    style: list[list[float]] | None = None  # standardised style features of each sequence (length control)
    pair_scale: list[float] | None = None  # a weight multiplier per comparison (length-balanced weighting)
    bootstrap: list[list[float]] | None = None  # per comparison, its weight in each uncertainty head's resample

    @property
    def longest(self) -> int:
        return max(len(sequence) for sequence in self.sequences)

    @property
    def tokens(self) -> int:
        return sum(len(sequence) for sequence in self.sequences)


@dataclass
class Batch:
    rows: list[EncodedSequence]
    winner: torch.Tensor  # long [pairs]
    loser: torch.Tensor  # long [pairs]
    pair_weight: torch.Tensor  # float [pairs]
    margin: torch.Tensor  # float [pairs]
    row_weight: torch.Tensor  # float [rows]
    prompts: int
    # Consecutive rows that share a prompt (grouped: K per prompt; pairwise: 2 per pair), for prefix sharing.
    group_sizes: list[int] = field(default_factory=list)
    style: torch.Tensor | None = None  # float [rows, features], when the records carry style features
    bootstrap: torch.Tensor | None = None  # float [pairs, heads], when they carry bootstrap weights

    def to(self, device: torch.device) -> Batch:
        """The tensors on ``device`` (the rows stay token lists)."""
        moved = {
            name: value.to(device) if isinstance(value, torch.Tensor) else value for name, value in vars(self).items()
        }
        return Batch(**moved)

    @property
    def real_tokens(self) -> int:
        return sum(len(row) for row in self.rows)

    def chunks(self, max_tokens: int, pad_token_id: int) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        return padded_chunks(self.rows, max_tokens, pad_token_id)

    def padded_tokens(self, max_tokens: int) -> int:
        """Tokens the model reads for this batch, padding included."""
        return padded_tokens(self.rows, max_tokens)


# A new forward costs about as much as this many padded tokens on a CPU (measured with MiniLM, bf16):
# split a batch only where that saves more padding than this.
SPLIT_WHEN_SAVING_TOKENS = 1024


def chunk_plan(rows: Sequence[Sized], max_tokens: int) -> list[list[int]]:
    """Row indices of each forward. Rows are sorted longest first; a new forward starts when the next row
    would take the current one past ``max_tokens`` padded tokens, or when padding it and every shorter row
    to the current width would waste more than ``SPLIT_WHEN_SAVING_TOKENS`` tokens."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]), reverse=True)
    plan: list[list[int]] = []
    for position, index in enumerate(order):
        length = max(len(rows[index]), 1)
        if plan:
            chunk = plan[-1]
            width = len(rows[chunk[0]])
            fits = (len(chunk) + 1) * width <= max_tokens
            saving = (width - length) * (len(order) - position)
            if fits and saving <= SPLIT_WHEN_SAVING_TOKENS:
                chunk.append(index)
                continue
        plan.append([index])
    return plan


def padded_tokens(rows: Sequence[Sized], max_tokens: int) -> int:
    """Tokens the forwards of :func:`chunk_plan` read, padding included."""
    return sum(len(rows[chunk[0]]) * len(chunk) for chunk in chunk_plan(rows, max_tokens))


def padded_chunks(
    rows: list[EncodedSequence], max_tokens: int, pad_token_id: int
) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Yield (row indices, padded model inputs) for each forward of :func:`chunk_plan`."""
    for picked in chunk_plan(rows, max_tokens):
        yield torch.tensor(picked), _pad([rows[i] for i in picked], len(rows[picked[0]]), pad_token_id)


def _pad(rows: list[EncodedSequence], width: int, pad_token_id: int) -> dict[str, torch.Tensor]:
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    token_type_ids = torch.zeros((len(rows), width), dtype=torch.long) if rows[0].token_type_ids else None
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row.input_ids)
        attention_mask[i, : len(row)] = 1
        if token_type_ids is not None and row.token_type_ids:
            token_type_ids[i, : len(row)] = torch.tensor(row.token_type_ids)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        inputs["token_type_ids"] = token_type_ids
    return inputs


@dataclass
class Collator:
    mode: Literal["grouped", "pairwise"] = "grouped"
    margin_by_rank_gap: bool = False
    rank_margin: float = 0.5
    pair_weighting: Literal["prompt", "pair"] = "prompt"  # prompt: 1/C(K,2) each (InstructGPT); pair: all alike

    def collate(self, records: list[EncodedRecord]) -> Batch:
        rows: list[EncodedSequence] = []
        winner: list[int] = []
        loser: list[int] = []
        pair_weight: list[float] = []
        margin: list[float] = []
        row_weight: list[float] = []
        group_sizes: list[int] = []
        style: list[list[float]] = []
        bootstrap: list[list[float]] = []
        prompts = len(records)
        for record in records:
            pairs = record.comparisons
            first_row = len(rows)
            if self.mode == "grouped":
                rows.extend(record.sequences)
                group_sizes.append(len(record.sequences))
                winner.extend(first_row + pair.winner for pair in pairs)
                loser.extend(first_row + pair.loser for pair in pairs)
                style.extend(record.style or [])
            else:
                for n, pair in enumerate(pairs):
                    rows.extend((record.sequences[pair.winner], record.sequences[pair.loser]))
                    winner.append(first_row + 2 * n)
                    loser.append(first_row + 2 * n + 1)
                    group_sizes.append(2)
                    if record.style:
                        style.extend((record.style[pair.winner], record.style[pair.loser]))
            scale = record.pair_scale or [1.0] * len(pairs)
            pair_weight.extend(record.weight * factor / (len(pairs) * prompts) for factor in scale)
            bootstrap.extend(record.bootstrap or [])
            row_weight.extend([1.0 / ((len(rows) - first_row) * prompts)] * (len(rows) - first_row))
            margin.extend(
                pair.margin + (self.rank_margin * (pair.rank_gap - 1) if self.margin_by_rank_gap else 0.0)
                for pair in pairs
            )
        if self.pair_weighting == "pair":  # every pair alike (times its record's weight), as pairwise trainers do
            pair_weight = [factor / len(pair_weight) for factor in _pair_scales(records)]
        return Batch(
            rows=rows,
            winner=torch.tensor(winner, dtype=torch.long),
            loser=torch.tensor(loser, dtype=torch.long),
            pair_weight=torch.tensor(pair_weight, dtype=torch.float32),
            margin=torch.tensor(margin, dtype=torch.float32),
            row_weight=torch.tensor(row_weight, dtype=torch.float32),
            prompts=prompts,
            group_sizes=group_sizes,
            style=torch.tensor(style, dtype=torch.float32) if len(style) == len(rows) and style else None,
            bootstrap=torch.tensor(bootstrap, dtype=torch.float32)
            if len(bootstrap) == len(winner) and bootstrap
            else None,
        )


def _pair_scales(records: list[EncodedRecord]) -> list[float]:
    """Each pair's weight multiplier: its record's weight times its own scale (length balance)."""
    return [
        record.weight * factor
        for record in records
        for factor in (record.pair_scale or [1.0] * len(record.comparisons))
    ]


def make_batches(
    lengths: list[int],
    prompts_per_batch: int,
    *,
    seed: int,
    epoch: int,
    group_by_length: bool,
    pairs: list[int] | None = None,
    pairs_per_batch: int = 0,
) -> list[list[int]]:
    """Record indices for one epoch, ``prompts_per_batch`` at a time; deterministic in (seed, epoch).

    With ``prompts_per_batch`` 0, a batch instead takes records until it holds ``pairs_per_batch`` comparisons
    (each record's count in ``pairs``), so every step carries about as much evidence whatever the K.
    With ``group_by_length``, records are shuffled, then sorted by length inside windows of 32 batches and
    the resulting batches shuffled again: batches hold records of similar length (less padding) while the
    order of batches stays random.
    """
    rng = random.Random(seed * 100_003 + epoch)
    indices = list(range(len(lengths)))
    rng.shuffle(indices)
    by_pairs = prompts_per_batch == 0
    if by_pairs:
        if pairs is None or len(pairs) != len(lengths) or pairs_per_batch < 1:
            raise ValueError("batches by comparisons need each record's pair count and pairs_per_batch >= 1")
        per_batch = max(1, round(pairs_per_batch * len(pairs) / max(1, sum(pairs))))  # prompts, on average
    else:
        per_batch = prompts_per_batch
    if group_by_length:
        window = 32 * per_batch
        indices = [
            i
            for start in range(0, len(indices), window)
            for i in sorted(indices[start : start + window], key=lambda i: lengths[i], reverse=True)
        ]
    if by_pairs:
        assert pairs is not None
        batches: list[list[int]] = []
        batch: list[int] = []
        held = 0
        for i in indices:
            batch.append(i)
            held += pairs[i]
            if held >= pairs_per_batch:
                batches.append(batch)
                batch, held = [], 0
        if batch:
            batches.append(batch)
    else:
        batches = [indices[start : start + per_batch] for start in range(0, len(indices), per_batch)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


def shard_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This process's share of an epoch's batches under data parallelism (every rank gets as many)."""
    if world_size <= 1:
        return batches
    per_rank = -(-len(batches) // world_size)
    padded = (batches * world_size)[: per_rank * world_size]  # repeat early batches, as DistributedSampler pads
    return padded[rank::world_size]
