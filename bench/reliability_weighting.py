"""How much held-out accuracy reliability weighting recovers when some annotators are careless.

The shipped Open Assistant rankings (``annotate/fixtures/oasst_en100``) are split by prompt into
training and held-out groups. Each training group is then ranked by three simulated annotators drawn
from a pool of five (as ``rankings_per_prompt = 3`` would hand them out):

- three **diligent** annotators give the real human ranking, each adjacent pair of groups swapped
  with probability ``--noise`` (people disagree: OASST's own rankers agree on ~70 % of pairs);
- one **random** annotator answers a uniformly random order on ``--careless-share`` of their tasks;
- one **reversing** annotator gives the human ranking upside down on ``--careless-share`` of theirs
  (diligent on the rest).

Reliabilities come from the product's own code: leave-one-out consensus tau per annotator
(``rewardtrain.services.agreement.agreement_report``) turned into weights by ``reliability_weights``.
Then the product's trainer (``rewardtrain.core.train.train``, record weights -> pair weights) trains
three models on the same groups, per seed:

- ``clean``: every task answered diligently (the ceiling: what careful annotators would have given);
- ``unweighted``: the careless answers in, every ranking weighing 1 (today's behaviour);
- ``weighted``: the same data, each ranking weighing its annotator's reliability.

and measures held-out pairwise accuracy on the real human rankings. Also printed: the share of the
training pairs (weighted as training weighs them) that agree with the human ranking, which shows what
the weighting does to the labels without the noise of training.

    .venv/bin/python bench/reliability_weighting.py                       # 3 seeds, the cheap recipe
    .venv/bin/python bench/reliability_weighting.py --seeds 0 --epochs 1  # a quick look
    .venv/bin/python bench/reliability_weighting.py --model probe --max-length 512 --seeds 0,1,2,3,4,5,6,7,8,9

The fine-tuning recipe is cheap on purpose (2 shared CPU cores): max length 128, 2 epochs. ``--model probe``
trains a frozen-body model instead, the score layer alone on cached MiniLM embeddings (``bench/probe.py``):
seconds per model, so many seeds fit; it measures what the weighting does for that learner, not the
fine-tuned model's accuracy. The summary gives, for accuracy and length-balanced accuracy, the share of the
loss (clean minus unweighted) that weighting recovers, and weighted minus unweighted paired by seed. The last
stdout line is the JSON of every result.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from probe import add_model_arguments, embed_all, fit_probe, probe_recipe  # noqa: E402
from scratch import shared_data_file  # noqa: E402

from rewardtrain.core.config import TrainConfig  # noqa: E402
from rewardtrain.core.data import RankedRecord, load_oasst_trees, split_by_prompt  # noqa: E402
from rewardtrain.core.evaluate import metrics_from_scores  # noqa: E402
from rewardtrain.services.agreement import RankingFacts, agreement_report, reliability_weights  # noqa: E402

DATA_FILE = "oasst_en100/en_100_tree.jsonl"
DILIGENT, RANDOM, REVERSING = "diligent", "random", "reversing"
POOL = (DILIGENT, DILIGENT, DILIGENT, RANDOM, REVERSING)  # annotator id = index
RANKINGS_PER_PROMPT = 3


def noisy(order: list[list[int]], noise: float, rng: random.Random) -> list[list[int]]:
    """The order with each adjacent pair of groups swapped with probability ``noise`` (one pass)."""
    groups = [list(group) for group in order]
    for index in range(len(groups) - 1):
        if rng.random() < noise:
            groups[index], groups[index + 1] = groups[index + 1], groups[index]
    return groups


def answer(kind: str, order: list[list[int]], *, careless: bool, noise: float, rng: random.Random) -> list[list[int]]:
    """What an annotator of ``kind`` sends for a task whose human ranking is ``order``."""
    if careless and kind == RANDOM:
        completions = [completion for group in order for completion in group]
        rng.shuffle(completions)
        return [[completion] for completion in completions]
    if careless and kind == REVERSING:
        return [list(group) for group in order[::-1]]
    return noisy(order, noise, rng)


def simulate(
    records: list[RankedRecord], *, seed: int, noise: float, careless_share: float
) -> dict[str, list[tuple[int, RankedRecord]]]:
    """(annotator id, record) per condition: the same tasks and diligent answers in each."""
    rng = random.Random(seed)
    out: dict[str, list[tuple[int, RankedRecord]]] = {"clean": [], "noisy": []}
    for record in records:
        for annotator in rng.sample(range(len(POOL)), RANKINGS_PER_PROMPT):
            careless = rng.random() < careless_share
            state = rng.getstate()  # the diligent answer is the same draw in both conditions
            diligent = answer(DILIGENT, record.order, careless=False, noise=noise, rng=rng)
            rng.setstate(state)
            given = answer(POOL[annotator], record.order, careless=careless, noise=noise, rng=rng)
            for condition, order in (("clean", diligent), ("noisy", given)):
                out[condition].append(
                    (
                        annotator,
                        RankedRecord(
                            prompt=record.prompt,
                            completions=record.completions,
                            order=order,
                            context=record.context,
                            id=record.id,
                        ),
                    )
                )
    return out


def reliabilities(rankings: list[tuple[int, RankedRecord]], prompt_index: dict[str, int]) -> dict[int, float]:
    """The product's reliability weights for the simulated annotators (completion ids made unique)."""
    facts = []
    for ranking_id, (annotator, record) in enumerate(rankings):
        prompt = prompt_index[record.prompt_key()]
        order = [[prompt * 100 + completion for completion in group] for group in record.order]
        facts.append(RankingFacts(ranking_id, prompt, annotator, order))
    report = agreement_report(facts)
    return reliability_weights({annotator: stats["mean_tau"] for annotator, stats in report["annotators"].items()})


def label_accuracy(rankings: list[tuple[int, RankedRecord]], truth: dict[str, RankedRecord]) -> float:
    """Share of the training pairs agreeing with the human ranking, each weighted as training weighs it."""
    agreed = total = 0.0
    for _, record in rankings:
        rank = truth[record.prompt_key()].rank_of() or {}
        pairs = record.comparisons()
        for pair in pairs:
            share = record.weight / len(pairs)  # the default pair weighting: a ranking's pairs share its weight
            total += share
            agreed += share * (rank[pair.winner] < rank[pair.loser])
    return agreed / total if total else 0.0


def measured(rows: list[dict[str, Any]], metric: str) -> list[float]:
    return [row[metric] for row in rows if row.get(metric) is not None]


def paired_differences(results: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Weighted minus unweighted on the same seed (same simulated answers): mean with a 95 % bootstrap interval
    over seeds, range, seeds ahead."""
    by_seed = {(row["seed"], row["condition"]): row[metric] for row in results}
    seeds = sorted({row["seed"] for row in results})
    differences = [by_seed[seed, "weighted"] - by_seed[seed, "unweighted"] for seed in seeds]
    rng = random.Random(0)
    replicates = sorted(statistics.fmean(rng.choices(differences, k=len(differences))) for _ in range(2000))
    return {
        "mean": round(statistics.fmean(differences), 4),
        "interval": [round(replicates[49], 4), round(replicates[1949], 4)],  # 95 % bootstrap over seeds
        "min": round(min(differences), 4),
        "max": round(max(differences), 4),
        "seeds_ahead": sum(value > 0 for value in differences),
        "seeds": len(differences),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="Simulation and training seeds")
    parser.add_argument("--noise", type=float, default=0.15, help="Adjacent swap probability of a diligent answer")
    parser.add_argument("--careless-share", type=float, default=0.8, help="Share of tasks answered carelessly")
    parser.add_argument("--eval-fraction", type=float, default=0.25, help="Share of prompts held out")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--conditions", default="clean,unweighted,weighted")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--labels-only", action="store_true", help="Skip training: only the training-pair figures")
    add_model_arguments(parser)
    args = parser.parse_args()

    records = [record for record in load_oasst_trees(shared_data_file(DATA_FILE)) if record.pairs is None]
    probe = None
    if args.model == "probe" and not args.labels_only:
        import torch

        torch.set_num_threads(1)  # the score layer alone: tiny matrices, where a thread pool only waits
        recipe = probe_recipe(args)
        embeddings, index = embed_all(records, TrainConfig().model, args.max_length, Path(args.cache))
        probe = (embeddings, index, recipe)
    train_groups, held_out = split_by_prompt(records, args.eval_fraction, seed=0)
    truth = {record.prompt_key(): record for record in train_groups}
    prompt_index = {key: index for index, key in enumerate(sorted(truth))}
    print(f"{len(train_groups)} training groups ({len(truth)} prompts), {len(held_out)} held-out groups", flush=True)

    results: list[dict[str, Any]] = []
    for seed in (int(value) for value in args.seeds.split(",")):
        simulated = simulate(train_groups, seed=seed, noise=args.noise, careless_share=args.careless_share)
        weights = reliabilities(simulated["noisy"], prompt_index)
        print(
            f"seed {seed}: reliabilities "
            + ", ".join(
                f"{annotator} ({POOL[annotator]}) {weight:.2f}" for annotator, weight in sorted(weights.items())
            ),
            flush=True,
        )
        datasets = {
            "clean": [record for _, record in simulated["clean"]],
            "unweighted": [record for _, record in simulated["noisy"]],
            "weighted": [
                RankedRecord(
                    prompt=record.prompt,
                    completions=record.completions,
                    order=record.order,
                    context=record.context,
                    id=record.id,
                    weight=weights[annotator],
                )
                for annotator, record in simulated["noisy"]
            ],
        }
        for condition in args.conditions.split(","):
            data = datasets[condition]
            started = time.perf_counter()
            metrics: dict[str, Any] = {
                "pairwise_accuracy": None, "length_balanced_accuracy": None, "length_baseline_accuracy": None,
                "counts": {},
            }  # fmt: skip
            config = TrainConfig(
                seed=seed, device=args.device, epochs=args.epochs, max_length=args.max_length, eval_fraction=0.0
            )
            if args.labels_only:
                pass
            elif probe is not None:
                embeddings, index, recipe = probe
                model = fit_probe(data, embeddings, index, config, recipe)
                metrics = metrics_from_scores(held_out, model.scores(held_out))
            else:
                from rewardtrain.core.train import train

                with tempfile.TemporaryDirectory() as out:
                    metrics = train(config, data, eval_records=held_out, out_dir=Path(out) / "rm").metrics
            row = {
                "seed": seed,
                "condition": condition,
                "accuracy": metrics["pairwise_accuracy"],
                "length_balanced": metrics.get("length_balanced_accuracy"),
                "length_baseline": metrics["length_baseline_accuracy"],
                "held_out_pairs": metrics["counts"].get("pairs"),
                "label_accuracy": round(label_accuracy(list(zip([0] * len(data), data, strict=True)), truth), 4),
                "training_records": len(data),
                "seconds": round(time.perf_counter() - started, 1),
                "weights": {str(key): round(value, 3) for key, value in weights.items()}
                if condition == "weighted"
                else None,
            }
            results.append(row)
            print(json.dumps(row), flush=True)

    summary: dict[str, Any] = {}
    for condition in args.conditions.split(","):
        rows = [row for row in results if row["condition"] == condition]
        summary[condition] = {
            f"{metric}_mean": round(statistics.fmean(values), 4) if (values := measured(rows, metric)) else None
            for metric in ("accuracy", "length_balanced", "label_accuracy")
        }
    if {"clean", "unweighted", "weighted"} <= set(summary) and not args.labels_only:
        for metric in ("accuracy", "length_balanced"):
            lost = summary["clean"][f"{metric}_mean"] - summary["unweighted"][f"{metric}_mean"]
            regained = summary["weighted"][f"{metric}_mean"] - summary["unweighted"][f"{metric}_mean"]
            summary[f"{metric}_recovered_share"] = round(regained / lost, 3) if lost > 0 else None
            summary[f"{metric}_weighted_minus_unweighted"] = paired_differences(results, metric)
    print(json.dumps({"summary": summary, "results": results, "args": vars(args), "load": os.getloadavg()}))


if __name__ == "__main__":
    main()
