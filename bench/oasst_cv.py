"""Cross-validated held-out accuracy on the shipped Open Assistant rankings, beside the length baseline.

One held-out split of the 212 ranked groups has ~150 pairs (one standard error ~3.8 points), too few
to tell a recipe from the "longer reply wins" baseline. Here every group is held out exactly once:
the prompts are dealt into ``--folds`` folds (by a hash of the prompt, never splitting one), a model is
trained on the other folds for each, and the held-out pairs of all folds are pooled, so accuracy and
baseline are measured on all 754 pairs (one SE ~1.7 points; the paired difference is tighter).

    .venv/bin/python bench/oasst_cv.py                                   # the default recipe (TrainConfig)
    .venv/bin/python bench/oasst_cv.py --lr 2e-5 --epochs 4              # another recipe
    .venv/bin/python bench/oasst_cv.py --grid sweep --device cuda        # the recipe sweep (GPU advised)
    .venv/bin/python bench/oasst_cv.py --grid length --max-length 256 --epochs 2     # the length controls
    .venv/bin/python bench/oasst_cv.py --length-control style --train-fraction 0.5   # a learning-curve point
    .venv/bin/python bench/oasst_cv.py --dataset hh-helpful --limit 600              # HH helpful, 600 prompts

Besides accuracy, each recipe reports the pooled length metrics (length-balanced accuracy, the model's
prefers-longer share beside the humans') and, with uncertainty heads, the mean AUROC of uncertainty
against wrongly ordered held-out pairs.

Prints one line per fold and per recipe; the last stdout line is the JSON of all results. ``--out``
appends each finished fold (``"kind": "fold"``, with its full metrics) and each finished recipe
(``"kind": "recipe"``) to a JSONL file as it goes (sweeps can be stopped with ``--deadline``).
``--only-folds 0,1`` runs some folds only: every recipe is still judged on the same held-out prompts.
``--report FILE`` pools the folds an ``--out`` file holds, per setting, without training (e.g. after a
grid was stopped, or from folds run in separate processes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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

from rewardtrain.core.config import TrainConfig  # noqa: E402
from rewardtrain.core.data import RankedRecord, load_records, prompt_keys_in_hash_order  # noqa: E402

# TrainConfig fields this script takes as flags (the recipe knobs).
RECIPE_FLAGS = (
    "lr",
    "epochs",
    "max_length",
    "prompts_per_batch",
    "center_rewards_coefficient",
    "min_lr_ratio",
    "warmup_ratio",
    "rank_margin",
    "margin_by_rank_gap",
    "length_control",
    "style_lr",
    "length_head_coefficient",
    "uncertainty_heads",
)

# The sweep: the knobs (epochs, lr, length, centering, margin) around the default recipe.
SWEEP: list[dict[str, Any]] = [
    {},
    {"lr": 1e-5},
    {"lr": 2e-5},
    {"lr": 5e-5},
    {"epochs": 2},
    {"epochs": 5},
    {"lr": 2e-5, "epochs": 5},
    {"lr": 1e-5, "epochs": 5},
    {"prompts_per_batch": 4},
    {"prompts_per_batch": 4, "lr": 2e-5},
    {"margin_by_rank_gap": True},
    {"center_rewards_coefficient": 0.0},
    {"center_rewards_coefficient": 0.1},
    {"max_length": 384},
    {"min_lr_ratio": 0.5},
    {"warmup_ratio": 0.1, "lr": 5e-5, "epochs": 2},
]
# Second round: the best first-round knobs together, and shorter inputs. (A separate, higher learning
# rate for the score head was tried in this round too, x10 to x100: no better, up to 6 points worse.)
SWEEP2: list[dict[str, Any]] = [
    {},
    {"max_length": 384, "epochs": 2},
    {"max_length": 256},
    {"max_length": 384, "lr": 2e-5},
]


# Issue 14: the length controls side by side (each at the CPU-sized recipe given by the flags, e.g.
# --max-length 256 --epochs 2), every one with 4 uncertainty heads so the AUROC comes from the same runs.
LENGTH: list[dict[str, Any]] = [
    {"length_control": "none", "uncertainty_heads": 4},
    {"length_control": "style", "uncertainty_heads": 4},
    {"length_control": "balance", "uncertainty_heads": 4},
    {"length_control": "length_head", "uncertainty_heads": 4},
]

DATASETS = {
    "oasst": "oasst_en100/en_100_tree.jsonl",
    "hh-helpful": "hh_rlhf/helpful-base-test.jsonl.gz",
    "hh-harmless": "hh_rlhf/harmless-base-test.jsonl.gz",
}


# What a cross-validated result is of: the folds of one setting pool together (cross_validate, --report).
SETTING = ("recipe", "dataset", "train_fraction", "seed", "folds")


def pooled_length_metrics(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Length metrics over the pooled held-out pairs of all folds, from each fold's counts and shares."""

    def pooled(share: str, count: str) -> float:
        return sum((fold[share] or 0) * fold["length_counts"][count] for fold in folds)

    longer = sum(fold["length_counts"]["longer_wins_pairs"] for fold in folds)
    shorter = sum(fold["length_counts"]["shorter_wins_pairs"] for fold in folds)
    right_longer = pooled("accuracy_when_longer_wins", "longer_wins_pairs")
    right_shorter = pooled("accuracy_when_shorter_wins", "shorter_wins_pairs")
    unequal = longer + shorter
    correlation_records = sum(fold["length_counts"]["correlation_records"] for fold in folds)
    aurocs = [fold["uncertainty"] for fold in folds if fold.get("uncertainty")]

    def mean_of(key: str) -> float | None:
        values = [a[key] for a in aurocs if a.get(key) is not None]
        return round(sum(values) / len(values), 4) if values else None

    return {
        "length_balanced_accuracy": round((right_longer / longer + right_shorter / shorter) / 2, 4),
        "accuracy_when_longer_wins": round(right_longer / longer, 4),
        "accuracy_when_shorter_wins": round(right_shorter / shorter, 4),
        "prefers_longer_share": round(pooled("prefers_longer_share", "pairs_of_unequal_length") / unequal, 4),
        "humans_longer_wins_share": round(longer / (longer + shorter), 4),
        "reward_length_correlation": (
            round(pooled("reward_length_correlation", "correlation_records") / correlation_records, 4)
            if correlation_records
            else None
        ),
        "uncertainty_auroc": mean_of("auroc"),  # mean over folds
        "uncertainty_auroc_head_disagreement": mean_of("auroc_head_disagreement"),
        "uncertainty_auroc_small_margin": mean_of("auroc_small_margin"),
        "uncertainty_auroc_combined": mean_of("auroc_combined"),
    }


def folds_by_prompt(records: list[RankedRecord], folds: int, seed: int) -> list[list[RankedRecord]]:
    """Deal the distinct prompts round-robin in hash order: fold sizes differ by at most one prompt."""
    fold_of = {key: n % folds for n, key in enumerate(prompt_keys_in_hash_order(records, seed))}
    out: list[list[RankedRecord]] = [[] for _ in range(folds)]
    for record in records:
        out[fold_of[record.prompt_key()]].append(record)
    return out


def cross_validate(records: list[RankedRecord], recipe: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from rewardtrain.core.train import train

    folds = folds_by_prompt(records, args.folds, args.seed)
    config = TrainConfig(**{**recipe, "seed": args.seed, "device": args.device, "model": args.model})
    setting = dict(zip(SETTING, (recipe, args.dataset, args.train_fraction, args.seed, args.folds), strict=True))
    fold_results, started = [], time.perf_counter()
    wanted = range(args.folds) if args.only_folds is None else args.only_folds
    for n, held_out in enumerate(folds):
        if n not in wanted:
            continue
        train_records = [record for m, fold in enumerate(folds) if m != n for record in fold]
        if args.train_fraction < 1:  # the learning curve: the first share of the training prompts in hash order
            keys = prompt_keys_in_hash_order(train_records, args.seed + 1)
            kept = set(keys[: max(1, round(args.train_fraction * len(keys)))])
            train_records = [record for record in train_records if record.prompt_key() in kept]
        with tempfile.TemporaryDirectory() as out:
            result = train(config, train_records, eval_records=held_out, out_dir=Path(out) / "rm")
        metrics = result.metrics
        fold = {
            "fold": n,
            "train_pairs": result.info["data"]["train"]["pairs"],
            "pairs": metrics["counts"]["pairs"],
            "accuracy": round(metrics["pairwise_accuracy"], 4),
            "length_baseline": round(metrics["length_baseline_accuracy"], 4),
            "length_balanced": metrics["length_balanced_accuracy"],
            "prefers_longer": metrics["prefers_longer_share"],
            "training_seconds": result.train_stats["training_seconds"],
        }
        print(f"    fold {n}: {json.dumps(fold)}", file=sys.stderr, flush=True)
        fold_results.append({"kind": "fold", **setting, **fold, "metrics": metrics})
        if args.out:  # every fold as it ends: a long grid can be stopped and its finished folds still read
            with open(args.out, "a") as handle:
                handle.write(json.dumps(fold_results[-1]) + "\n")
    return {
        **pooled(fold_results),
        "config": {k: v for k, v in config.to_dict().items() if k not in ("model", "device", "seed")},
        "seconds": round(time.perf_counter() - started, 1),
    }


def pooled(fold_results: list[dict[str, Any]]) -> dict[str, Any]:
    """One recipe's figures over the held-out pairs of its folds (``"kind": "fold"`` results of one setting)."""
    totals = {"pairs": 0, "correct": 0.0, "longer_correct": 0.0, "log_loss": 0.0, "tau": 0.0, "tau_n": 0}
    for fold in fold_results:
        metrics = fold["metrics"]
        pairs = metrics["counts"]["pairs"]
        totals["pairs"] += pairs
        totals["correct"] += metrics["pairwise_accuracy"] * pairs
        totals["longer_correct"] += metrics["length_baseline_accuracy"] * pairs
        totals["log_loss"] += metrics["log_loss"] * pairs
        if metrics["kendall_tau"] is not None:
            totals["tau"] += metrics["kendall_tau"] * metrics["counts"]["kendall_tau_records"]
            totals["tau_n"] += metrics["counts"]["kendall_tau_records"]
    pairs = totals["pairs"]
    first = fold_results[0]
    return {
        "kind": "recipe",
        **{key: first[key] for key in SETTING},
        "folds_run": [fold["fold"] for fold in fold_results],
        "train_pairs_per_fold": round(sum(fold["train_pairs"] for fold in fold_results) / len(fold_results), 1),
        "pairs": pairs,
        "accuracy": round(totals["correct"] / pairs, 4),
        "length_baseline": round(totals["longer_correct"] / pairs, 4),
        "difference_points": round(100 * (totals["correct"] - totals["longer_correct"]) / pairs, 2),
        "log_loss": round(totals["log_loss"] / pairs, 4),
        "kendall_tau": round(totals["tau"] / totals["tau_n"], 4) if totals["tau_n"] else None,
        **pooled_length_metrics([fold["metrics"] for fold in fold_results]),
        "per_fold": [{key: value for key, value in fold.items() if key != "metrics"} for fold in fold_results],
    }


def report(path: str) -> list[dict[str, Any]]:
    """Pool the finished folds recorded in ``path`` (``--out`` files), one result per setting, in file order."""
    settings: dict[str, list[dict[str, Any]]] = {}
    for line in Path(path).read_text().splitlines():
        row = json.loads(line)
        if row.get("kind") == "fold":
            settings.setdefault(json.dumps([row[key] for key in SETTING]), []).append(row)
    results = [pooled(sorted(folds, key=lambda fold: fold["fold"])) for folds in settings.values()]
    for result in results:
        print(
            f"{json.dumps(result['recipe'])} fraction {result['train_fraction']} folds {result['folds_run']}: "
            f"{result['train_pairs_per_fold']} training pairs a fold, {result['pairs']} held out; accuracy "
            f"{result['accuracy']:.3f} (length baseline {result['length_baseline']:.3f}), length-balanced "
            f"{result['length_balanced_accuracy']:.3f}, prefers longer {result['prefers_longer_share']:.3f} "
            f"(humans {result['humans_longer_wins_share']:.3f})",
            file=sys.stderr,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="a data file (default: --dataset's shipped file)")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="oasst", help="which shipped data set")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N prompts of the file")
    parser.add_argument(
        "--train-fraction", type=float, default=1.0, help="train on this share of each fold's training prompts"
    )
    parser.add_argument("--model", default=TrainConfig().model)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--only-folds",
        type=lambda text: [int(part) for part in text.split(",")],
        default=None,
        help="run only these folds (e.g. 0,1): the same held-out prompts for every recipe, pooled over fewer pairs",
    )
    parser.add_argument("--seed", type=int, default=0, help="fold assignment and training seed")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--grid", choices=["sweep", "sweep2", "length"], default=None, help="a built-in recipe grid")
    parser.add_argument("--deadline", type=float, default=0, help="stop starting recipes after this many seconds")
    parser.add_argument("--out", default=None, help="append each fold's and recipe's result to this JSONL file")
    parser.add_argument("--report", default=None, help="only pool the folds recorded in this --out file and print")
    parser.add_argument("--shard", default="0/1", help="I/N: run every N-th recipe from the I-th (parallel sweeps)")
    for field in dataclasses.fields(TrainConfig):
        if field.name in RECIPE_FLAGS and field.name != "margin_by_rank_gap":
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=None)
    parser.add_argument("--margin-by-rank-gap", action="store_true", default=None)
    args = parser.parse_args()
    if args.report:
        print(json.dumps({"results": report(args.report)}))
        return

    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    records = load_records(args.data or shared_data_file(DATASETS[args.dataset]))
    if args.limit:
        records = records[: args.limit]
    given = {name: getattr(args, name) for name in RECIPE_FLAGS if getattr(args, name) is not None}
    grid = {"sweep": SWEEP, "sweep2": SWEEP2, "length": LENGTH}.get(args.grid or "", [{}])
    recipes = [{**recipe, **given} for recipe in grid]
    shard, shards = (int(part) for part in args.shard.split("/"))
    recipes = recipes[shard::shards]
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"
    print(f"data: {len(records)} groups, {args.folds} folds, seed {args.seed}, load {load}", file=sys.stderr)
    started, results = time.perf_counter(), []
    for recipe in recipes:
        if args.deadline and time.perf_counter() - started > args.deadline:
            print(f"deadline reached: {len(recipes) - len(results)} recipes not run", file=sys.stderr)
            break
        print(f"recipe {json.dumps(recipe)} ...", file=sys.stderr, flush=True)
        result = cross_validate(records, recipe, args)
        results.append(result)
        keys = ("recipe", "accuracy", "length_baseline", "length_balanced_accuracy", "prefers_longer_share")
        summary = {k: result[k] for k in (*keys, "humans_longer_wins_share", "uncertainty_auroc", "seconds")}
        print(f"  -> {json.dumps(summary)}", file=sys.stderr, flush=True)
        if args.out:
            with open(args.out, "a") as handle:
                handle.write(json.dumps(result) + "\n")
    print(json.dumps({"results": results, "device": args.device, "load_average_before": load}))


if __name__ == "__main__":
    main()
