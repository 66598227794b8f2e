"""Train a reward model on ranked records and write it as an artifact directory.

Example (CPU, about a minute with the shipped MiniLM)::

    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.data import load_oasst_trees
    from rewardtrain.core.train import train

    records = load_oasst_trees("annotate/fixtures/oasst_en100/en_100_tree.jsonl")
    result = train(TrainConfig(), records, out_dir="artifacts/oasst-rm", on_progress=print)
    result.metrics["pairwise_accuracy"], result.metrics["length_baseline_accuracy"]

``on_progress`` gets ``{"step", "total_steps", "epoch", "loss", "lr", "eval", "eval_seconds"}`` after every
optimizer step (``eval`` is the metrics dict on evaluation steps, else None; ``eval_seconds`` the wall seconds
that evaluation took, 0.0 without one, so a caller timing the run can leave evaluation out), and once more
at the end with the final metrics. ``should_stop()`` returning True ends the run with
:class:`TrainingCancelled` and writes nothing.

Data parallel: run the same command under ``torchrun --nproc_per_node N``; each process takes every
N-th batch, gradients are averaged by DDP, and rank 0 evaluates and writes the artifact.

The artifact (``out_dir``) appears all at once: it is built in a hidden directory beside ``out_dir`` and
renamed into place, so a killed process never leaves a half-written model there. It holds
``save_pretrained`` weights and tokenizer plus ``rewardtrain.json`` (config, data manifest, metrics,
normalization bias, library versions, device).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import random
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from rewardtrain.core.batching import Batch, Collator, EncodedRecord, make_batches, shard_batches
from rewardtrain.core.config import TrainConfig
from rewardtrain.core.data import DataError, RankedRecord, records_summary, split_by_prompt
from rewardtrain.core.encoding import SequenceEncoder
from rewardtrain.core.evaluate import evaluate, metrics_from_scores
from rewardtrain.core.loss import bootstrap_heads_loss, bradley_terry_loss, length_head_penalty, style_offset
from rewardtrain.core.model import (
    Precision,
    attention_implementation,
    autocast,
    load_backbone,
    max_positions,
    resolve_bf16,
    resolve_device,
    resolve_precision,
    resolve_tokens_per_forward,
    set_attention_implementation,
    training_attention,
)
from rewardtrain.core.packing import PrefixSharing, sequence_outputs
from rewardtrain.core.scoring import ARTIFACT_INFO, RewardScorer, head_layout
from rewardtrain.core.style import STYLE_FEATURES, StyleScaler, style_features

ARTIFACT_FORMAT = "rankforge-reward-model"
ARTIFACT_FORMAT_VERSION = 1


class TrainingCancelled(Exception):
    """``should_stop()`` asked to stop; no artifact was written."""


@dataclass
class TrainResult:
    out_dir: Path | None  # None on ranks other than 0
    metrics: dict[str, Any] | None  # held-out metrics (see rewardtrain.core.evaluate), None without eval data
    train_stats: dict[str, Any]  # steps, final loss, sequences and tokens forwarded, timings
    normalization_bias: float
    info: dict[str, Any] = field(default_factory=dict)  # the content of rewardtrain.json

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": None if self.out_dir is None else str(self.out_dir),
            "metrics": self.metrics,
            "train": self.train_stats,
            "normalization_bias": self.normalization_bias,
        }


@dataclass
class _Distributed:
    """torchrun's environment: WORLD_SIZE, RANK, LOCAL_RANK."""

    world_size: int = 1
    rank: int = 0

    @classmethod
    def from_environment(cls) -> _Distributed:
        return cls(int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0)))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


class _ChunkedRewards(nn.Module):
    """One module call for all of a batch's forwards, so DDP sees a single forward per backward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, chunks: list[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
        return [sequence_outputs(self.model, inputs) for inputs in chunks]


def encode_records(
    encoder: SequenceEncoder,
    records: list[RankedRecord],
    *,
    style: StyleScaler | None = None,
    balance: tuple[float, float] | None = None,
    bootstrap_heads: int = 0,
    seed: int = 0,
) -> list[EncodedRecord]:
    """Tokenize each record's ranked completions once; records without a strict preference are skipped.

    Record weights are rescaled to average 1 over the records kept, so weighting changes how the loss is
    shared between records, not its scale (nor the learning rate's effect). All-zero weights are refused.
    ``style``: attach each completion's standardised style features. ``balance``: the weight multipliers of
    pairs the longer reply won and of pairs the shorter one won (:func:`length_balance`). ``bootstrap_heads``:
    give each pair a Poisson(1) weight per uncertainty head, drawn once from ``seed`` (a fixed resample).
    """
    kept = [record for record in records if record.ranked_indices()]
    total_weight = sum(record.weight for record in kept)
    if kept and total_weight <= 0:
        raise DataError("every training record has weight 0: nothing would be learned")
    scale = len(kept) / total_weight if kept else 1.0
    rng = random.Random(seed * 7919 + 17)
    encoded = []
    for record in records:
        ranked = record.ranked_indices()
        if not ranked:
            continue
        position = {index: n for n, index in enumerate(ranked)}
        sequences = encoder.encode(record.context, record.prompt, [record.completions[i] for i in ranked])
        pairs = record.comparisons()
        comparisons = [pair._replace(winner=position[pair.winner], loser=position[pair.loser]) for pair in pairs]
        item = EncodedRecord(sequences, comparisons, record.weight * scale)
        if style is not None:
            item.style = [style.transform(style_features(record.completions[i])) for i in ranked]
        if balance is not None:
            item.pair_scale = [_balance_factor(record, pair, balance) for pair in pairs]
        if bootstrap_heads:
            item.bootstrap = [[float(_poisson_one(rng)) for _ in range(bootstrap_heads)] for _ in pairs]
        encoded.append(item)
    return encoded


def length_balance(records: list[RankedRecord]) -> tuple[float, float]:
    """Weight multipliers (longer won, shorter won) that give both kinds of pair half the total weight."""
    longer = shorter = 0
    for record in records:
        for pair in record.comparisons():
            winner, loser = len(record.completions[pair.winner]), len(record.completions[pair.loser])
            longer += winner > loser
            shorter += winner < loser
    if not longer or not shorter:
        return 1.0, 1.0  # nothing to balance against
    total = longer + shorter
    return total / (2 * longer), total / (2 * shorter)


def _balance_factor(record: RankedRecord, pair: Any, balance: tuple[float, float]) -> float:
    winner, loser = len(record.completions[pair.winner]), len(record.completions[pair.loser])
    return balance[0] if winner > loser else balance[1] if winner < loser else 1.0


def _poisson_one(rng: random.Random) -> int:
    """A Poisson(1) draw (Knuth): the number of times a pair appears in a bootstrap resample."""
    threshold, count, product = math.exp(-1.0), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def batch_loss(outputs: torch.Tensor, batch: Batch, config: TrainConfig, beta: torch.Tensor | None) -> torch.Tensor:
    """The training objective of one batch from the score layer's outputs ([rows, heads]; reward = 0)."""
    layout = head_layout(config.length_control == "length_head", config.uncertainty_heads)
    rewards = outputs[:, layout["reward"]]
    coefficient = config.center_rewards_coefficient
    if layout["length"] is not None:
        assert batch.style is not None
        length = outputs[:, layout["length"]]
        loss = bradley_terry_loss(rewards + length, batch, center_rewards_coefficient=coefficient)
        loss = loss + config.length_head_coefficient * length_head_penalty(rewards, length, batch.style[:, 0])
    else:
        offset = style_offset(batch, beta) if beta is not None else None
        loss = bradley_terry_loss(rewards, batch, center_rewards_coefficient=coefficient, offset=offset)
    if layout["uncertainty"]:
        loss = loss + bootstrap_heads_loss(outputs[:, layout["uncertainty"]], batch)
    return loss


def cosine_schedule(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak lr: linear warmup, then cosine decay to ``min_ratio`` (InstructGPT: 10%)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def compute_outputs(
    module: nn.Module,
    batch: Batch,
    *,
    device: torch.device,
    bf16: bool,
    max_tokens: int,
    pad_token_id: int,
    sharing: PrefixSharing | None = None,
) -> torch.Tensor:
    """fp32 outputs ([rows, heads]; the reward is 0) of every row of the batch, in row order, with gradients
    (each group's prefix forwarded once where ``sharing`` is on)."""
    row_chunks, inputs = [], []
    if sharing is not None:
        chunks = sharing.chunks(batch.rows, batch.group_sizes, max_tokens)
    else:
        chunks = batch.chunks(max_tokens, pad_token_id)
    for rows, chunk in chunks:
        row_chunks.append(rows)
        inputs.append({name: tensor.to(device, non_blocking=True) for name, tensor in chunk.items()})
    with autocast(device, bf16):
        outputs = torch.cat(module(inputs)).float()
    placed = torch.empty(len(batch.rows), outputs.shape[1], dtype=torch.float32, device=device)
    return placed.index_put((torch.cat(row_chunks).to(device),), outputs)


def compute_rewards(
    module: nn.Module,
    batch: Batch,
    *,
    device: torch.device,
    bf16: bool,
    max_tokens: int,
    pad_token_id: int,
    sharing: PrefixSharing | None = None,
) -> torch.Tensor:
    """fp32 reward (output 0) of every row of the batch, in row order, with gradients."""
    outputs = compute_outputs(
        module, batch, device=device, bf16=bf16, max_tokens=max_tokens, pad_token_id=pad_token_id, sharing=sharing
    )
    return outputs[:, 0]


def train(
    config: TrainConfig,
    train_records: list[RankedRecord],
    eval_records: list[RankedRecord] | None = None,
    out_dir: str | Path = "artifacts/reward-model",
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    data_manifest: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``train_records`` and write the artifact to ``out_dir``.

    Without ``eval_records``, ``config.eval_fraction`` of the prompts is held out (split by prompt).
    ``data_manifest`` is stored as-is under ``data.sources`` in rewardtrain.json (the CLI puts file paths
    and sha256 there; the web app its dataset ids).
    """
    started = time.perf_counter()
    distributed = _Distributed.from_environment()
    device = resolve_device(config.device)
    if distributed.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    bf16 = resolve_bf16(config.bf16, device)
    forward_tokens = resolve_tokens_per_forward(config.max_tokens_per_forward, device, training=True)

    if eval_records is None:
        train_records, eval_records = split_by_prompt(train_records, config.eval_fraction, config.seed)
    random.seed(config.seed)
    torch.manual_seed(config.seed)

    model, tokenizer, architecture = load_backbone(config)
    inference_attention = attention_implementation(model)  # what RewardScorer.load will run the artifact with
    train_attention = training_attention(config.attention, device)
    set_attention_implementation(model, train_attention)
    max_length = min(config.max_length, max_positions(model) or config.max_length)
    encoder = SequenceEncoder(tokenizer, architecture=architecture, max_length=max_length)
    style = (
        StyleScaler.fit([style_features(r.completions[i]) for r in train_records for i in r.ranked_indices()])
        if config.length_control in ("style", "length_head") and train_records
        else None
    )
    balance = length_balance(train_records) if config.length_control == "balance" else None
    encoded = encode_records(
        encoder,
        train_records,
        style=style,
        balance=balance,
        bootstrap_heads=config.uncertainty_heads,
        seed=config.seed,
    )
    if not encoded:
        raise DataError("no training record holds a strict preference (all completions tied?)")
    model.to(device)
    sharing = PrefixSharing.for_model(
        model,
        architecture=architecture,
        max_length=max_length,
        enabled=config.prefix_sharing,
        max_packed_length=config.max_packed_length,
    )
    module: nn.Module = _ChunkedRewards(model)
    if distributed.enabled:
        module = nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    # The fused kernel: on this 2-core CPU a 22M-parameter step takes 16 ms instead of 89 ms.
    groups: list[dict[str, Any]] = [{"params": trainable}]
    beta = None
    if config.length_control == "style":
        beta = torch.zeros(len(STYLE_FEATURES), device=device, requires_grad=True)
        groups.append({"params": [beta], "lr": config.style_lr, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(
        groups, lr=config.lr, weight_decay=config.weight_decay, fused=device.type in ("cuda", "cpu")
    )
    lengths = [record.longest for record in encoded]
    pair_counts = [len(record.comparisons) for record in encoded]

    def epoch_batches(epoch: int) -> list[list[int]]:
        batches = make_batches(
            lengths,
            config.prompts_per_batch,  # 0: batches of pairs_per_batch comparisons
            seed=config.seed,
            epoch=epoch,
            group_by_length=config.group_by_length,
            pairs=pair_counts,
            pairs_per_batch=config.pairs_per_batch,
        )
        return shard_batches(batches, distributed.rank, distributed.world_size)

    steps_per_epoch = math.ceil(len(epoch_batches(0)) / config.gradient_accumulation_steps)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = max(1, round(config.warmup_ratio * total_steps)) if config.warmup_ratio > 0 else 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_schedule(step, total_steps, warmup_steps, config.min_lr_ratio)
    )
    collator = Collator(config.mode, config.margin_by_rank_gap, config.rank_margin, config.pair_weighting)
    scorer = RewardScorer(
        model,
        encoder,
        device=device,
        bf16=bf16,
        max_tokens_per_forward=config.max_tokens_per_forward,
        prefix_sharing=config.prefix_sharing,
        max_packed_length=config.max_packed_length,
    )

    eval_seconds = eval_cpu_seconds = 0.0  # periodic evaluation: kept out of the training time and throughput

    def held_out_metrics() -> dict[str, Any] | None:
        if not eval_records or not distributed.is_main:
            return None
        model.eval()
        set_attention_implementation(model, inference_attention)
        metrics = metrics_from_scores(eval_records, scorer.score(eval_records))
        set_attention_implementation(model, train_attention)
        model.train()
        return metrics

    stats = {"sequences_forwarded": 0, "real_tokens": 0, "padded_tokens": 0, "pairs": 0, "prompts": 0, "batches": 0}
    step, loss_value, metrics = 0, float("nan"), None
    setup_seconds = time.perf_counter() - started
    training_started, training_cpu_started = time.perf_counter(), time.process_time()
    model.train()
    for epoch in range(config.epochs):
        batches = epoch_batches(epoch)
        for first in range(0, len(batches), config.gradient_accumulation_steps):
            if _stop_requested(should_stop, distributed, device):
                raise TrainingCancelled(f"cancelled at step {step} of {total_steps}")
            micro_batches = batches[first : first + config.gradient_accumulation_steps]
            optimizer.zero_grad(set_to_none=True)
            loss_value = 0.0
            for n, indices in enumerate(micro_batches):
                batch = collator.collate([encoded[i] for i in indices])
                last = n == len(micro_batches) - 1
                sync = nullcontext() if last or not distributed.enabled else module.no_sync()
                with sync:
                    outputs = compute_outputs(
                        module,
                        batch,
                        device=device,
                        bf16=bf16,
                        max_tokens=forward_tokens,
                        pad_token_id=tokenizer.pad_token_id,
                        sharing=sharing,
                    )
                    loss = batch_loss(outputs, batch.to(device), config, beta)
                    (loss / len(micro_batches)).backward()
                loss_value += loss.item() / len(micro_batches)
                stats["sequences_forwarded"] += len(batch.rows)
                stats["real_tokens"] += batch.real_tokens
                stats["padded_tokens"] += sharing.tokens_forwarded(batch.rows, batch.group_sizes, forward_tokens)
                stats["pairs"] += len(batch.winner)
                stats["prompts"] += batch.prompts
                stats["batches"] += 1
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)  # beta is not clipped
            optimizer.step()
            scheduler.step()
            step += 1
            evaluated, evaluated_seconds = None, 0.0
            if config.eval_every_steps and step % config.eval_every_steps == 0 and step < total_steps:
                evaluation_started, evaluation_cpu_started = time.perf_counter(), time.process_time()
                evaluated = held_out_metrics()
                evaluated_seconds = time.perf_counter() - evaluation_started
                eval_seconds += evaluated_seconds
                eval_cpu_seconds += time.process_time() - evaluation_cpu_started
            if on_progress is not None and distributed.is_main:
                on_progress(
                    {
                        "step": step,
                        "total_steps": total_steps,
                        "epoch": round(epoch + (first + len(micro_batches)) / len(batches), 4),
                        "loss": loss_value,
                        "lr": scheduler.get_last_lr()[0],
                        "eval": evaluated,
                        "eval_seconds": evaluated_seconds,
                    }
                )
    training_seconds = time.perf_counter() - training_started - eval_seconds
    set_attention_implementation(model, inference_attention)
    # All threads; robust to a busy machine.
    training_cpu_seconds = time.process_time() - training_cpu_started - eval_cpu_seconds

    result = TrainResult(out_dir=None, metrics=None, train_stats={}, normalization_bias=0.0)
    if distributed.is_main:
        # The bias and the final metrics come from the served path: the weights the artifact holds (LoRA
        # merged) at the precision RewardScorer.load picks for them on this device (bf16 weights where
        # training ran bf16 natively), so the registry promotes on the rewards the artifact will serve.
        final_model = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
        precision: Precision = resolve_precision("auto", device, recorded="bf16" if bf16 else "fp32")
        served = RewardScorer.for_inference(
            final_model,
            encoder,
            precision=precision,
            device=device,
            max_tokens_per_forward=config.max_tokens_per_forward,
            prefix_sharing=config.prefix_sharing,
            max_packed_length=config.max_packed_length,
        )
        layout = head_layout(config.length_control == "length_head", config.uncertainty_heads)
        served.heads = layout
        train_outputs = served.score_outputs(
            [row for record in encoded for row in record.sequences],
            group_sizes=[len(record.sequences) for record in encoded],
        )
        train_rewards = train_outputs[:, 0]
        bias = -float(train_rewards.mean())
        served.bias = bias
        served.head_bias = (-train_outputs.mean(dim=0)).tolist()
        final_eval_started = time.perf_counter()
        metrics = evaluate(served, eval_records) if eval_records else None
        final_eval_seconds = time.perf_counter() - final_eval_started
        del served  # its bf16 copy of the weights
        train_stats = {
            **stats,
            "prefix_sharing": sharing.enabled,
            "prefix_sharing_off_because": sharing.reason or None,
            "steps": step,
            "tokens_per_forward": forward_tokens,
            "mean_prompts_per_batch": round(stats["prompts"] / max(1, stats["batches"]), 2),  # micro-batches
            "final_loss": loss_value,
            "setup_seconds": round(setup_seconds, 3),
            "training_seconds": round(training_seconds, 3),  # periodic evaluation excluded
            "eval_seconds": round(eval_seconds, 3),  # periodic evaluation (eval_every_steps); not the final one
            "training_cpu_seconds": round(training_cpu_seconds, 3),
            "tokens_per_second": round(stats["real_tokens"] * distributed.world_size / max(training_seconds, 1e-9), 1),
            "sequences_per_second": round(
                stats["sequences_forwarded"] * distributed.world_size / max(training_seconds, 1e-9), 2
            ),
        }
        info = _artifact_info(
            config,
            architecture=architecture,
            max_length=max_length,
            bias=bias,
            train_rewards=train_rewards,
            train_records=train_records,
            eval_records=eval_records,
            data_manifest=data_manifest,
            metrics=metrics,
            train_stats=train_stats,
            device=device,
            bf16=bf16,
            world_size=distributed.world_size,
            inference_precision=precision,
            heads=layout,
            head_bias=(-train_outputs.mean(dim=0)).tolist(),
            length_control=_length_control_record(config, style, beta, balance),
        )
        final_dir = _write_artifact(final_model, tokenizer, info, Path(out_dir))
        train_stats["wall_seconds"] = round(time.perf_counter() - started, 3)
        result = TrainResult(final_dir, metrics, train_stats, bias, info)
        if on_progress is not None:
            on_progress(
                {
                    "step": step,
                    "total_steps": total_steps,
                    "epoch": float(config.epochs),
                    "loss": loss_value,
                    "lr": scheduler.get_last_lr()[0],
                    "eval": metrics,
                    "eval_seconds": final_eval_seconds,
                }
            )
    if distributed.enabled:
        dist.barrier()
    return result


def _stop_requested(should_stop: Callable[[], bool] | None, distributed: _Distributed, device: torch.device) -> bool:
    """Rank 0's answer, shared with every rank so they all stop at the same step."""
    wanted = bool(should_stop and distributed.is_main and should_stop())
    if not distributed.enabled:
        return wanted
    flag = torch.tensor([1.0 if wanted else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _length_control_record(
    config: TrainConfig, style: StyleScaler | None, beta: torch.Tensor | None, balance: tuple[float, float] | None
) -> dict[str, Any]:
    record: dict[str, Any] = {"length_control": config.length_control}
    if style is not None:
        record["style"] = {**style.to_dict(), "beta": beta.detach().cpu().tolist() if beta is not None else None}
    if balance is not None:
        record["length_balance"] = {"longer_won": balance[0], "shorter_won": balance[1]}
    return record


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or "cpu"


def library_versions() -> dict[str, str]:
    import transformers

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    try:
        import peft

        versions["peft"] = peft.__version__
    except ImportError:
        pass
    return versions


def _artifact_info(
    config: TrainConfig,
    *,
    architecture: str,
    max_length: int,
    bias: float,
    train_rewards: torch.Tensor,
    train_records: list[RankedRecord],
    eval_records: list[RankedRecord] | None,
    data_manifest: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    train_stats: dict[str, Any],
    device: torch.device,
    bf16: bool,
    world_size: int,
    inference_precision: Precision,
    heads: dict[str, Any],
    head_bias: list[float],
    length_control: dict[str, Any],
) -> dict[str, Any]:
    return {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "architecture": architecture,
        "max_length": max_length,
        "normalization": {
            "bias": bias,  # added to the model's output so the training completions average 0
            "reference": "training completions",
            "mean_before": -bias,
            "std": float(train_rewards.std()) if len(train_rewards) > 1 else 0.0,
            "completions": len(train_rewards),
            "head_bias": head_bias,  # per output of the score layer (the uncertainty heads are centred too)
        },
        "heads": heads,
        # the length control used and what it fitted: style control's scaler and beta (RewardScorer.load's
        # include_style adds beta . s back), the balance's weight multipliers
        **length_control,
        "data": {
            "train": records_summary(train_records),
            "eval": records_summary(eval_records) if eval_records else None,
            "sources": data_manifest or {},
        },
        "metrics": {"eval": metrics, "train": train_stats},
        "versions": library_versions(),
        "device": {"type": device.type, "name": _device_name(device), "bf16": bf16, "world_size": world_size},
        # how the bias and eval metrics were computed; RewardScorer.load runs the same where it can
        "inference": {"precision": inference_precision, "device": device.type},
    }


def _write_artifact(model: nn.Module, tokenizer: Any, info: dict[str, Any], out_dir: Path) -> Path:
    """Build the artifact beside ``out_dir`` and rename it into place (an existing one is replaced).

    ``model`` holds plain weights: ``train`` merges LoRA adapters before it evaluates and saves."""
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / ARTIFACT_INFO).write_text(json.dumps(info, indent=2, sort_keys=False) + "\n")
        if out_dir.exists():
            retired = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out_dir, retired)
            os.replace(partial, out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(partial, out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out_dir
