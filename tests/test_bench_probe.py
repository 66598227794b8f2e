"""bench/probe.py, the score-layer model the simulations train: it learns a preference from the trainer's
pieces and honours record weights, on embeddings made up so that the answer is known."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from probe import ProbeRecipe, completion_key, fit_probe  # noqa: E402

from rewardtrain.core.config import TrainConfig  # noqa: E402
from rewardtrain.core.data import RankedRecord  # noqa: E402
from rewardtrain.core.evaluate import metrics_from_scores  # noqa: E402

DIMENSIONS = 16


def preference_data(prompts: int, seed: int) -> tuple[list[RankedRecord], torch.Tensor, dict[str, int]]:
    """Prompts of 3 completions with random embeddings, ranked by one hidden direction of them."""
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.ones(DIMENSIONS) / DIMENSIONS**0.5
    records, rows, index = [], [], {}
    for number in range(prompts):
        record = RankedRecord(prompt=f"prompt {seed}-{number}", completions=[f"reply {k}" for k in range(3)])
        vectors = torch.randn(3, DIMENSIONS, generator=generator)
        for k, vector in enumerate(vectors):
            index[completion_key(record, record.completions[k])] = len(rows)
            rows.append(vector)
        best_first = sorted(range(3), key=lambda k: -float(vectors[k] @ hidden))
        record.order = [[k] for k in best_first]
        records.append(record)
    return records, torch.stack(rows), index


def held_out_accuracy(train: list[RankedRecord], test: list[RankedRecord], embeddings, index) -> float:
    probe = fit_probe(train, embeddings, index, TrainConfig(seed=0), ProbeRecipe())
    return metrics_from_scores(test, probe.scores(test))["pairwise_accuracy"]


def reversed_copy(record: RankedRecord, weight: float) -> RankedRecord:
    return RankedRecord(prompt=record.prompt, completions=record.completions, order=record.order[::-1], weight=weight)


def test_the_probe_learns_the_hidden_preference_and_more_data_helps():
    records, embeddings, index = preference_data(160, seed=1)
    train, test = records[:120], records[120:]

    few = held_out_accuracy(train[:4], test, embeddings, index)
    many = held_out_accuracy(train, test, embeddings, index)

    assert many >= 0.8  # 0.86 measured; the hidden direction is learnable but the data are finite
    assert many >= few + 0.2  # four prompts teach it next to nothing (0.46)


def test_weight_zero_on_reversed_rankings_keeps_what_unweighted_training_loses():
    records, embeddings, index = preference_data(160, seed=2)
    train, test = records[:120], records[120:]
    honest = [RankedRecord(prompt=r.prompt, completions=r.completions, order=r.order) for r in train[:40]]
    unweighted = honest + [reversed_copy(record, 1.0) for record in train[40:]]
    weighted = honest + [reversed_copy(record, 0.0) for record in train[40:]]

    assert held_out_accuracy(unweighted, test, embeddings, index) <= 0.35  # learns the reversed order (0.22)
    assert held_out_accuracy(weighted, test, embeddings, index) >= 0.65  # what the 40 honest ones teach (0.75)
