"""Active learning in simulation: does ranking the prompts the model is unsure of first teach it faster?

A simulated annotator answers each task with the real human ranking of that prompt (the shipped Open
Assistant trees, or Anthropic HH pairs as K = 2). Per seed the prompts are split into a held-out set and a
pool; every strategy starts from the same random ``--start`` rankings, then the model is retrained from
scratch (the pure core's ``train()``) every ``--step`` rankings, evaluated on the held-out prompts, and
(except for ``random``) scores the prompts left in the pool, which the strategy orders with the product's
own acquisition functions (``rewardtrain.core.acquisition``):

- ``random``: random order (what coverage amounts to when every prompt wants one ranking);
- ``uncertainty``: the highest expected Bradley-Terry pairwise entropy first;
- ``mixed``: uncertainty, each slot taken at random with probability ``--exploration``.

Annotator disagreement needs several rankings of a prompt; the shipped data holds one, so it is not
simulated here. Every run (strategy, seed) is appended to ``--out`` (JSONL) as it finishes, and
``--plot`` draws the learning curves (mean over seeds, with the min-max band) from that file.

    .venv/bin/python bench/active_learning.py --seeds 0 1 2 --out var/al_oasst.jsonl   # ~2 h on 2 shared cores
    .venv/bin/python bench/active_learning.py --plot-only --out var/al_oasst.jsonl --plot docs/active_learning.png

The recipe is cheap on purpose (a CPU shared with others): inputs cut to ``--max-length`` tokens, few
epochs. Its accuracies are below the full recipe's; what the bench compares is strategies under one recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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

from rewardtrain.core.acquisition import order_uncertainty, pick  # noqa: E402
from rewardtrain.core.config import TrainConfig  # noqa: E402
from rewardtrain.core.data import RankedRecord, load_oasst_trees, load_records, split_by_prompt  # noqa: E402

SIMULATED = ("random", "uncertainty", "mixed")
DATASETS = {
    "oasst": "oasst_en100/en_100_tree.jsonl",
    "hh": "hh_rlhf/helpful-base-test.jsonl.gz",
}
# Held-out metrics drawn and tabled; the length-balanced one where rewardtrain.core.evaluate reports it.
CURVE_METRICS = ("pairwise_accuracy", "length_balanced_accuracy")


def load_dataset(name: str, limit: int, seed: int) -> list[RankedRecord]:
    path = shared_data_file(DATASETS[name])
    records = load_oasst_trees(path) if name == "oasst" else load_records(path)
    for number, record in enumerate(records):
        record.id = record.id or f"{name}-{number}"
    if limit and len(records) > limit:
        records = random.Random(seed).sample(records, limit)
    return records


class Trainer:
    """``train()`` under one recipe, remembering results by training set: every strategy of a seed starts
    from the same rankings and ends with the whole pool, and those models are trained once."""

    def __init__(self, config: TrainConfig, held_out: list[RankedRecord], workdir: Path) -> None:
        self.config = config
        self.held_out = held_out
        self.workdir = workdir
        self.cache: dict[frozenset[str], tuple[dict[str, Any], Path]] = {}
        self.trainings = 0
        self.seconds = 0.0

    def fit(self, records: list[RankedRecord]) -> tuple[dict[str, Any], Path]:
        from rewardtrain.core.train import train

        key = frozenset(str(record.id) for record in records)
        if key not in self.cache:
            started = time.perf_counter()
            out_dir = self.workdir / f"rm-{len(self.cache)}"
            ordered = sorted(records, key=lambda record: str(record.id))  # the same set trains the same model
            result = train(self.config, ordered, eval_records=self.held_out, out_dir=out_dir)
            self.cache[key] = (result.metrics or {}, out_dir)
            self.trainings += 1
            self.seconds += time.perf_counter() - started
        return self.cache[key]


def acquisition_scores(out_dir: Path, pool: list[RankedRecord]) -> dict[str, float]:
    """Each pool prompt's expected pairwise entropy under the model in ``out_dir``."""
    from rewardtrain.core.scoring import RewardScorer

    scorer = RewardScorer.load(out_dir)
    return {str(record.id): order_uncertainty(scores) for record, scores in zip(pool, scorer.score(pool), strict=True)}


def simulate(
    strategy: str, pool: list[RankedRecord], trainer: Trainer, args: argparse.Namespace, seed: int
) -> list[dict[str, Any]]:
    """One learning curve: held-out metrics after each ``args.step`` rankings chosen by ``strategy``."""
    rng = random.Random(f"{seed}-{strategy}")
    by_id = {str(record.id): record for record in pool}
    start_ids = random.Random(seed).sample(sorted(by_id), min(args.start, len(by_id)))
    collected = list(start_ids)
    points = []
    while True:
        metrics, out_dir = trainer.fit([by_id[key] for key in collected])
        points.append(
            {
                "rankings": len(collected),
                "pairs": sum(len(by_id[key].comparisons()) for key in collected),
                **{name: metrics.get(name) for name in (*CURVE_METRICS, "length_baseline_accuracy", "kendall_tau")},
            }
        )
        print(f"    {strategy} seed {seed}: {json.dumps(points[-1])}", file=sys.stderr, flush=True)
        left = sorted(set(by_id) - set(collected))
        if not left:
            return points
        if strategy == "random":
            chosen = rng.sample(left, min(args.step, len(left)))
        else:
            scores = acquisition_scores(out_dir, [by_id[key] for key in left])
            exploration = args.exploration if strategy == "mixed" else 0.0
            chosen = pick(left, scores, args.step, exploration=exploration, rng=rng)
        collected.extend(chosen)


def run(args: argparse.Namespace) -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    config = TrainConfig(epochs=args.epochs, max_length=args.max_length, device=args.device, bf16=args.bf16, seed=0)
    for seed in args.seeds:
        records = load_dataset(args.dataset, args.limit, seed)
        pool, held_out = split_by_prompt(records, args.held_out, seed)
        print(
            f"seed {seed}: {len(pool)} prompts in the pool, {len(held_out)} held out "
            f"({sum(len(r.comparisons()) for r in held_out)} pairs)",
            file=sys.stderr,
            flush=True,
        )
        with tempfile.TemporaryDirectory() as workdir:
            trainer = Trainer(config, held_out, Path(workdir))
            for strategy in args.strategies:
                started = time.perf_counter()
                points = simulate(strategy, pool, trainer, args, seed)
                row = {
                    "dataset": args.dataset,
                    "strategy": strategy,
                    "seed": seed,
                    "exploration": args.exploration if strategy == "mixed" else 0.0,
                    "recipe": {"epochs": args.epochs, "max_length": args.max_length},
                    "pool": len(pool),
                    "held_out": len(held_out),
                    "seconds": round(time.perf_counter() - started, 1),
                    "points": points,
                }
                with open(args.out, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
            print(f"seed {seed}: {trainer.trainings} trainings, {trainer.seconds:.0f} s", file=sys.stderr)


def curves(rows: list[dict[str, Any]], metric: str) -> dict[str, dict[int, list[float]]]:
    """strategy -> rankings collected -> the metric over seeds."""
    out: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        for point in row["points"]:
            if point.get(metric) is not None:
                out.setdefault(row["strategy"], {}).setdefault(point["rankings"], []).append(point[metric])
    return out


def rankings_to_reach(curve: dict[int, list[float]], target: float) -> int | None:
    """The fewest rankings at which the mean curve reaches ``target``."""
    for rankings in sorted(curve):
        if sum(curve[rankings]) / len(curve[rankings]) >= target:
            return rankings
    return None


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric and strategy: the mean curve, and the share of the pool it needs to reach random's final mean."""
    out: dict[str, Any] = {}
    for metric in CURVE_METRICS:
        by_strategy = curves(rows, metric)
        if "random" not in by_strategy:
            continue
        random_curve = by_strategy["random"]
        final = max(random_curve)
        target = sum(random_curve[final]) / len(random_curve[final])
        out[metric] = {
            "random_final": round(target, 4),
            "pool": final,
            "strategies": {
                strategy: {
                    "mean": {n: round(sum(v) / len(v), 4) for n, v in sorted(curve.items())},
                    "seeds": len(next(iter(curve.values()))),
                    "rankings_to_reach_random_final": rankings_to_reach(curve, target),
                }
                for strategy, curve in by_strategy.items()
            },
        }
    return out


def plot(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [metric for metric in CURVE_METRICS if curves(rows, metric)]
    figure, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 4.5), squeeze=False)
    baseline = curves(rows, "length_baseline_accuracy")
    for axis, metric in zip(axes[0], metrics, strict=True):
        for strategy, curve in sorted(curves(rows, metric).items()):
            xs = sorted(curve)
            mean = [sum(curve[x]) / len(curve[x]) for x in xs]
            seeds = min(len(curve[x]) for x in xs)
            axis.plot(xs, mean, marker="o", label=f"{strategy} ({seeds} seeds)")
            axis.fill_between(xs, [min(curve[x]) for x in xs], [max(curve[x]) for x in xs], alpha=0.15)
        if metric == "pairwise_accuracy" and baseline:
            values = [v for curve in baseline.values() for point in curve.values() for v in point]
            axis.axhline(sum(values) / len(values), color="grey", linestyle="--", label="longer reply wins")
        axis.set_xlabel("rankings collected")
        axis.set_ylabel(f"held-out {metric.replace('_', ' ')}")
        axis.grid(alpha=0.3)
        axis.legend()
    datasets = sorted({row["dataset"] for row in rows})
    figure.suptitle(f"Active learning in simulation ({', '.join(datasets)}; mean over seeds, band = min-max)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="oasst")
    parser.add_argument("--limit", type=int, default=0, help="use this many records at most (HH has 2,354)")
    parser.add_argument("--strategies", nargs="+", choices=SIMULATED, default=list(SIMULATED))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--held-out", type=float, default=0.25, help="share of prompts held out for evaluation")
    parser.add_argument("--start", type=int, default=20, help="random rankings every strategy starts from")
    parser.add_argument("--step", type=int, default=20, help="retrain after this many new rankings")
    parser.add_argument("--exploration", type=float, default=0.25, help="random share of the mixed strategy")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--bf16", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", required=True, help="JSONL the runs are appended to")
    parser.add_argument("--plot", default=None, help="PNG of the learning curves in --out")
    parser.add_argument("--plot-only", action="store_true", help="draw and summarise --out without training")
    args = parser.parse_args()
    if not args.plot_only:
        run(args)
    rows = [json.loads(line) for line in Path(args.out).read_text().splitlines() if line.strip()]
    if args.plot:
        plot(rows, args.plot)
    print(json.dumps(summary(rows)))


if __name__ == "__main__":
    main()
