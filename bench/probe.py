"""A reward model cheap enough for simulations on a CPU: the score layer alone, on frozen MiniLM embeddings.

Fine-tuning MiniLM takes minutes per model on two shared cores; a simulation that retrains dozens of
models per seed cannot afford it. Here the body runs once: every ranked completion's pooled embedding
(what the score layer reads) is computed and cached on disk (:func:`embed_all`), and a model is then only
the score layer, trained from scratch in seconds with the trainer's own pieces: the records go through
``encode_records`` (record weights, style features, length-balance weights, bootstrap weights), the
``Collator`` builds the batches and ``batch_loss`` is the objective, as in ``rewardtrain.core.train``.
What it answers is what a linear reward on MiniLM's sentence embedding learns, not the fine-tuned
model's accuracy. Used by ``bench/length_probe.py``, ``bench/active_learning.py --model probe`` and
``bench/reliability_weighting.py --model probe``.

    from probe import ProbeRecipe, embed_all, fit_probe

    embeddings, index = embed_all(records, TrainConfig().model, 512, Path("var"))
    probe = fit_probe(train_records, embeddings, index, TrainConfig(), ProbeRecipe())
    scores = probe.scores(held_out)     # per record, a reward per completion (0 for unranked ones)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from rewardtrain.core.batching import Collator, make_batches
from rewardtrain.core.config import TrainConfig
from rewardtrain.core.data import RankedRecord
from rewardtrain.core.encoding import EncodedSequence, SequenceEncoder
from rewardtrain.core.style import STYLE_FEATURES, StyleScaler, style_features
from rewardtrain.core.train import batch_loss, encode_records, length_balance


@dataclass(frozen=True)
class ProbeRecipe:
    """How the score layer is trained (AdamW, ``prompts_per_batch`` of the TrainConfig a batch).

    The defaults were chosen on Open Assistant (6 seeds, a quarter of the prompts held out): held-out accuracy
    rises from 52.7 % at 16 rankings to 58.4 % at all 159; 30 epochs, lr 1e-3 or 1e-2, weight decay 0.1 or 1
    ended within a point of it. bench/length_probe.py passes its own (30 epochs)."""

    lr: float = 3e-3  # a linear layer on unit-scale features: far above a fine-tuning lr
    epochs: int = 10
    weight_decay: float = 0.0  # AdamW's decoupled decay; 0.1 and 1.0 changed nothing measurable


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulations' choice of model (``--model``) and the probe's recipe and embedding cache."""
    parser.add_argument(
        "--model",
        choices=("finetune", "probe"),
        default="finetune",
        help="finetune: train() on the whole MiniLM; probe: the score layer alone on cached frozen embeddings",
    )
    parser.add_argument("--probe-lr", type=float, default=ProbeRecipe.lr)
    parser.add_argument("--probe-epochs", type=int, default=ProbeRecipe.epochs)
    parser.add_argument("--probe-weight-decay", type=float, default=ProbeRecipe.weight_decay)
    parser.add_argument("--cache", default="var", help="where the probe's embeddings are cached")


def probe_recipe(args: argparse.Namespace) -> ProbeRecipe:
    return ProbeRecipe(lr=args.probe_lr, epochs=args.probe_epochs, weight_decay=args.probe_weight_decay)


def completion_key_of(context: list[dict[str, str]], prompt: str, text: str) -> str:
    return json.dumps([context, prompt, text], ensure_ascii=False)


def completion_key(record: RankedRecord, text: str) -> str:
    return completion_key_of(record.context, record.prompt, text)


class EmbeddingIds:
    """Stands in for the SequenceEncoder in ``encode_records``: each completion becomes a one-token
    "sequence" whose token is the row of its embedding, so the trainer's batching carries it through."""

    def __init__(self, index: dict[str, int]) -> None:
        self.index = index

    def encode(self, context: list[dict[str, str]], prompt: str, completions: list[str]) -> list[EncodedSequence]:
        return [EncodedSequence([self.index[completion_key_of(context, prompt, text)]]) for text in completions]


def embed_all(
    records: list[RankedRecord], model: str, max_length: int, cache: Path
) -> tuple[torch.Tensor, dict[str, int]]:
    """Pooled embeddings of every ranked completion (cached on disk by content, model and max length)."""
    index: dict[str, int] = {}
    items: list[tuple[RankedRecord, str]] = []
    for record in records:
        for i in record.ranked_indices():
            key = completion_key(record, record.completions[i])
            if key not in index:
                index[key] = len(items)
                items.append((record, record.completions[i]))
    fingerprint = hashlib.sha256(json.dumps([list(index), model, max_length]).encode()).hexdigest()[:16]
    path = cache / f"length-probe-{fingerprint}.pt"
    if path.exists():
        return torch.load(path), index
    from rewardtrain.core.batching import padded_chunks
    from rewardtrain.core.model import load_backbone

    backbone, tokenizer, architecture = load_backbone(TrainConfig(model=model, max_length=max_length))
    body = backbone.base_model.eval()
    encoder = SequenceEncoder(tokenizer, architecture=architecture, max_length=max_length)
    sequences = [encoder.encode(record.context, record.prompt, [text])[0] for record, text in items]
    embeddings = torch.empty(len(sequences), backbone.config.hidden_size)
    started = time.perf_counter()
    with torch.inference_mode():
        for rows, inputs in padded_chunks(sequences, 8192, tokenizer.pad_token_id):
            embeddings[rows] = body(**inputs).pooler_output.float()
    print(f"embedded {len(sequences)} completions in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(embeddings, path)
    return embeddings, index


def train_head(
    embeddings: torch.Tensor, encoded: list, config: TrainConfig, recipe: ProbeRecipe
) -> tuple[torch.nn.Linear, torch.Tensor | None]:
    """The score layer (and style control's β where used) trained from scratch on ``encoded``."""
    torch.manual_seed(config.seed)
    head = torch.nn.Linear(embeddings.shape[1], config.output_heads)
    groups: list[dict] = [{"params": head.parameters()}]
    beta = None
    if config.length_control == "style":
        beta = torch.zeros(len(STYLE_FEATURES), requires_grad=True)
        groups.append({"params": [beta], "lr": config.style_lr, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    collator = Collator(config.mode)
    lengths = [1] * len(encoded)
    for epoch in range(recipe.epochs):
        for indices in make_batches(
            lengths, config.prompts_per_batch or 8, seed=config.seed, epoch=epoch, group_by_length=False
        ):
            batch = collator.collate([encoded[i] for i in indices])
            rows = torch.tensor([row.input_ids[0] for row in batch.rows])
            loss = batch_loss(head(embeddings[rows]), batch, config, beta)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return head, beta


@dataclass
class Probe:
    """A trained score layer; its outputs are centred on the mean over the training completions."""

    head: torch.nn.Linear
    centre: torch.Tensor
    embeddings: torch.Tensor
    index: dict[str, int]
    beta: torch.Tensor | None = None
    training_pairs: int = 0

    @torch.no_grad()
    def outputs(self, record: RankedRecord) -> torch.Tensor:
        """[ranked completions, heads]: the layer's outputs for ``record.ranked_indices()`` in that order."""
        ranked = record.ranked_indices()
        rows = torch.tensor([self.index[completion_key(record, record.completions[i])] for i in ranked])
        return self.head(self.embeddings[rows]) - self.centre

    def scores(self, records: list[RankedRecord]) -> list[list[float]]:
        """Per record, the reward of every completion (0.0 for the unranked ones), as ``evaluate`` takes them."""
        out = []
        for record in records:
            full = [0.0] * len(record.completions)
            rewards = self.outputs(record)[:, 0].tolist()
            for position, i in enumerate(record.ranked_indices()):
                full[i] = rewards[position]
            out.append(full)
        return out


def fit_probe(
    records: list[RankedRecord],
    embeddings: torch.Tensor,
    index: dict[str, int],
    config: TrainConfig,
    recipe: ProbeRecipe,
) -> Probe:
    """Train the score layer on ``records`` under ``config``'s objective (length control, record weights,
    uncertainty heads) and ``recipe``; raises ``DataError`` when no record has a preference."""
    style = None
    if config.length_control in ("style", "length_head"):
        style = StyleScaler.fit([style_features(r.completions[i]) for r in records for i in r.ranked_indices()])
    balance = length_balance(records) if config.length_control == "balance" else None
    encoded = encode_records(
        EmbeddingIds(index),  # type: ignore[arg-type]
        records,
        style=style,
        balance=balance,
        bootstrap_heads=config.uncertainty_heads,
        seed=config.seed,
    )
    head, beta = train_head(embeddings, encoded, config, recipe)
    with torch.no_grad():
        train_rows = torch.tensor(sorted({row.input_ids[0] for item in encoded for row in item.sequences}))
        centre = head(embeddings[train_rows]).mean(dim=0)
    return Probe(head, centre, embeddings, index, beta, sum(len(item.comparisons) for item in encoded))
