"""Active learning in simulation: does ranking the prompts the model is unsure of first teach it faster?

A simulated annotator answers each task with the real human ranking of that prompt (the shipped Open
Assistant trees, or Anthropic HH pairs as K = 2). Per seed the prompts are split into a held-out set and a
pool; every strategy starts from the same random ``--start`` rankings, then the model is retrained from
scratch every ``--step`` rankings, evaluated on the held-out prompts (``rewardtrain.core.evaluate``'s
pairwise and length-balanced accuracy), and (except for ``random``) scores the prompts left in the pool,
which the strategy orders with the product's own acquisition functions (``rewardtrain.core.acquisition``):

- ``random``: random order (what coverage amounts to when every prompt wants one ranking);
- ``uncertainty``: the highest expected Bradley-Terry pairwise entropy first;
- ``mixed``: uncertainty, each slot taken at random with probability ``--exploration``.

The model in the loop (``--model``):

- ``finetune`` (default): the pure core's ``train()``, the whole MiniLM. Minutes per model on a CPU, so
  only a cheap recipe (``--max-length``, ``--epochs``) and a few seeds fit a shared 2-core machine.
- ``probe``: a frozen-body model, the score layer alone on MiniLM embeddings computed once and cached under
  ``--cache`` (``bench/probe.py``; ``--max-length`` is then the embedding's), trained with the trainer's
  own pieces in well under a second, so dozens of seeds fit. Its recipe (``--probe-lr``, ``--probe-epochs``,
  ``--probe-weight-decay``) is fixed for every strategy. It answers "does the acquisition order help this
  learner", not what the fine-tuned model's accuracy would be.

Annotator disagreement needs several rankings of a prompt; the shipped data holds one, so it is not
simulated here. Every run (strategy, seed) is appended to ``--out`` (JSONL) as it finishes, and
``--plot`` draws the learning curves (mean over seeds, band = ±1 standard deviation) from that file. The
summary (last stdout line) compares each strategy with random order on the same seeds: the mean paired
difference over the checkpoints with a 95 % bootstrap interval over seeds, and the share of the pool it
needs to reach random order's final mean, with its bootstrap interval.

    mkdir -p var
    .venv/bin/python bench/active_learning.py --model probe --max-length 512 --seeds $(seq 0 49) \
        --start 16 --step 16 --out var/al_oasst_probe.jsonl --plot docs/active_learning.png
    .venv/bin/python bench/active_learning.py --seeds 0 1 2 --out var/al_oasst.jsonl  # finetune: ~2 h on 2 shared cores
    .venv/bin/python bench/active_learning.py --plot-only --out var/al_oasst.jsonl --plot var/al_oasst.png
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from probe import add_model_arguments, probe_recipe  # noqa: E402
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


Scores = Callable[[list[RankedRecord]], list[list[float]]]  # a trained model: rewards of each record's completions


class Trainer:
    """One model recipe, results remembered by training set: every strategy of a seed starts from the same
    rankings and ends with the whole pool, and those models are trained once.

    ``finetune``: the pure core's ``train()`` (the whole MiniLM), evaluated by it on the held-out prompts.
    ``probe``: the score layer alone on cached frozen-MiniLM embeddings (``bench/probe.py``), evaluated
    with the same ``rewardtrain.core.evaluate`` metrics.
    """

    def __init__(self, config: TrainConfig, held_out: list[RankedRecord], workdir: Path, probe: Any = None) -> None:
        self.config = config
        self.held_out = held_out
        self.workdir = workdir
        self.probe = probe  # (embeddings, index, ProbeRecipe) in probe mode
        self.cache: dict[frozenset[str], tuple[dict[str, Any], Scores]] = {}
        self.trainings = 0
        self.seconds = 0.0

    def fit(self, records: list[RankedRecord]) -> tuple[dict[str, Any], Scores]:
        key = frozenset(str(record.id) for record in records)
        if key not in self.cache:
            started = time.perf_counter()
            ordered = sorted(records, key=lambda record: str(record.id))  # the same set trains the same model
            self.cache[key] = self._probe(ordered) if self.probe else self._finetune(ordered)
            self.trainings += 1
            self.seconds += time.perf_counter() - started
        return self.cache[key]

    def _finetune(self, records: list[RankedRecord]) -> tuple[dict[str, Any], Scores]:
        from rewardtrain.core.scoring import RewardScorer
        from rewardtrain.core.train import train

        out_dir = self.workdir / f"rm-{len(self.cache)}"
        result = train(self.config, records, eval_records=self.held_out, out_dir=out_dir)
        return result.metrics or {}, lambda pool: RewardScorer.load(out_dir).score(pool)

    def _probe(self, records: list[RankedRecord]) -> tuple[dict[str, Any], Scores]:
        from probe import fit_probe

        from rewardtrain.core.evaluate import metrics_from_scores

        embeddings, index, recipe = self.probe
        model = fit_probe(records, embeddings, index, self.config, recipe)
        return metrics_from_scores(self.held_out, model.scores(self.held_out)), model.scores


def acquisition_scores(scores: Scores, pool: list[RankedRecord]) -> dict[str, float]:
    """Each pool prompt's expected pairwise entropy under the model whose rewards ``scores`` gives."""
    return {str(record.id): order_uncertainty(rewards) for record, rewards in zip(pool, scores(pool), strict=True)}


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
        metrics, scores = trainer.fit([by_id[key] for key in collected])
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
            uncertainty = acquisition_scores(scores, [by_id[key] for key in left])
            exploration = args.exploration if strategy == "mixed" else 0.0
            chosen = pick(left, uncertainty, args.step, exploration=exploration, rng=rng)
        collected.extend(chosen)


def run(args: argparse.Namespace) -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    config = TrainConfig(epochs=args.epochs, max_length=args.max_length, device=args.device, bf16=args.bf16, seed=0)
    probe = None
    recipe: dict[str, Any] = {"model": args.model, "epochs": args.epochs, "max_length": args.max_length}
    if args.model == "probe":
        import torch
        from probe import embed_all

        torch.set_num_threads(1)  # the score layer alone: tiny matrices, where a thread pool only waits
        recipe_of_probe = probe_recipe(args)
        # Every record of the file is embedded once, whatever --limit samples per seed: one cache for all seeds.
        embeddings, index = embed_all(load_dataset(args.dataset, 0, 0), config.model, args.max_length, Path(args.cache))
        probe = (embeddings, index, recipe_of_probe)
        recipe = {"model": "probe", "max_length": args.max_length, **vars(recipe_of_probe)}
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
            trainer = Trainer(config, held_out, Path(workdir), probe)
            for strategy in args.strategies:
                started = time.perf_counter()
                points = simulate(strategy, pool, trainer, args, seed)
                row = {
                    "dataset": args.dataset,
                    "strategy": strategy,
                    "seed": seed,
                    "exploration": args.exploration if strategy == "mixed" else 0.0,
                    "recipe": recipe,
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


def per_seed(rows: list[dict[str, Any]], metric: str) -> dict[str, dict[int, dict[int, float]]]:
    """strategy -> seed -> rankings collected -> the metric."""
    out: dict[str, dict[int, dict[int, float]]] = {}
    for row in rows:
        for point in row["points"]:
            if point.get(metric) is not None:
                out.setdefault(row["strategy"], {}).setdefault(row["seed"], {})[point["rankings"]] = point[metric]
    return out


def interval(values: list[float]) -> list[float]:
    """The 2.5 and 97.5 percentiles (a 95 % bootstrap interval when ``values`` are bootstrap replicates)."""
    ordered = sorted(values)
    return [ordered[int(0.025 * (len(ordered) - 1))], ordered[int(0.975 * (len(ordered) - 1))]]


def paired_comparison(
    strategy: dict[int, dict[int, float]], random_order: dict[int, dict[int, float]], replicates: int = 2000
) -> dict[str, Any] | None:
    """The strategy against random order on the same seeds (same split, same start), with 95 % bootstrap
    intervals over seeds: the mean difference at each checkpoint and over the checkpoints between the shared
    start and the shared end (where both train the same model), and the rankings each needs to reach random
    order's final mean."""
    seeds = sorted(set(strategy) & set(random_order))
    checkpoints = sorted(set.intersection(*(set(strategy[s]) & set(random_order[s]) for s in seeds))) if seeds else []
    if not seeds or len(checkpoints) < 3:
        return None
    middle = checkpoints[1:-1]
    final = checkpoints[-1]
    differences = {n: [strategy[s][n] - random_order[s][n] for s in seeds] for n in middle}
    area = [sum(strategy[s][n] - random_order[s][n] for n in middle) / len(middle) for s in seeds]

    def reach(sample: list[int], curves: dict[int, dict[int, float]], target: float) -> int:
        for n in checkpoints:
            if sum(curves[s][n] for s in sample) / len(sample) >= target:
                return n
        return final

    def needed(sample: list[int]) -> tuple[float, float]:
        target = sum(random_order[s][final] for s in sample) / len(sample)
        return reach(sample, strategy, target) / final, reach(sample, random_order, target) / final

    rng = random.Random(0)
    samples = [[rng.choice(seeds) for _ in seeds] for _ in range(replicates)]
    boot_area = [sum(area[seeds.index(s)] for s in sample) / len(sample) for sample in samples]
    boot_needed = [needed(sample) for sample in samples]
    return {
        "seeds": len(seeds),
        "mean_difference_over_checkpoints": round(sum(area) / len(area), 4),
        "mean_difference_interval": [round(value, 4) for value in interval(boot_area)],
        "seeds_ahead": sum(value > 0 for value in area),
        "difference_at": {
            n: {"mean": round(sum(v) / len(v), 4), "seeds_ahead": sum(x > 0 for x in v), "of": len(v)}
            for n, v in differences.items()
        },
        "share_of_pool_to_reach_random_final": round(needed(seeds)[0], 3),
        "share_interval": [round(value, 3) for value in interval([pair[0] for pair in boot_needed])],
        "random_share_to_reach_own_final": round(needed(seeds)[1], 3),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric and strategy: the mean curve, the share of the pool it needs to reach random's final mean,
    and the paired comparison with random order over seeds."""
    out: dict[str, Any] = {}
    for metric in CURVE_METRICS:
        by_strategy = curves(rows, metric)
        if "random" not in by_strategy:
            continue
        seeds_of = per_seed(rows, metric)
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
                    "against_random": None
                    if strategy == "random"
                    else paired_comparison(seeds_of[strategy], seeds_of["random"]),
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
            spread = [statistics.stdev(curve[x]) if len(curve[x]) > 1 else 0.0 for x in xs]
            lower = [m - d for m, d in zip(mean, spread, strict=True)]
            upper = [m + d for m, d in zip(mean, spread, strict=True)]
            axis.fill_between(xs, lower, upper, alpha=0.15)
        if metric == "pairwise_accuracy" and baseline:
            values = [v for curve in baseline.values() for point in curve.values() for v in point]
            axis.axhline(sum(values) / len(values), color="grey", linestyle="--", label="longer reply wins")
        axis.set_xlabel("rankings collected")
        axis.set_ylabel(f"held-out {metric.replace('_', ' ')}")
        axis.grid(alpha=0.3)
        axis.legend()
    datasets = sorted({row["dataset"] for row in rows})
    models = sorted({row["recipe"].get("model", "finetune") for row in rows})
    figure.suptitle(
        f"Active learning in simulation ({', '.join(datasets)}, {', '.join(models)}; "
        "mean over seeds, band = ±1 standard deviation)"
    )
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
    add_model_arguments(parser)
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
