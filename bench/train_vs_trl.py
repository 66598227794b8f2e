"""TRL's RewardTrainer against RankForge's grouped trainer: same backbone, data, max length and epochs.

Data: K-wise rankings built deterministically from real text, the Anthropic HH-RLHF helpful test split
(``annotate/fixtures/hh_rlhf``). Each group is one single-turn prompt with K = 4..9 completions (cycling,
mean 6.5): the human-preferred reply, the rejected reply, then K - 2 replies written for other prompts,
ranked below both by how many words they share with the prompt (more on-topic ranks higher). Every
text is short enough that prompt + reply fits ``--max-length``, so TRL drops nothing and both trainers
see exactly the same pairs. TRL gets all C(K,2) pairs of each group as ``{"prompt", "chosen",
"rejected"}`` rows; RankForge gets the groups.

Runs, in one process, one after the other (a shared machine: the load is printed before each run):
  1. RankForge grouped, batches in random order (1 prompt a step: with 60 groups the default 8 prompts
     a step would leave 8 optimizer steps, and at one epoch on this little data held-out accuracy follows
     the step count; one prompt a step gives 60 steps to TRL's 145, at TRL's learning rate 1e-4 with the
     cosine decay floored at 50% -- see docs/BENCHMARKS.md for the sweep; ``--freeze-layers 2`` makes it
     the fast recipe of docs/training.md);
  2. TRL RewardTrainer with its defaults (bf16, dropout off, gradient checkpointing, 8 pairs a batch,
     lr 1e-4) -- only epochs and max_length are set to match; fp32 on a CPU without native bf16 (AMX or
     AVX512-BF16), where TRL's bf16 autocast would be emulated, 82x slower a matmul;
  3. RankForge grouped with length-grouped batches (its default).
``--order`` changes that order (``--order length,trl,random``; leave ``trl`` out to skip it). At one prompt a
step runs 1 and 3 do the same work (a prompt's completions are padded to its longest either way; only the
order of the steps differs), so any gap between them is the machine or the order: each RankForge run also
reports its per-step time profile (first step, first five, median, slowest tenth), the minor page faults,
the involuntary context switches (other work taking the cores) and the resident memory before it. Time to
accuracy rather than one epoch: bench/time_to_accuracy.py, built on this file's data and runs.
Each side runs its own default attention kernel: TRL transformers' SDPA, RankForge eager attention on the
CPU (SDPA's CPU backward is slow; ``TrainConfig.attention``). ``--trl-attention eager`` gives TRL the same
kernel, to separate what fewer forwards save from what the kernel saves.
Each is timed end to end (model load, tokenization, training, saving), in wall-clock seconds and in
CPU seconds of this process (less sensitive to other work on the machine). Held-out accuracy is
measured the same way for all three, on the same held-out groups (split by prompt).

    .venv/bin/python bench/train_vs_trl.py                      # default: a few minutes on 2 idle cores
    .venv/bin/python bench/train_vs_trl.py --seeds 0,1,2,3,4    # five data draws: accuracy means (~15 min)
    .venv/bin/python bench/train_vs_trl.py --train-groups 400 --eval-groups 100 --epochs 1   # bigger
    .venv/bin/python bench/train_vs_trl.py --device cuda        # on a GPU

The last stdout line is the JSON of all figures.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import re
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

from scratch import shared_data_file  # noqa: E402

from rewardtrain.core.config import TrainConfig, default_model_path  # noqa: E402
from rewardtrain.core.data import RankedRecord, split_hh_conversation  # noqa: E402
from rewardtrain.core.evaluate import metrics_from_scores  # noqa: E402

HH_FILE = "hh_rlhf/helpful-base-test.jsonl.gz"


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def build_groups(tokenizer: Any, groups: int, max_length: int, seed: int) -> list[RankedRecord]:
    """Deterministic K = 4..9 rankings from HH-RLHF single-turn pairs that fit ``max_length`` tokens."""
    with gzip.open(shared_data_file(HH_FILE), "rt", encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    singles = []
    for line in lines:
        chosen, rejected = line["chosen"], line["rejected"]
        cut = chosen.rfind("\n\nAssistant:")
        if cut < 0 or chosen[:cut] != rejected[:cut] or chosen == rejected:
            continue
        parsed = split_hh_conversation(chosen[: cut + len("\n\nAssistant:")])
        if parsed is None or parsed[0]:  # multi-turn: skip, keeps every sequence short
            continue
        prompt = parsed[1].strip()
        good = chosen[cut + len("\n\nAssistant:") :].strip()
        bad = rejected[cut + len("\n\nAssistant:") :].strip()
        if good and bad:
            singles.append((prompt, good, bad))
    # Budget: TRL reads "prompt completion[SEP]" plus [CLS]/[SEP]; RankForge "[CLS] prompt [SEP] completion [SEP]".
    budget = max_length - 4

    def length(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    fitting = [(p, g, b) for p, g, b in singles if length(p) + max(length(g), length(b)) <= budget]
    replies = [g for _, g, _ in fitting] + [b for _, _, b in fitting]
    rng = random.Random(seed)
    rng.shuffle(fitting)
    records = []
    for n, (prompt, good, bad) in enumerate(fitting[:groups]):
        k = 4 + n % 6
        prompt_length, prompt_words = length(prompt), words(prompt)
        others = []
        while len(others) < k - 2:
            candidate = rng.choice(replies)
            if candidate not in (good, bad) and candidate not in others and prompt_length + length(candidate) <= budget:
                others.append(candidate)
        # On-topic distractors rank higher: the share of their words found in the prompt.
        others.sort(key=lambda reply: -len(words(reply) & prompt_words) / max(1, len(words(reply))))
        completions = [good, bad, *others]
        order = list(range(k))
        rng.shuffle(order)  # completions are stored in random order; the ranking says who is best
        shuffled = [completions[i] for i in order]
        ranking = [[order.index(i)] for i in range(k)]
        records.append(RankedRecord(prompt=prompt, completions=shuffled, order=ranking, id=f"hh-{n}"))
    if len(records) < groups:
        raise SystemExit(f"only {len(records)} groups fit max_length={max_length}; lower --train/eval-groups")
    return records


def thread_settings() -> dict[str, Any]:
    """What decides how the CPU's threads wait: on a busy machine OpenMP threads that spin at every barrier
    (libgomp's default) can make the same run several times slower (docs/BENCHMARKS.md)."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        **{name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")},
    }


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_counters() -> dict[str, float]:
    """What a run costs the process besides compute: page faults (a cold or fragmented heap) and involuntary
    context switches (other work taking the cores), and the resident memory, in MB, before it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "minor_page_faults": usage.ru_minflt,
        "involuntary_switches": usage.ru_nivcsw,
        "max_rss_mb": usage.ru_maxrss / 1024,
    }


def counters_during(before: dict[str, float]) -> dict[str, float]:
    after = process_counters()
    return {
        "minor_page_faults": after["minor_page_faults"] - before["minor_page_faults"],
        "involuntary_switches": after["involuntary_switches"] - before["involuntary_switches"],
        "max_rss_mb_before": round(before["max_rss_mb"]),
    }


def rankforge_config(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    """TrainConfig's defaults with the bench's recipe flags (add_recipe_arguments) and ``overrides``."""
    values = dict(
        model=args.model,
        epochs=args.epochs,
        max_length=args.max_length,
        lr=args.lr,
        warmup_ratio=args.warmup_ratio,
        min_lr_ratio=args.min_lr_ratio,
        prompts_per_batch=args.prompts_per_batch,
        pairs_per_batch=args.pairs_per_batch,
        pair_weighting=args.pair_weighting,
        freeze_layers=args.freeze_layers,
        seed=args.seed,
        device=args.device,
    )
    return TrainConfig(**{**values, **overrides})


def run_rankforge(
    records: list[RankedRecord], held_out: list[RankedRecord], args: argparse.Namespace, group_by_length: bool
) -> dict[str, Any]:
    from rewardtrain.core.scoring import RewardScorer
    from rewardtrain.core.train import train

    config = rankforge_config(args, group_by_length=group_by_length)
    step_ends: list[float] = []  # when each optimizer step ended: the per-step time distribution
    with tempfile.TemporaryDirectory() as out:
        counters = process_counters()
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = train(
            config,
            records,
            eval_records=[],
            out_dir=Path(out) / "rm",
            on_progress=lambda _: step_ends.append(time.perf_counter()),
        )
        started, wall, cpu = wall, time.perf_counter() - wall, cpu_seconds() - cpu
        counters = counters_during(counters)
        scorer = RewardScorer.load(Path(out) / "rm", device=args.device)
        metrics = metrics_from_scores(held_out, scorer.score(held_out))
    stats = result.train_stats
    step_ends = step_ends[:-1]  # the last call comes after the artifact is written, not after a step
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "training_seconds": stats["training_seconds"],
        "setup_seconds": stats["setup_seconds"],  # model load and tokenization
        "after_training_seconds": round(stats["wall_seconds"] - stats["setup_seconds"] - stats["training_seconds"], 2),
        "sequences_forwarded": stats["sequences_forwarded"],
        "real_tokens": stats["real_tokens"],
        "padded_tokens": stats["padded_tokens"],
        "tokens_per_second": round(stats["real_tokens"] / stats["training_seconds"], 1),
        "tokens_per_cpu_second": round(stats["real_tokens"] / stats["training_cpu_seconds"], 1),
        "optimizer_steps": stats["steps"],
        **step_time_profile(started + stats["setup_seconds"], step_ends),
        **counters,
        "held_out_accuracy": metrics["pairwise_accuracy"],
        "held_out_kendall_tau": metrics["kendall_tau"],
        "length_baseline_accuracy": metrics["length_baseline_accuracy"],
    }


def trl_rows(records: list[RankedRecord]) -> list[dict[str, str]]:
    """Every pair of every group as TRL's ``{"prompt", "chosen", "rejected"}`` row."""
    return [
        {
            "prompt": record.prompt + " ",
            "chosen": record.completions[pair.winner],
            "rejected": record.completions[pair.loser],
        }
        for record in records
        for pair in record.comparisons()
    ]


def trl_bf16_emulated(device: str) -> bool:
    """True where TRL's default bf16 would run emulated: the CPU, without native bf16 instructions."""
    from rewardtrain.core.model import cpu_supports_bf16

    return device == "cpu" and not cpu_supports_bf16()


def trl_trainer(
    rows: list[dict[str, str]], args: argparse.Namespace, out: str, epochs: int, callbacks: list[Any] | None = None
) -> tuple[Any, Any]:
    """(RewardTrainer with TRL's defaults, its tokenizer): only epochs, max_length and seed are set to match."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.eos_token is None:  # BERT has none; TRL appends the eos text to every sequence
        tokenizer.eos_token = tokenizer.sep_token
    config = RewardConfig(
        output_dir=out,
        num_train_epochs=epochs,
        max_length=args.max_length,
        seed=args.seed,
        save_strategy="no",
        report_to="none",
        logging_steps=50,
        disable_tqdm=True,
        use_cpu=args.device == "cpu",
        # TRL's default bf16 autocast is emulated on a CPU without AMX/AVX512-BF16: a MiniLM-sized matmul ran
        # 82x slower than fp32 on an AVX2-only EPYC (docs/BENCHMARKS.md, session 9). No user would train so;
        # TRL gets fp32 there, as RankForge's bf16="auto" does.
        **({"bf16": False} if trl_bf16_emulated(args.device) else {}),
        # TRL loads the model with transformers' default attention (SDPA) unless told otherwise.
        **({"model_init_kwargs": {"attn_implementation": args.trl_attention}} if args.trl_attention else {}),
        **({"learning_rate": args.trl_lr} if args.trl_lr else {}),
    )
    trainer = RewardTrainer(
        model=args.model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    return trainer, tokenizer


def trl_scores(model: Any, tokenizer: Any, held_out: list[RankedRecord], max_length: int) -> list[list[float]]:
    """Rewards of TRL's model for every completion, read the way TRL trained on them (prompt, text, eos)."""
    import torch

    device = next(model.parameters()).device
    scores = []
    with torch.inference_mode():
        for record in held_out:
            texts = [record.prompt + " " + text + tokenizer.eos_token for text in record.completions]
            inputs = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            scores.append(model(**inputs.to(device)).logits[:, 0].float().tolist())
    return scores


def step_time_profile(training_started: float, step_ends: list[float]) -> dict[str, Any]:
    """How the training time spreads over the steps: a one-off warm-up shows as a slow first few steps, a
    busy machine as a long tail. ``training_started``: when the first step began (perf_counter)."""
    import torch

    seconds = [end - start for start, end in zip([training_started, *step_ends[:-1]], step_ends, strict=True)]
    if not seconds:
        return {}
    ordered = sorted(seconds)
    return {
        "first_step_seconds": round(seconds[0], 3),
        "first_5_steps_seconds": round(sum(seconds[:5]), 3),
        "median_step_seconds": round(ordered[len(ordered) // 2], 4),
        "slowest_tenth_step_seconds": round(sum(ordered[-max(1, len(ordered) // 10) :]), 3),  # summed
        "torch_threads": torch.get_num_threads(),  # a run that changed it would slow the next ones
    }


def run_trl(records: list[RankedRecord], held_out: list[RankedRecord], args: argparse.Namespace) -> dict[str, Any]:
    rows = trl_rows(records)
    with tempfile.TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), cpu_seconds()
        trainer, tokenizer = trl_trainer(rows, args, out, args.epochs)
        config = trainer.args
        kept = len(trainer.train_dataset)
        dataset = trainer.train_dataset
        tokens = sum(len(ids) for ids in dataset["chosen_ids"]) + sum(len(ids) for ids in dataset["rejected_ids"])
        training_cpu = cpu_seconds()
        output = trainer.train()
        training_cpu = cpu_seconds() - training_cpu
        trainer.save_model(out)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        scores = trl_scores(trainer.model.eval(), tokenizer, held_out, args.max_length)
    metrics = metrics_from_scores(held_out, scores)
    training_seconds = output.metrics["train_runtime"]
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "training_seconds": round(training_seconds, 2),
        "pairs": len(rows),
        "pairs_kept": kept,
        "sequences_forwarded": 2 * kept * args.epochs,
        "real_tokens": tokens * args.epochs,
        "tokens_per_second": round(tokens * args.epochs / training_seconds, 1),
        "tokens_per_cpu_second": round(tokens * args.epochs / training_cpu, 1),
        "optimizer_steps": trainer.state.global_step,
        "held_out_accuracy": metrics["pairwise_accuracy"],
        "held_out_kendall_tau": metrics["kendall_tau"],
        "length_baseline_accuracy": metrics["length_baseline_accuracy"],
        "settings": {
            "bf16": config.bf16,
            "gradient_checkpointing": config.gradient_checkpointing,
            "disable_dropout": config.disable_dropout,
            "per_device_train_batch_size": config.per_device_train_batch_size,
            "learning_rate": config.learning_rate,
            "attention": trainer.model.config._attn_implementation,
        },
    }


def warm_up(records: list[RankedRecord], held_out: list[RankedRecord], args: argparse.Namespace) -> None:
    """Both trainers once, untimed, on 4 groups for one epoch, so that no timed run pays alone for what the
    first run in a process pays: lazy imports, the file cache, and a cold heap (the first RankForge run in a
    process took ~40 % more page faults and 15-40 % longer than the same run after it, docs/BENCHMARKS.md)."""
    few = argparse.Namespace(**{**vars(args), "epochs": 1})
    with contextlib.redirect_stdout(sys.stderr):  # TRL prints its metrics; stdout's last line is the JSON
        run_rankforge(records[:4], held_out[:2], few, group_by_length=True)
        run_trl(records[:4], held_out[:2], few)


OURS = ("rankforge_grouped", "rankforge_grouped_length_grouped")  # the two RankForge runs of a seed


def run_seed(tokenizer: Any, args: argparse.Namespace, seed: int, warm: bool = False) -> dict[str, Any]:
    """The three runs on one draw of the data (``seed``: data, split, initialization and batch order)."""
    import torch

    args = argparse.Namespace(**{**vars(args), "seed": seed})
    torch.manual_seed(seed)
    records = build_groups(tokenizer, args.train_groups + args.eval_groups, args.max_length, seed)
    train_records, held_out = records[: args.train_groups], records[args.train_groups :]
    ks = [len(r.completions) for r in train_records]
    print(
        f"seed {seed}: {len(train_records)} train groups (K mean {sum(ks) / len(ks):.2f}, "
        f"{sum(len(r.comparisons()) for r in train_records)} pairs), {len(held_out)} held-out groups; "
        f"max_length {args.max_length}, epochs {args.epochs}, device {args.device}",
        file=sys.stderr,
    )
    if warm:
        warm_up(train_records, held_out, args)
    runs: dict[str, Any] = {}
    runs_by_key = {"random": ("rankforge_grouped", False), "trl": ("trl", None), "length": (OURS[1], True)}
    for name, group_by_length in (runs_by_key[key] for key in args.order.split(",")):
        if name == "trl" and args.skip_trl:
            continue
        load = load_average()
        print(f"running {name} (load average {load}) ...", file=sys.stderr)
        if name == "trl":
            runs[name] = run_trl(train_records, held_out, args)
        else:
            runs[name] = run_rankforge(train_records, held_out, args, group_by_length)
        runs[name]["load_average_before"] = load
        print(f"  {name}: {json.dumps(runs[name])}", file=sys.stderr)
    result: dict[str, Any] = {"seed": seed, "k_mean": sum(ks) / len(ks), "runs": runs}
    if "trl" in runs:
        trl = runs["trl"]
        for name in OURS:
            ours = runs[name]
            result[f"{name}_vs_trl"] = {
                "speedup_wall": round(trl["wall_seconds"] / ours["wall_seconds"], 2),
                "speedup_cpu": round(trl["cpu_seconds"] / ours["cpu_seconds"], 2),
                "sequences_ratio": round(trl["sequences_forwarded"] / ours["sequences_forwarded"], 2),
                "tokens_per_second_ratio": round(ours["tokens_per_second"] / trl["tokens_per_second"], 3),
                "tokens_per_cpu_second_ratio": round(ours["tokens_per_cpu_second"] / trl["tokens_per_cpu_second"], 3),
                "accuracy_difference_points": round(100 * (ours["held_out_accuracy"] - trl["held_out_accuracy"]), 2),
            }
            print(f"seed {seed}, {name} vs TRL: {result[f'{name}_vs_trl']}", file=sys.stderr)
    return result


def summarize(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the seeds: one draw of 60 small groups moves held-out accuracy by a few points."""
    summary: dict[str, Any] = {}
    for name in (*OURS, "trl"):
        accuracies = [100 * seed["runs"][name]["held_out_accuracy"] for seed in per_seed if name in seed["runs"]]
        if accuracies:
            summary[f"{name}_mean_accuracy"] = round(sum(accuracies) / len(accuracies), 2)
    for name in OURS:
        comparisons = [seed[f"{name}_vs_trl"] for seed in per_seed if f"{name}_vs_trl" in seed]
        if not comparisons:
            continue
        walls_trl = sum(seed["runs"]["trl"]["wall_seconds"] for seed in per_seed)
        walls_ours = sum(seed["runs"][name]["wall_seconds"] for seed in per_seed)
        differences = [c["accuracy_difference_points"] for c in comparisons]
        summary[f"{name}_vs_trl"] = {
            "speedup_wall_total": round(walls_trl / walls_ours, 2),  # all seeds' wall time, TRL's over ours
            "speedup_wall_min": min(c["speedup_wall"] for c in comparisons),
            "tokens_per_second_ratio_min": min(c["tokens_per_second_ratio"] for c in comparisons),
            "accuracy_difference_points_mean": round(sum(differences) / len(differences), 2),
            "accuracy_difference_points_by_seed": differences,
        }
        print(f"all seeds, {name} vs TRL: {summary[f'{name}_vs_trl']}", file=sys.stderr)
    return summary


# The recipe this bench has measured since session 3 (docs/BENCHMARKS.md): one prompt a step at TRL's learning
# rate, the cosine floored at half of it -- with 60 groups the default 8 prompts a step would leave 8 steps.
ONE_PROMPT_A_STEP = {"prompts_per_batch": 1, "lr": 1e-4, "min_lr_ratio": 0.5}


def add_recipe_arguments(parser: argparse.ArgumentParser, recipe: dict[str, Any] | None = None) -> None:
    """The flags both trainers' recipes are built from (rankforge_config, trl_trainer), shared by the benches.
    RankForge's default to ``recipe``, else to TrainConfig's (the default recipe)."""
    defaults = {**TrainConfig().to_dict(), **(recipe or {})}
    parser.add_argument("--model", default=default_model_path())
    parser.add_argument("--lr", type=float, default=defaults["lr"], help="RankForge peak learning rate")
    parser.add_argument("--trl-lr", type=float, default=None, help="TRL learning rate (default: TRL's own, 1e-4)")
    parser.add_argument(
        "--trl-attention", default=None, help="attention kernel for TRL's model (default: transformers' own, SDPA)"
    )
    parser.add_argument(
        "--prompts-per-batch", type=int, default=defaults["prompts_per_batch"], help="RankForge prompts a step"
    )
    parser.add_argument(
        "--pairs-per-batch", type=int, default=defaults["pairs_per_batch"], help="RankForge, with prompts a step 0"
    )
    parser.add_argument("--pair-weighting", choices=["prompt", "pair"], default=defaults["pair_weighting"])
    parser.add_argument("--warmup-ratio", type=float, default=defaults["warmup_ratio"], help="RankForge warmup share")
    parser.add_argument(
        "--min-lr-ratio", type=float, default=defaults["min_lr_ratio"], help="RankForge cosine floor (share of --lr)"
    )
    parser.add_argument(
        "--freeze-layers", type=int, default=defaults["freeze_layers"], help="RankForge frozen lower layers"
    )
    parser.add_argument("--device", default="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-groups", type=int, default=60)
    parser.add_argument("--eval-groups", type=int, default=100, help="held-out groups (~19 pairs each)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=128)
    add_recipe_arguments(parser, ONE_PROMPT_A_STEP)
    parser.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds N)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, each a new data draw; means reported")
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the untimed warm-up of both trainers")
    parser.add_argument(
        "--order",
        default="random,trl,length",
        help="the runs of a seed, in this order: random (RankForge, random batches), trl, length (length-grouped);"
        " leave trl out to skip it",
    )
    args = parser.parse_args()
    order = args.order.split(",")
    if len(set(order)) != len(order) or not {"random", "length"} <= set(order) <= {"random", "trl", "length"}:
        parser.error(f"--order names random and length (and trl) once each, not {args.order!r}")
    seeds = [args.seed] if args.seed is not None else [int(seed) for seed in args.seeds.split(",") if seed.strip()]

    import torch
    import transformers
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    per_seed = [run_seed(tokenizer, args, seed, warm=n == 0 and not args.no_warm_up) for n, seed in enumerate(seeds)]
    summary: dict[str, Any] = {"seeds": per_seed, **summarize(per_seed)}
    summary["setup"] = {
        "model": args.model,
        "train_groups": args.train_groups,
        "eval_groups": args.eval_groups,
        "k_mean": per_seed[0]["k_mean"],
        "max_length": args.max_length,
        "epochs": args.epochs,
        "rankforge_recipe": {
            "lr": args.lr,
            "warmup_ratio": args.warmup_ratio,
            "min_lr_ratio": args.min_lr_ratio,
            "prompts_per_batch": args.prompts_per_batch,
            "attention": TrainConfig.attention,
            "pair_weighting": args.pair_weighting,
        },
        "seeds": seeds,
        "device": args.device,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_count": os.cpu_count(),
        **thread_settings(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
