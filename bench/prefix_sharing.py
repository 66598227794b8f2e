"""Prefix sharing against the unshared forward (and TRL's RewardTrainer) on the Open Assistant rankings.

A randomly initialised decoder of a realistic shape (Qwen2-0.5B's: hidden 896, 14 heads, 2 KV heads,
MLP 4864, q/k/v biases, ``--layers`` of its 24; no weights are needed to time it) with the shipped
MiniLM tokenizer (no download; its vocabulary only sizes the embedding table, and the reward model has
no LM head) is trained with the grouped loss on ``annotate/fixtures/oasst_en100`` (multi-turn context, K = 2..6).

Printed:
  * the token ratio the data allows: tokens of the unshared sequences over tokens of the packed rows
    with unlimited rows (each group's common prefix once), at ``--max-length``;
  * tokens forwarded per epoch, shared and unshared, as the trainer plans them (padding included);
  * wall time per training step, shared and unshared, on the same batches, alternating (shared first on
    even batches), and wall time per epoch extrapolated from the steps run (``--steps 0``: a full epoch);
  * TRL's RewardTrainer on the same model, tokenizer and data (all C(K,2) pairs of each prompt, the
    conversation rendered as the prompt): seconds per pair over ``--trl-steps`` steps, and per epoch.

    .venv/bin/python bench/prefix_sharing.py                                  # CPU: 4 layers, 6 steps each
    .venv/bin/python bench/prefix_sharing.py --device cuda --layers 24 --steps 0 --max-length 2048

The last stdout line is the JSON of all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from rewardtrain.core.batching import Collator, make_batches  # noqa: E402
from rewardtrain.core.config import TrainConfig, default_model_path, shipped_data_dir  # noqa: E402
from rewardtrain.core.data import RankedRecord, load_oasst_trees  # noqa: E402
from rewardtrain.core.encoding import SequenceEncoder  # noqa: E402
from rewardtrain.core.loss import bradley_terry_loss  # noqa: E402
from rewardtrain.core.model import (  # noqa: E402
    load_backbone,
    resolve_bf16,
    resolve_device,
    set_attention_implementation,
    training_attention,  # noqa: E402
)
from rewardtrain.core.packing import PrefixSharing, plan_packing  # noqa: E402
from rewardtrain.core.train import _ChunkedRewards, compute_rewards, encode_records  # noqa: E402


def build_model(directory: Path, layers: int) -> None:
    """Qwen2-0.5B's shape (``layers`` of its 24), random weights, with the MiniLM tokenizer.

    Written as a Llama with Qwen2's q/k/v biases (the same computation): transformers 5's AutoTokenizer
    replaces the tokenizer of any ``qwen2`` model directory with Qwen2's own, whatever was saved there.
    """
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=layers,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        attention_bias=True,
        tie_word_embeddings=True,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def token_figures(encoded: list[Any], sharing: PrefixSharing, args: argparse.Namespace) -> dict[str, Any]:
    sequences = [row for record in encoded for row in record.sequences]
    groups = [len(record.sequences) for record in encoded]
    unshared = sum(len(sequence) for sequence in sequences)
    ideal = plan_packing(
        sequences, groups, pad_token_id=sharing.pad_token_id, max_packed_length=1 << 30, pairs_per_token=float("inf")
    ).tokens
    batches = make_batches(
        [record.longest for record in encoded], args.prompts_per_batch, seed=0, epoch=0, group_by_length=True
    )
    collator = Collator()
    planned = {"shared": 0, "unshared": 0}
    plain = PrefixSharing(False, sharing.pad_token_id)
    for indices in batches:
        batch = collator.collate([encoded[i] for i in indices])
        planned["shared"] += sharing.tokens_forwarded(batch.rows, batch.group_sizes, args.max_tokens_per_forward)
        planned["unshared"] += plain.tokens_forwarded(batch.rows, batch.group_sizes, args.max_tokens_per_forward)
    return {
        "prompts": len(encoded),
        "sequences": len(sequences),
        "mean_k": round(len(sequences) / len(encoded), 2),
        "unshared_sequence_tokens": unshared,
        "ideal_packed_tokens": ideal,
        "ratio_the_data_allows": round(unshared / ideal, 3),
        "forwarded_per_epoch_unshared": planned["unshared"],
        "forwarded_per_epoch_shared": planned["shared"],
        "forwarded_ratio": round(planned["unshared"] / planned["shared"], 3),
        "batches_per_epoch": len(batches),
    }


def time_training(encoded: list[Any], args: argparse.Namespace, model_dir: Path) -> dict[str, Any]:
    device = resolve_device(args.device)
    bf16 = resolve_bf16(args.bf16, device)
    config = TrainConfig(model=str(model_dir), lora=args.lora, max_length=args.max_length, device=args.device)
    model, tokenizer, _ = load_backbone(config)
    set_attention_implementation(model, args.attention or training_attention("auto", device))
    model.to(device).train()
    sharing = PrefixSharing.for_model(
        model, architecture="decoder", max_length=args.max_length, max_packed_length=args.max_packed_length
    )
    if not sharing.enabled:
        raise SystemExit(f"prefix sharing is off: {sharing.reason}")
    tokens = token_figures(encoded, sharing, args)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=device.type in ("cuda", "cpu"))
    module = _ChunkedRewards(model)
    batches = make_batches(
        [record.longest for record in encoded], args.prompts_per_batch, seed=0, epoch=0, group_by_length=True
    )
    picked = batches if args.steps == 0 else random.Random(1).sample(batches, min(args.steps, len(batches)))
    seconds = {"shared": 0.0, "unshared": 0.0}
    cpu = {"shared": 0.0, "unshared": 0.0}
    forwarded = {"shared": 0, "unshared": 0}
    peak_memory = {"shared": 0, "unshared": 0}
    collator = Collator()

    def step(batch: Any, shared: bool) -> None:
        name = "shared" if shared else "unshared"
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        synchronize(device)
        wall, used = time.perf_counter(), cpu_seconds()
        optimizer.zero_grad(set_to_none=True)
        rewards = compute_rewards(
            module,
            batch,
            device=device,
            bf16=bf16,
            max_tokens=args.max_tokens_per_forward,
            pad_token_id=tokenizer.pad_token_id,
            sharing=sharing if shared else None,
        )
        bradley_terry_loss(rewards, batch.to(device)).backward()
        optimizer.step()
        synchronize(device)
        seconds[name] += time.perf_counter() - wall
        cpu[name] += cpu_seconds() - used
        plan = sharing if shared else PrefixSharing(False, sharing.pad_token_id)
        forwarded[name] += plan.tokens_forwarded(batch.rows, batch.group_sizes, args.max_tokens_per_forward)
        if device.type == "cuda":
            peak_memory[name] = max(peak_memory[name], torch.cuda.max_memory_allocated(device))

    step(collator.collate([encoded[i] for i in picked[0]]), True)  # warm-up (kernels, allocator), not timed
    seconds = {"shared": 0.0, "unshared": 0.0}
    cpu = {"shared": 0.0, "unshared": 0.0}
    forwarded = {"shared": 0, "unshared": 0}
    for n, indices in enumerate(picked):
        batch = collator.collate([encoded[i] for i in indices])
        for shared in (True, False) if n % 2 == 0 else (False, True):
            step(batch, shared)
        print(
            f"  step {n + 1}/{len(picked)}: shared {seconds['shared']:.1f} s, unshared {seconds['unshared']:.1f} s "
            f"(cumulative), load {load_average()}",
            flush=True,
        )
    per_epoch = len(batches) / len(picked)
    return {
        "tokens": tokens,
        "device": str(device),
        "bf16": bf16,
        "attention": args.attention or training_attention("auto", device),
        "lora": args.lora,
        "steps_timed_each": len(picked),
        "seconds_timed": {name: round(value, 2) for name, value in seconds.items()},
        "cpu_seconds_timed": {name: round(value, 2) for name, value in cpu.items()},
        "tokens_forwarded_timed": forwarded,
        "seconds_per_epoch": {name: round(value * per_epoch, 1) for name, value in seconds.items()},
        "wall_speedup": round(seconds["unshared"] / seconds["shared"], 3),
        "peak_gpu_memory_gib": {name: round(value / 2**30, 2) for name, value in peak_memory.items()},
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def run_trl(records: list[RankedRecord], args: argparse.Namespace, model_dir: Path, encoder: SequenceEncoder) -> dict:
    """TRL's RewardTrainer with its defaults (bf16 where available, gradient checkpointing; ``--trl-batch-size``
    pairs a step, default its 8), ``--trl-steps`` steps on pairs drawn at random from all the C(K,2) pairs."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    rows = []
    for record in records:
        context, prompt, _ = encoder.render(record.context, record.prompt, [])
        for pair in record.comparisons():
            rows.append(
                {
                    "prompt": context + prompt,
                    "chosen": record.completions[pair.winner],
                    "rejected": record.completions[pair.loser],
                }
            )
    random.Random(0).shuffle(rows)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.eos_token is None:  # BERT's tokenizer has none; TRL appends the eos text to every sequence
        tokenizer.eos_token = tokenizer.sep_token
    batch_size = args.trl_batch_size
    taken = rows[: batch_size * (args.trl_steps + 1)]
    with tempfile.TemporaryDirectory() as out:
        config = RewardConfig(
            output_dir=out,
            max_steps=args.trl_steps + 1,
            per_device_train_batch_size=batch_size,
            max_length=args.max_length,
            save_strategy="no",
            report_to="none",
            logging_steps=1,
            disable_tqdm=True,
            use_cpu=args.device == "cpu",
        )
        peft_config = None
        if args.lora:  # the adapters RankForge's --lora trains: r 16, alpha 32, every linear layer
            from peft import LoraConfig, TaskType

            peft_config = LoraConfig(task_type=TaskType.SEQ_CLS, r=16, lora_alpha=32, target_modules="all-linear")
        trainer = RewardTrainer(
            model=str(model_dir),
            args=config,
            train_dataset=Dataset.from_list(taken),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        kept = len(trainer.train_dataset)
        times: list[float] = []
        from transformers import TrainerCallback

        class StepTimer(TrainerCallback):
            def on_step_begin(self, *_: Any, **__: Any) -> None:
                self.started = time.perf_counter()

            def on_step_end(self, *_: Any, **__: Any) -> None:
                synchronize(trainer.model.device)
                times.append(time.perf_counter() - self.started)

        trainer.add_callback(StepTimer())
        trainer.train()
    timed = times[1:]  # the first step warms up
    per_pair = sum(timed) / (len(timed) * batch_size)
    return {
        "pairs_of_the_data": len(rows),
        "pairs_given": len(taken),
        "pairs_kept_under_max_length": kept,
        "steps_timed": len(timed),
        "seconds_per_pair": round(per_pair, 3),
        "seconds_per_epoch": round(per_pair * len(rows), 1),
        "settings": {
            "bf16": config.bf16,
            "gradient_checkpointing": config.gradient_checkpointing,
            "per_device_train_batch_size": batch_size,
            "attention": trainer.model.config._attn_implementation,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layers", type=int, default=4, help="of Qwen2-0.5B's 24 (the CPU default keeps 4)")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--prompts-per-batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6, help="batches timed each way (0: the whole epoch)")
    parser.add_argument("--trl-steps", type=int, default=3, help="TRL steps timed (0: skip TRL)")
    parser.add_argument("--trl-batch-size", type=int, default=8, help="pairs a TRL step (its default: 8)")
    parser.add_argument("--max-tokens-per-forward", type=int, default=16384)
    parser.add_argument("--max-packed-length", type=int, default=4096)
    parser.add_argument("--attention", choices=["eager", "sdpa"], default=None, help="default: the trainer's")
    parser.add_argument("--bf16", default="auto")
    parser.add_argument("--lora", action=argparse.BooleanOptionalAction, default=False)
    args = parser.parse_args()
    torch.manual_seed(0)
    records = load_oasst_trees(shipped_data_dir() / "oasst_en100" / "en_100_tree.jsonl")
    print(f"load {load_average()}; {len(records)} Open Assistant prompts; {args}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch) / "qwen2-shape"
        build_model(model_dir, args.layers)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        encoder = SequenceEncoder(tokenizer, architecture="decoder", max_length=args.max_length)
        encoded = encode_records(encoder, records)
        figures: dict[str, Any] = {"layers": args.layers, "max_length": args.max_length}
        figures["rankforge"] = time_training(encoded, args, model_dir)
        tokens = figures["rankforge"]["tokens"]
        print(
            f"tokens per epoch: unshared {tokens['forwarded_per_epoch_unshared']}, shared "
            f"{tokens['forwarded_per_epoch_shared']} ({tokens['forwarded_ratio']}x fewer; the data allows "
            f"{tokens['ratio_the_data_allows']}x); wall per epoch: unshared "
            f"{figures['rankforge']['seconds_per_epoch']['unshared']} s, shared "
            f"{figures['rankforge']['seconds_per_epoch']['shared']} s ({figures['rankforge']['wall_speedup']}x)",
            flush=True,
        )
        if args.trl_steps:
            figures["trl"] = run_trl(records, args, model_dir, encoder)
            print(f"TRL: {figures['trl']['seconds_per_epoch']} s per epoch (extrapolated)", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
