"""The length controls compared cheaply: the score layer alone trained on a frozen MiniLM, 5-fold prompt CV.

Fine-tuning the whole MiniLM 5 folds x 4 recipes takes hours of a shared 2-core CPU (bench/oasst_cv.py
``--grid length`` is that comparison, for a GPU or an idle machine). Here the body runs once: every ranked
completion's pooled embedding (what the score layer reads) is computed and cached, and then, for every
recipe and fold, only the score layer is trained, with the trainer's own pieces: the records go through
``encode_records`` (style features, length-balance weights, bootstrap weights), the ``Collator`` builds
the batches and ``batch_loss`` is the objective, as in ``rewardtrain.core.train``. The held-out pairs of
all folds are pooled for the metrics (``rewardtrain.core.evaluate``), uncertainty AUROC included.

    .venv/bin/python bench/length_probe.py                                 # Open Assistant, the four controls
    .venv/bin/python bench/length_probe.py --dataset hh-helpful --limit 800
    .venv/bin/python bench/length_probe.py --curve style                   # learning curve of one control

The last stdout line is the JSON of all results.
"""

from __future__ import annotations

import argparse
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

import torch  # noqa: E402
from oasst_cv import DATASETS, folds_by_prompt  # noqa: E402
from probe import ProbeRecipe, embed_all, fit_probe  # noqa: E402
from scratch import shared_data_file  # noqa: E402

from rewardtrain.core.config import TrainConfig  # noqa: E402
from rewardtrain.core.data import RankedRecord, load_records, prompt_keys_in_hash_order  # noqa: E402
from rewardtrain.core.evaluate import metrics_from_scores, uncertainty_metrics  # noqa: E402

CONTROLS = ["none", "style", "balance", "length_head"]


def cross_validate(
    records: list[RankedRecord],
    embeddings: torch.Tensor,
    index: dict[str, int],
    control: str,
    args: argparse.Namespace,
    train_fraction: float = 1.0,
) -> dict[str, Any]:
    config = TrainConfig(
        length_control=control, uncertainty_heads=args.uncertainty_heads, seed=args.seed,
        prompts_per_batch=args.prompts_per_batch, center_rewards_coefficient=0.01,
    )  # fmt: skip
    held_out_records, scores, uncertainties, heads_of, train_pairs, betas = [], [], [], [], 0, []
    for n, held_out in enumerate(folds := folds_by_prompt(records, args.folds, args.seed)):
        train_records = [record for m, fold in enumerate(folds) if m != n for record in fold]
        if train_fraction < 1:
            keys = prompt_keys_in_hash_order(train_records, args.seed + 1)
            kept = set(keys[: max(1, round(train_fraction * len(keys)))])
            train_records = [record for record in train_records if record.prompt_key() in kept]
        probe = fit_probe(train_records, embeddings, index, config, ProbeRecipe(lr=args.lr, epochs=args.epochs))
        train_pairs += probe.training_pairs
        if probe.beta is not None:
            betas.append([round(value, 3) for value in probe.beta.tolist()])
        with torch.no_grad():
            for record in held_out:
                ranked = record.ranked_indices()
                outputs = probe.outputs(record)
                full = [0.0] * len(record.completions)
                spread = [0.0] * len(record.completions)
                per_head: list[list[float]] = [[0.0] * max(1, config.uncertainty_heads)] * len(record.completions)
                columns = list(range(config.output_heads - config.uncertainty_heads, config.output_heads))
                for position, i in enumerate(ranked):
                    full[i] = float(outputs[position, 0])
                    if columns:
                        spread[i] = float(outputs[position, columns].std())
                        per_head[i] = outputs[position, columns].tolist()
                held_out_records.append(record)
                scores.append(full)
                uncertainties.append(spread)
                heads_of.append(per_head)
    metrics = metrics_from_scores(held_out_records, scores)
    result = {
        "control": control,
        "train_fraction": train_fraction,
        "train_pairs_per_fold": round(train_pairs / args.folds, 1),
        "pairs": metrics["counts"]["pairs"],
        **{
            key: None if metrics[key] is None else round(metrics[key], 4)
            for key in (
                "pairwise_accuracy",
                "length_baseline_accuracy",
                "length_balanced_accuracy",
                "accuracy_when_longer_wins",
                "accuracy_when_shorter_wins",
                "prefers_longer_share",
                "humans_longer_wins_share",
                "reward_length_correlation",
                "human_length_correlation",
            )
        },  # fmt: skip
    }
    if config.uncertainty_heads:
        auroc = uncertainty_metrics(held_out_records, scores, uncertainties, heads_of)
        result["uncertainty"] = {
            key: round(value, 4) if isinstance(value, float) else value for key, value in auroc.items()
        }
    if betas:
        result["beta_per_fold"] = betas
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="oasst")
    parser.add_argument("--limit", type=int, default=0, help="only the first N records of the file")
    parser.add_argument("--model", default=TrainConfig().model)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--controls", default=",".join(CONTROLS))
    parser.add_argument("--uncertainty-heads", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--prompts-per-batch", type=int, default=8)
    parser.add_argument("--curve", default=None, help="a control: its learning curve over training-set sizes")
    parser.add_argument("--fractions", default="0.125,0.25,0.5,0.75,1")
    parser.add_argument("--cache", default=tempfile.gettempdir(), help="where the embeddings are cached")
    args = parser.parse_args()

    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)  # the score layer alone: tiny matrices, where a thread pool only waits
    records = load_records(shared_data_file(DATASETS[args.dataset]))
    if args.limit:
        records = records[: args.limit]
    embeddings, index = embed_all(records, args.model, args.max_length, Path(args.cache))
    results = []
    runs = (
        [(args.curve, float(f)) for f in args.fractions.split(",")]
        if args.curve
        else [(control, 1.0) for control in args.controls.split(",")]
    )
    for control, fraction in runs:
        started = time.perf_counter()
        result = cross_validate(records, embeddings, index, control, args, fraction)
        result["seconds"] = round(time.perf_counter() - started, 1)
        results.append(result)
        print(json.dumps(result), file=sys.stderr, flush=True)
    print(
        json.dumps(
            {"dataset": args.dataset, "records": len(records), "max_length": args.max_length, "results": results}
        )
    )


if __name__ == "__main__":
    main()
