"""Time to accuracy: how soon RankForge's grouped trainer reaches the held-out accuracy TRL's RewardTrainer reaches.

One epoch against one epoch (bench/train_vs_trl.py) says how fast each trainer runs, not how soon it is good.
Here both train for ``--epochs`` (3) and are evaluated on the same fixed held-out groups about
``--evals-per-epoch`` (10) times an epoch; each evaluation's accuracy is stamped with the wall seconds since
the run began, **evaluation excluded** (each evaluation is timed and subtracted; the total is printed), model
load, tokenization, training and, for RankForge's last point, writing the artifact included. The targets come
from TRL's own curve on the same seed: its accuracy at the end of epoch 1 ("trl_one_epoch"), its best over
all epochs ("trl_best") and, without a goal, its accuracy at the end ("trl_final": the model TRL hands over;
on small data TRL's curve swings by several points between evaluations, so its best is often an early spike).
For each target and trainer: the wall seconds at which its curve first reaches the target (None if never),
and TRL's time over RankForge's (the speed-up; 0 when RankForge never gets there). ``--report`` recomputes
them from the curves a file holds.

Accuracy is the same metric on both sides: ``metrics_from_scores`` on the held-out groups (pairwise accuracy
over all their pairs). TRL's model is scored in a transformers ``TrainerCallback`` as bench/train_vs_trl.py
scores it after training (prompt, reply and eos, truncated to ``--max-length``); RankForge's through
``TrainConfig.eval_every_steps`` (its last point is the artifact's own final evaluation). Note that TRL's
"one-epoch accuracy" is read off its 3-epoch run, whose linear decay has not reached 0 at the end of epoch 1.

Regimes (``--data``, comma-separated for several in one run):
  hh     the mission's: K = 4..9 groups (mean 6.5) built from HH-RLHF as bench/train_vs_trl.py builds them,
         ``--train-groups`` to train, ``--eval-groups`` held out; max length 128 unless ``--max-length``;
  oasst  the shipped Open Assistant rankings as they are (mean K ~3, no K filter; ``--limit`` the first N),
         split by prompt, ``--eval-fraction`` held out; max length TrainConfig's (512) unless ``--max-length``.
         TRL drops pairs longer than the max length (RankForge truncates): the kept pairs are printed.

Per seed (each a new draw: data, split, initialization, batch order), in one process: TRL and RankForge, in
alternating order across seeds (even seeds TRL first), after an untimed warm-up of both trainers on a few
groups, so neither pays alone for what the first run in a process pays (lazy imports, kernel and
allocator warm-up; docs/BENCHMARKS.md, "Why two identical runs differed by 45 %"). RankForge runs the default
recipe (TrainConfig) unless the recipe flags of bench/train_vs_trl.py say otherwise; the fast recipe for
rankings with many completions a prompt (docs/training.md) is ``--prompts-per-batch 1 --lr 1e-4
--min-lr-ratio 0.5 --freeze-layers 2``.
On a CPU other work is using, set ``OMP_WAIT_POLICY=PASSIVE``: threads spinning at OpenMP barriers made identical
runs up to 6x apart there (same section); the JSON records the setting.

    .venv/bin/python bench/time_to_accuracy.py --seeds 0,1,2,3,4 --data hh,oasst --plot docs/time_to_accuracy.png
    .venv/bin/python bench/time_to_accuracy.py --device cuda --seeds 0,1,2,3,4 --data hh,oasst \
        --out var/time_to_accuracy.jsonl                                                       # on a GPU
    .venv/bin/python bench/time_to_accuracy.py --train-groups 8 --eval-groups 6 --epochs 2 --evals-per-epoch 2 \\
        --max-length 64 --data hh                                                              # quick mode
    .venv/bin/python bench/time_to_accuracy.py --report var/time_to_accuracy.jsonl --plot docs/time_to_accuracy.png
                                                        # summary and curves of the seeds an --out file holds
    .venv/bin/python bench/time_to_accuracy.py --trl-from var/time_to_accuracy.jsonl --lr 3e-5 --out var/lr3e-5.jsonl
                                                        # another RankForge recipe against the same TRL curves

Per-seed lines go to stderr; the last stdout line is the JSON of every curve and figure; ``--out`` appends
each seed to a JSONL file as it ends (a run stopped by a time limit keeps its finished seeds). ``--plot`` writes
held-out accuracy against wall seconds, one panel per regime: each seed a thin line, the median a thick one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from scratch import shared_data_file  # noqa: E402
from train_vs_trl import (  # noqa: E402
    add_recipe_arguments,
    build_groups,
    load_average,
    rankforge_config,
    thread_settings,
    trl_rows,
    trl_scores,
    trl_trainer,
    warm_up,
)

from rewardtrain.core.batching import make_batches  # noqa: E402
from rewardtrain.core.config import TrainConfig  # noqa: E402
from rewardtrain.core.data import RankedRecord, load_records, split_by_prompt  # noqa: E402
from rewardtrain.core.evaluate import metrics_from_scores  # noqa: E402

OASST_FILE = "oasst_en100/en_100_tree.jsonl"
# The two targets, then one without a goal: TRL's accuracy at the end of its run (the model it hands over).
# TRL's curve on small data swings by several points between evaluations, so its best is often an early spike.
TARGETS = ("trl_one_epoch", "trl_best", "trl_final")
# The goals: TRL's time over RankForge's, five-seed median, per regime and target.
GOALS = {("hh", "trl_one_epoch"): 5.0, ("hh", "trl_best"): 3.0, ("oasst", "trl_one_epoch"): 2.0}


class EvaluationFreeClock:
    """Wall seconds since the run began, the time spent evaluating left out."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.eval_seconds = 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.started - self.eval_seconds

    @contextmanager
    def paused(self) -> Iterator[None]:
        paused_at = time.perf_counter()
        try:
            yield
        finally:
            self.eval_seconds += time.perf_counter() - paused_at


def eval_interval(steps_per_epoch: int, evals_per_epoch: int) -> int:
    """Optimizer steps between evaluations: about ``evals_per_epoch`` of them an epoch, at least one step."""
    return max(1, round(steps_per_epoch / evals_per_epoch))


def rankforge_curve(
    records: list[RankedRecord], held_out: list[RankedRecord], args: argparse.Namespace
) -> dict[str, Any]:
    from rewardtrain.core.train import train

    recipe = rankforge_config(args)
    batches = make_batches(  # as train() makes them, for the number of steps an epoch
        [0] * len(records),
        recipe.prompts_per_batch,
        seed=recipe.seed,
        epoch=0,
        group_by_length=False,
        pairs=[len(record.comparisons()) for record in records],
        pairs_per_batch=recipe.pairs_per_batch,
    )
    every = eval_interval(math.ceil(len(batches) / recipe.gradient_accumulation_steps), args.evals_per_epoch)
    config = rankforge_config(args, eval_every_steps=every)
    points: list[dict[str, Any]] = []

    def on_progress(update: dict[str, Any]) -> None:
        if update["eval"] is None:
            return
        clock.eval_seconds += update["eval_seconds"]  # the evaluation train() just ran, before this call
        point = {"seconds": round(clock.seconds(), 2), "step": update["step"], "epoch": update["epoch"]}
        points.append({**point, "accuracy": update["eval"]["pairwise_accuracy"]})

    with tempfile.TemporaryDirectory() as out:
        clock = EvaluationFreeClock()
        result = train(config, records, eval_records=held_out, out_dir=Path(out) / "rm", on_progress=on_progress)
    return {
        "points": points,
        "eval_seconds": round(clock.eval_seconds, 2),
        "optimizer_steps": result.train_stats["steps"],
        "eval_every_steps": every,
        "recipe": {
            **{key: getattr(config, key) for key in ("epochs", "lr", "min_lr_ratio", "warmup_ratio")},
            "mean_prompts_per_batch": result.train_stats["mean_prompts_per_batch"],
            "freeze_layers": config.freeze_layers,
        },
    }


def trl_curve(records: list[RankedRecord], held_out: list[RankedRecord], args: argparse.Namespace) -> dict[str, Any]:
    from transformers import TrainerCallback

    points: list[dict[str, Any]] = []

    class HeldOutEvaluation(TrainerCallback):
        """Scores the held-out groups every ``every`` steps and at each epoch's end, the clock paused."""

        every = 1

        def on_train_begin(self, train_args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.steps_per_epoch = state.max_steps // int(train_args.num_train_epochs)
            self.every = eval_interval(self.steps_per_epoch, args.evals_per_epoch)

        def on_step_end(self, train_args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            step = state.global_step
            if step % self.every and step % self.steps_per_epoch:
                return
            seconds = clock.seconds()
            with clock.paused():
                model.eval()
                scores = trl_scores(model, tokenizer, held_out, args.max_length)
                model.train()
                accuracy = metrics_from_scores(held_out, scores)["pairwise_accuracy"]
            points.append(
                {"seconds": round(seconds, 2), "step": step, "epoch": round(state.epoch, 4), "accuracy": accuracy}
            )

    evaluation = HeldOutEvaluation()
    rows = trl_rows(records)
    with tempfile.TemporaryDirectory() as out:
        clock = EvaluationFreeClock()
        trainer, tokenizer = trl_trainer(rows, args, out, args.epochs, callbacks=[evaluation])
        if len(trainer.train_dataset) == 0:
            raise SystemExit(
                f"TRL dropped all {len(rows)} pairs as longer than {args.max_length} tokens: raise --max-length"
            )
        trainer.train()
    return {
        "points": points,
        "eval_seconds": round(clock.eval_seconds, 2),
        "optimizer_steps": trainer.state.global_step,
        "steps_per_epoch": evaluation.steps_per_epoch,
        "eval_every_steps": evaluation.every,
        "pairs": len(rows),
        "pairs_kept": len(trainer.train_dataset),
        "bf16": trainer.args.bf16,  # TRL's default, but fp32 on a CPU without native bf16 (trl_bf16_emulated)
    }


def first_reached(points: list[dict[str, Any]], target: float) -> float | None:
    """Wall seconds of the first evaluation at or above ``target``, None if the curve never gets there."""
    return next((point["seconds"] for point in points if point["accuracy"] >= target - 1e-12), None)


def compare(trl: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Each target of TRL's curve, when each trainer first reached it, and TRL's time over RankForge's."""
    epoch_one = next(point for point in trl["points"] if point["step"] == trl["steps_per_epoch"])
    targets = {
        "trl_one_epoch": epoch_one["accuracy"],
        "trl_best": max(p["accuracy"] for p in trl["points"]),
        "trl_final": trl["points"][-1]["accuracy"],
    }
    comparison = {}
    for name, target in targets.items():
        trl_seconds, our_seconds = first_reached(trl["points"], target), first_reached(ours["points"], target)
        assert trl_seconds is not None  # the target is a point of TRL's own curve
        comparison[name] = {
            "accuracy": target,
            "trl_seconds": round(trl_seconds, 2),
            "rankforge_seconds": None if our_seconds is None else round(our_seconds, 2),
            "speedup": 0.0 if our_seconds is None else round(trl_seconds / max(our_seconds, 1e-9), 2),
        }
    comparison["best_accuracy"] = {
        "trl": targets["trl_best"],
        "rankforge": max(point["accuracy"] for point in ours["points"]),
    }
    return comparison


def regime_data(
    regime: str, tokenizer: Any, args: argparse.Namespace, seed: int
) -> tuple[list[RankedRecord], list[RankedRecord]]:
    """(training groups, held-out groups) of one regime for one seed."""
    if regime == "hh":
        records = build_groups(tokenizer, args.train_groups + args.eval_groups, args.max_length, seed)
        return records[: args.train_groups], records[args.train_groups :]
    records = load_records(shared_data_file(OASST_FILE))
    return split_by_prompt(records[: args.limit or None], args.eval_fraction, seed)


def run_seed(regime: str, tokenizer: Any, args: argparse.Namespace, seed: int, trl_first: bool) -> dict[str, Any]:
    import torch

    args = argparse.Namespace(**{**vars(args), "seed": seed})
    torch.manual_seed(seed)
    records, held_out = regime_data(regime, tokenizer, args, seed)
    ks = [len(record.completions) for record in records]
    print(
        f"{regime} seed {seed}: {len(records)} train groups (K mean {sum(ks) / len(ks):.2f}, "
        f"{sum(len(r.comparisons()) for r in records)} pairs), {len(held_out)} held-out groups "
        f"({sum(len(r.comparisons()) for r in held_out)} pairs); max_length {args.max_length}, "
        f"epochs {args.epochs}, device {args.device}",
        file=sys.stderr,
    )
    curves: dict[str, Any] = {}
    reused = args.trl_curves.get((regime, seed))
    if reused is not None:  # --trl-from: TRL's curve of an earlier run on the same draw
        curves["trl"] = {**reused, "reused_from": str(args.trl_from)}
        print(f"  trl: reused from {args.trl_from}", file=sys.stderr)
    for name in ("trl", "rankforge") if trl_first else ("rankforge", "trl"):
        if name in curves:
            continue
        load = load_average()
        print(f"  running {name} (load average {load}) ...", file=sys.stderr)
        curves[name] = (trl_curve if name == "trl" else rankforge_curve)(records, held_out, args)
        curves[name]["load_average_before"] = load
        last = curves[name]["points"][-1]
        print(
            f"  {name}: {len(curves[name]['points'])} evaluations, last at {last['seconds']:.1f} s "
            f"(evaluation excluded: {curves[name]['eval_seconds']} s) accuracy {last['accuracy']:.4f}",
            file=sys.stderr,
        )
    comparison = compare(curves["trl"], curves["rankforge"])
    for target in TARGETS:
        print(f"  {regime} seed {seed}, time to {target}: {comparison[target]}", file=sys.stderr)
    return {
        "seed": seed,
        "k_mean": sum(ks) / len(ks),
        "trl_first": trl_first,
        "data": data_settings(regime, args),
        "curves": curves,
        **comparison,
    }


def data_settings(regime: str, args: argparse.Namespace) -> dict[str, Any]:
    """What decides a seed's data draw and TRL's run: a reused TRL curve (--trl-from) must match all of it."""
    keys = ("train_groups", "eval_groups") if regime == "hh" else ("limit", "eval_fraction")
    shared = ("max_length", "epochs", "evals_per_epoch", "device", "model", "trl_lr", "trl_attention")
    return {key: getattr(args, key) for key in keys + shared}


def seed_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of each seed an ``--out`` file holds; a line that is not one stops with its number."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}:{number}: not a JSON line ({error.msg})") from None
        missing = next((key for key in ("regime", "seed", "curves") if key not in record), None)
        if missing or set(record["curves"]) != {"trl", "rankforge"}:
            raise SystemExit(f"{path}:{number}: not a seed record of this bench (no {missing or 'curves of both'!r})")
        yield number, record


def load_trl_curves(path: Path, args: argparse.Namespace, regimes: list[str]) -> dict[tuple[str, int], Any]:
    """TRL's curves by (regime, seed) from an --out file, each checked against this run's data settings."""
    curves: dict[tuple[str, int], Any] = {}
    for number, record in seed_records(path):
        regime = record["regime"]
        if regime not in regimes:
            continue
        expected = data_settings(regime, argparse.Namespace(**{**vars(args), "max_length": record["max_length"]}))
        if "data" not in record:  # written before the records carried their settings: only max_length is known
            print(f"{path}:{number}: no data settings recorded; only max_length checked", file=sys.stderr)
        if args.max_length not in (None, record["max_length"]) or record.get("data", expected) != expected:
            raise SystemExit(
                f"{path}:{number}: {regime} seed {record['seed']} was run with other data settings "
                f"({record.get('data')}) than this run ({expected})"
            )
        curves[(regime, record["seed"])] = record["curves"]["trl"]
    return curves


def summarize(regime: str, per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the seeds; a seed where RankForge never reached the target counts as speed-up 0."""
    summary: dict[str, Any] = {}
    for target in TARGETS:
        speedups = [seed[target]["speedup"] for seed in per_seed]
        reached = [seed[target]["rankforge_seconds"] for seed in per_seed if seed[target]["rankforge_seconds"]]
        summary[target] = {
            "median_speedup": statistics.median(speedups),
            "speedups_by_seed": speedups,
            "rankforge_reached": f"{len(reached)} of {len(per_seed)} seeds",
            "median_trl_seconds": statistics.median(seed[target]["trl_seconds"] for seed in per_seed),
            "median_target_accuracy": statistics.median(seed[target]["accuracy"] for seed in per_seed),
        }
        goal = GOALS.get((regime, target))
        if goal is not None:
            summary[target]["goal"] = f">= {goal}x: {'met' if summary[target]['median_speedup'] >= goal else 'not met'}"
        print(f"{regime}, time to {target} over {len(per_seed)} seeds: {summary[target]}", file=sys.stderr)
    return summary


def median_curve(curves: list[list[dict[str, Any]]], samples: int = 100) -> tuple[list[float], list[float]]:
    """The seeds' median accuracy over time (each curve holds its last evaluation until the next one), up to
    the time the shortest curve ends."""
    end = min(curve[-1]["seconds"] for curve in curves)
    start = max(curve[0]["seconds"] for curve in curves)
    times = [start + (end - start) * n / (samples - 1) for n in range(samples)] if end > start else [end]

    def held(curve: list[dict[str, Any]], at: float) -> float:
        return [point["accuracy"] for point in curve if point["seconds"] <= at + 1e-9][-1]

    return times, [statistics.median(held(curve, at) for curve in curves) for at in times]


def plot(regimes: dict[str, list[dict[str, Any]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(regimes), figsize=(6.5 * len(regimes), 4.5), squeeze=False)
    colors = {"trl": "tab:orange", "rankforge": "tab:blue"}
    labels = {"trl": "TRL RewardTrainer (defaults)", "rankforge": "RankForge grouped"}
    for axis, (regime, per_seed) in zip(axes[0], regimes.items(), strict=True):
        for name, color in colors.items():
            curves = [seed["curves"][name]["points"] for seed in per_seed]
            for curve in curves:
                seconds, accuracies = [p["seconds"] for p in curve], [100 * p["accuracy"] for p in curve]
                axis.plot(seconds, accuracies, color=color, lw=0.6, alpha=0.4, drawstyle="steps-post")
            times, medians = median_curve(curves)
            axis.plot(times, [100 * m for m in medians], color=color, lw=2.2, label=f"{labels[name]}, median")
        for target, style in (("trl_one_epoch", ":"), ("trl_best", "--"), ("trl_final", "-.")):
            accuracy = statistics.median(seed[target]["accuracy"] for seed in per_seed)
            axis.axhline(100 * accuracy, color="gray", ls=style, lw=1, label=f"target {target} (median)")
        axis.set_title(f"{regime}: {len(per_seed)} seeds")
        axis.set_xlabel("wall seconds (evaluation excluded)")
        axis.set_ylabel("held-out pairwise accuracy (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="lower right")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(path: Path, plot_path: Path | None, title: str | None = None) -> None:
    """The summary and the curves of the seeds an ``--out`` file holds (e.g. of a run stopped by a time limit)."""
    regimes: dict[str, list[dict[str, Any]]] = {}
    for _, record in seed_records(path):
        curves = record["curves"]
        record.update(compare(curves["trl"], curves["rankforge"]))  # targets added since the file was written
        regimes.setdefault(record["regime"], []).append(record)
    if not regimes:
        raise SystemExit(f"{path}: no seed recorded")
    summaries = {regime: summarize(regime, per_seed) for regime, per_seed in regimes.items()}
    if plot_path:
        seeds = ",".join(sorted({str(seed["seed"]) for per_seed in regimes.values() for seed in per_seed}))
        plot(regimes, plot_path, title or f"time to accuracy, from {path.name}, seeds {seeds}")
        print(f"curves written to {plot_path}", file=sys.stderr)
    print(json.dumps({"regimes": summaries}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="hh", help="comma-separated regimes: hh (K = 4..9), oasst (as shipped)")
    parser.add_argument("--train-groups", type=int, default=60, help="hh: training groups")
    parser.add_argument("--eval-groups", type=int, default=100, help="hh: held-out groups (~19 pairs each)")
    parser.add_argument("--limit", type=int, default=0, help="oasst: the first N groups of the file (0: all)")
    parser.add_argument("--eval-fraction", type=float, default=0.2, help="oasst: share of prompts held out")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--evals-per-epoch", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=None, help="default: 128 for hh, TrainConfig's for oasst")
    add_recipe_arguments(parser)
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds, each a new data draw")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the untimed warm-up of both trainers")
    parser.add_argument("--plot", type=Path, default=None, help="write the curves as a PNG here")
    parser.add_argument("--out", type=Path, default=None, help="append each finished seed to this JSONL file")
    parser.add_argument(
        "--trl-from",
        type=Path,
        default=None,
        help="reuse TRL's curves from this --out file of a run on the same data (sweep RankForge recipes alone)",
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="train nothing: summarize (and --plot) the seeds an --out file holds"
    )
    parser.add_argument("--title", default=None, help="the PNG's title (default: what the run was)")
    args = parser.parse_args()
    if args.report:
        report(args.report, args.plot, args.title)
        return
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    regimes = [regime for regime in args.data.split(",") if regime]
    if not regimes or set(regimes) - {"hh", "oasst"}:
        parser.error(f"--data takes hh and/or oasst, not {args.data!r}")
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    args.trl_curves = load_trl_curves(args.trl_from, args, regimes) if args.trl_from else {}

    import datasets
    import torch
    import transformers
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()  # TRL's tokenizing bars, a dozen lines per run
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    results: dict[str, Any] = {}
    for regime in regimes:
        regime_args = argparse.Namespace(**{**vars(args), "seed": seeds[0]})
        if regime_args.max_length is None:
            regime_args.max_length = 128 if regime == "hh" else TrainConfig.max_length
        if not args.no_warm_up:
            warm_up(*regime_data(regime, tokenizer, regime_args, seeds[0]), regime_args)
        per_seed = []
        for n, seed in enumerate(seeds):
            per_seed.append(run_seed(regime, tokenizer, regime_args, seed, trl_first=n % 2 == 0))
            if args.out:  # each seed as it ends: a run stopped by a time limit still leaves its finished seeds
                with args.out.open("a", encoding="utf-8") as handle:
                    handle.write(
                        json.dumps({"regime": regime, "max_length": regime_args.max_length, **per_seed[-1]}) + "\n"
                    )
        results[regime] = {"max_length": regime_args.max_length, "seeds": per_seed, **summarize(regime, per_seed)}
    setup = {
        "model": args.model,
        "epochs": args.epochs,
        "evals_per_epoch": args.evals_per_epoch,
        "seeds": seeds,
        "warm_up": not args.no_warm_up,
        "rankforge_recipe": {
            "lr": args.lr,
            "min_lr_ratio": args.min_lr_ratio,
            "prompts_per_batch": args.prompts_per_batch,
            "pairs_per_batch": args.pairs_per_batch,
            "freeze_layers": args.freeze_layers,
        },
        "device": args.device,
        **thread_settings(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average_at_end": load_average(),
    }
    if args.plot:
        title = args.title or f"time to accuracy, {args.epochs} epochs, device {args.device}, seeds {args.seeds}"
        plot({regime: results[regime]["seeds"] for regime in regimes}, args.plot, title)
        print(f"curves written to {args.plot}", file=sys.stderr)
    print(json.dumps({"regimes": results, "setup": setup}))


if __name__ == "__main__":
    main()
