"""How big a forward should be: training and scoring time against ``max_tokens_per_forward``.

A batch's sequences go through the model in length-sorted forwards of at most ``max_tokens_per_forward``
padded tokens (rewardtrain/core/batching.py). Until session 9 that budget was 16,384 tokens everywhere; it is
now the device's (0, the default: 1,024 training and 4,096 scoring on a CPU, 16,384 on a GPU). This bench
measures why, on the shipped Open Assistant rankings (the default MiniLM, the default recipe, 512 tokens):

- training: one epoch of the first ``--prompts`` prompts at each budget, ``training_seconds`` of train()'s
  own stats (setup and the final evaluation excluded), run ``--rounds`` times in alternating order;
- scoring: every completion of those prompts scored by a RewardScorer at each budget, ``--rounds`` times.

Each budget is printed with its ratio to 16,384 (the former default, measured in the same run) and the
padded tokens it read. Prints one JSON line at the end.

    .venv/bin/python bench/forward_size.py                       # budgets 16384,4096,2048,1024, 30 prompts
    .venv/bin/python bench/forward_size.py --max-length 128      # short sequences: the budget matters less
    .venv/bin/python bench/forward_size.py --device cuda --budgets 65536,16384,4096
"""

from __future__ import annotations

import argparse
import json
import os
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

from scratch import shared_data_file  # noqa: E402
from train_vs_trl import load_average  # noqa: E402

from rewardtrain.core.config import TrainConfig  # noqa: E402
from rewardtrain.core.data import RankedRecord, load_records  # noqa: E402

OASST_FILE = "oasst_en100/en_100_tree.jsonl"
FORMER_DEFAULT = 16384


def training_seconds(records: list[RankedRecord], budget: int, args: argparse.Namespace) -> dict[str, Any]:
    from rewardtrain.core.train import train

    config = TrainConfig(epochs=1, max_tokens_per_forward=budget, max_length=args.max_length, device=args.device)
    with tempfile.TemporaryDirectory() as out:
        # two held-out prompts: the final evaluation is not what is measured, but train() wants some
        result = train(config, records[2:], eval_records=records[:2], out_dir=Path(out) / "rm")
    stats = result.train_stats
    return {"seconds": stats["training_seconds"], "padded_tokens": stats["padded_tokens"]}


def scoring_seconds(scorer: Any, records: list[RankedRecord]) -> float:
    started = time.perf_counter()
    scorer.score(records)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="16384,4096,2048,1024", help="comma-separated tokens per forward")
    parser.add_argument("--prompts", type=int, default=30, help="the first N Open Assistant prompts")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2, help="runs of every budget, in alternating order")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from rewardtrain.core.encoding import SequenceEncoder
    from rewardtrain.core.model import load_backbone, resolve_device
    from rewardtrain.core.scoring import RewardScorer

    budgets = [int(value) for value in args.budgets.split(",")]
    if FORMER_DEFAULT not in budgets:
        budgets.insert(0, FORMER_DEFAULT)
    records = load_records(shared_data_file(OASST_FILE))[: args.prompts]
    completions = sum(len(record.completions) for record in records)
    print(
        f"{len(records)} Open Assistant prompts, {completions} completions, max_length {args.max_length}, "
        f"device {args.device}, torch threads {torch.get_num_threads()}, load average {load_average()}",
        file=sys.stderr,
    )
    training_seconds(records[:6], FORMER_DEFAULT, args)  # warm-up: imports, allocator, kernels

    model, tokenizer, architecture = load_backbone(TrainConfig(max_length=args.max_length))
    device = resolve_device(args.device)
    model.to(device).eval()
    encoder = SequenceEncoder(tokenizer, architecture=architecture, max_length=args.max_length)

    trained: dict[int, list[dict[str, Any]]] = {budget: [] for budget in budgets}
    scored: dict[int, list[float]] = {budget: [] for budget in budgets}
    for round_ in range(args.rounds):
        for budget in budgets if round_ % 2 == 0 else list(reversed(budgets)):
            trained[budget].append(training_seconds(records, budget, args))
            scorer = RewardScorer(model, encoder, device=device, max_tokens_per_forward=budget)
            scored[budget].append(scoring_seconds(scorer, records))
            print(
                f"  round {round_}, {budget} tokens a forward: training {trained[budget][-1]['seconds']:.2f} s, "
                f"scoring {scored[budget][-1]:.2f} s",
                file=sys.stderr,
            )
    figures = {}
    base_training = statistics.median(run["seconds"] for run in trained[FORMER_DEFAULT])
    base_scoring = statistics.median(scored[FORMER_DEFAULT])
    for budget in budgets:
        training = statistics.median(run["seconds"] for run in trained[budget])
        scoring = statistics.median(scored[budget])
        figures[budget] = {
            "training_seconds": round(training, 2),
            "training_speedup_vs_16384": round(base_training / training, 3),
            "padded_tokens": trained[budget][0]["padded_tokens"],
            "scoring_seconds": round(scoring, 2),
            "scoring_completions_per_second": round(completions / scoring, 1),
            "scoring_speedup_vs_16384": round(base_scoring / scoring, 3),
        }
        print(f"{budget:>6} tokens a forward: {figures[budget]}", file=sys.stderr)
    print(json.dumps({"prompts": len(records), "completions": completions, "max_length": args.max_length,
                      "device": args.device, "budgets": figures}))  # fmt: skip


if __name__ == "__main__":
    main()
