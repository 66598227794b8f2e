"""``python -m rewardtrain train|evaluate|score``: progress bars on stderr, the LAST stdout line is the JSON result.

Examples::

    python -m rewardtrain train --data rankings.jsonl --eval-fraction 0.2 --out artifacts/rm
    python -m rewardtrain evaluate --model artifacts/rm --data heldout.jsonl
    python -m rewardtrain score --model artifacts/rm --data items.jsonl     # one {"rewards": [...]} line per item

Data files may be K-wise rankings JSONL, TRL pairwise JSONL or Open Assistant trees, plain or gzip.
Bad data exits with status 2 and a last line ``{"error": "...", "line": N}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardtrain.core.config import TrainConfig
from rewardtrain.core.data import DataError, completion_text, context_turns, file_sha256, iter_json_lines, load_records

EXIT_BAD_DATA = 2


def _quiet_transformers() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def _source(path: str) -> dict[str, Any]:
    return {"path": str(Path(path).resolve()), "sha256": file_sha256(path), "bytes": os.path.getsize(path)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rewardtrain", description="Train, evaluate and run reward models.")
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = TrainConfig()

    train = commands.add_parser("train", help="train a reward model and write an artifact directory")
    train.add_argument(
        "--data", required=True, action="append", metavar="PATH[:WEIGHT]",
        help="training records (rankings, TRL pairs or OASST trees); repeat to mix sources, each weighted "
        "(PATH:0.5 halves its pairs' weight); --eval-fraction holds out prompts of the first source only",
    )  # fmt: skip
    held_out = train.add_mutually_exclusive_group()
    held_out.add_argument("--eval", help="held-out records; default: hold out --eval-fraction of the prompts")
    held_out.add_argument("--eval-fraction", type=float, default=defaults.eval_fraction)
    train.add_argument("--out", required=True, help="artifact directory (replaced atomically if it exists)")
    train.add_argument("--model", default=defaults.model, help="HF directory or hub id (default: shipped MiniLM)")
    train.add_argument("--mode", choices=["grouped", "pairwise"], default=defaults.mode)
    train.add_argument(
        "--pair-weighting", choices=["prompt", "pair"], default=defaults.pair_weighting,
        help="prompt: every prompt counts alike (1/C(K,2) per pair); pair: every pair alike",
    )  # fmt: skip
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--lr", type=float, default=defaults.lr)
    train.add_argument("--min-lr-ratio", type=float, default=defaults.min_lr_ratio, help="cosine floor, share of --lr")
    train.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio, help="share of steps warming up")
    train.add_argument(
        "--prompts-per-batch", type=int, default=defaults.prompts_per_batch,
        help="prompts per micro-batch per device; 0: as many as hold --pairs-per-batch comparisons",
    )  # fmt: skip
    train.add_argument(
        "--pairs-per-batch", type=int, default=defaults.pairs_per_batch, help="when --prompts-per-batch is 0"
    )
    train.add_argument("--gradient-accumulation-steps", type=int, default=defaults.gradient_accumulation_steps)
    train.add_argument("--max-length", type=int, default=defaults.max_length)
    train.add_argument(
        "--freeze-layers", type=int, default=defaults.freeze_layers,
        help="keep the embeddings and the first N transformer layers frozen (default 0: every layer trains)",
    )  # fmt: skip
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--center-rewards-coefficient", type=float, default=defaults.center_rewards_coefficient)
    train.add_argument(
        "--margin-by-rank-gap", action=argparse.BooleanOptionalAction, default=defaults.margin_by_rank_gap
    )
    train.add_argument("--group-by-length", action=argparse.BooleanOptionalAction, default=defaults.group_by_length)
    train.add_argument("--dropout", action=argparse.BooleanOptionalAction, default=defaults.dropout)
    train.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=False)
    train.add_argument(
        "--prefix-sharing",
        action=argparse.BooleanOptionalAction,
        default=defaults.prefix_sharing,
        help="decoders: forward each prompt once, its completions packed after it (exact; docs/training.md)",
    )
    train.add_argument("--lora", action=argparse.BooleanOptionalAction, default=False)
    train.add_argument("--lora-r", type=int, default=defaults.lora_r)
    train.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    train.add_argument(
        "--attention", choices=["auto", "eager", "sdpa"], default=defaults.attention, help="kernel while training"
    )
    train.add_argument("--device", default="auto")
    train.add_argument("--eval-every-steps", type=int, default=0)
    train.add_argument("--max-train-records", type=int, default=None, help="use only the first N records of a source")
    train.add_argument(
        "--length-control", choices=["none", "style", "balance", "length_head"], default=defaults.length_control,
        help="how length is kept out of the served reward (docs/training.md, 'Length')",
    )  # fmt: skip
    train.add_argument(
        "--uncertainty-heads", type=int, default=defaults.uncertainty_heads,
        help="bootstrap heads whose spread is each reward's uncertainty (0: none)",
    )  # fmt: skip

    evaluate = commands.add_parser("evaluate", help="held-out metrics of an artifact on ranked records")
    evaluate.add_argument("--model", required=True, help="artifact directory")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument(
        "--format", choices=["records", "rewardbench"], default="records",
        help="records: rankings, TRL pairs or OASST trees; rewardbench: {prompt, chosen, rejected, subset} lines",
    )  # fmt: skip
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--device", default="auto")

    score = commands.add_parser("score", help="rewards for {prompt, context?, completions} lines")
    score.add_argument("--model", required=True, help="artifact directory")
    score.add_argument("--data", required=True)
    score.add_argument("--output", help="write the reward lines here instead of stdout")
    score.add_argument("--batch-size", type=int, default=64)
    score.add_argument("--device", default="auto")
    return parser


def _train(args: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    from rewardtrain.core.train import train

    config = TrainConfig(
        model=args.model,
        mode=args.mode,
        pair_weighting=args.pair_weighting,
        epochs=args.epochs,
        lr=args.lr,
        min_lr_ratio=args.min_lr_ratio,
        warmup_ratio=args.warmup_ratio,
        prompts_per_batch=args.prompts_per_batch,
        pairs_per_batch=args.pairs_per_batch,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_length=args.max_length,
        freeze_layers=args.freeze_layers,
        seed=args.seed,
        center_rewards_coefficient=args.center_rewards_coefficient,
        margin_by_rank_gap=args.margin_by_rank_gap,
        group_by_length=args.group_by_length,
        dropout=args.dropout,
        gradient_checkpointing=args.gradient_checkpointing,
        lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        bf16=args.bf16,
        attention=args.attention,
        prefix_sharing=args.prefix_sharing,
        device=args.device,
        eval_fraction=0.0 if args.eval else args.eval_fraction,
        eval_every_steps=args.eval_every_steps,
        length_control=args.length_control,
        uncertainty_heads=args.uncertainty_heads,
    )
    records, eval_records, sources = _training_data(args, config)
    is_main = int(os.environ.get("RANK", 0)) == 0
    bar = tqdm(total=None, desc="train", unit="step", file=sys.stderr, disable=not is_main)

    def progress(update: dict[str, Any]) -> None:
        bar.total = update["total_steps"]
        bar.n = update["step"]
        bar.set_postfix(loss=f"{update['loss']:.4f}", lr=f"{update['lr']:.2e}", refresh=False)
        bar.refresh()
        if update["eval"] is not None:
            accuracy = update["eval"].get("pairwise_accuracy")
            bar.write(f"step {update['step']}: held-out pairwise accuracy {accuracy}", file=sys.stderr)

    result = train(config, records, eval_records, out_dir=args.out, on_progress=progress, data_manifest=sources)
    bar.close()
    return result.to_dict()


def _source_and_weight(value: str) -> tuple[str, float]:
    """``PATH`` or ``PATH:WEIGHT`` (a positive number after the last colon)."""
    path, _, weight = value.rpartition(":")
    if path and not os.path.exists(value):
        try:
            number = float(weight)
        except ValueError:
            return value, 1.0
        if not number > 0 or math.isinf(number):
            raise DataError(f"the weight of {path} must be a positive number, not {weight!r}")
        return path, number
    return value, 1.0


def _training_data(args: argparse.Namespace, config: TrainConfig) -> tuple[list[Any], list[Any] | None, dict[str, Any]]:
    """Training records of every ``--data`` source (weighted), the held-out records, and the manifest.

    Without ``--eval``, the held-out prompts come from the first source only (the data the model is for);
    records of the other sources that share a held-out prompt are dropped, so nothing held out is trained on.
    """
    from rewardtrain.core.data import records_summary, split_by_prompt

    loaded = []
    for value in args.data:
        path, weight = _source_and_weight(value)
        records = load_records(path)
        if args.max_train_records:
            records = records[: args.max_train_records]
        for record in records:
            record.weight = weight
        loaded.append((path, weight, records))
    eval_records = load_records(args.eval) if args.eval else None
    if eval_records is None and config.eval_fraction > 0:
        first_train, eval_records = split_by_prompt(loaded[0][2], config.eval_fraction, config.seed)
        loaded[0] = (loaded[0][0], loaded[0][1], first_train)
    held_out = {record.prompt_key() for record in eval_records or []}
    manifest_sources, train_records = [], []
    for n, (path, weight, records) in enumerate(loaded):
        kept = [record for record in records if n == 0 or record.prompt_key() not in held_out]
        train_records.extend(kept)
        summary = records_summary(kept)
        manifest_sources.append(
            {**_source(path), "weight": weight, "records": summary["records"], "pairs": summary["pairs"],
             "dropped_held_out_prompts": len(records) - len(kept)}
        )  # fmt: skip
    manifest = {"train": manifest_sources[0], **({"eval": _source(args.eval)} if args.eval else {})}
    if len(manifest_sources) > 1:
        manifest["train_sources"] = manifest_sources
    return train_records, eval_records or None, manifest


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from rewardtrain.core.evaluate import length_metrics, metrics_from_scores
    from rewardtrain.core.rewardbench import load_trios, rewardbench_scores
    from rewardtrain.core.scoring import RewardScorer

    trios = load_trios(args.data) if args.format == "rewardbench" else None
    records = [trio.record() for trio in trios] if trios is not None else load_records(args.data)
    scorer = RewardScorer.load(args.model, device=args.device)
    scores = _score_with_progress(lambda block: scorer.score(block, batch_size=args.batch_size), records, "evaluate")
    header = {"model": str(Path(args.model).resolve()), "data": _source(args.data), "format": args.format}
    if trios is not None:
        _print_rewardbench(results := rewardbench_scores(trios, scores))
        return {**header, **results, "length": length_metrics(records, scores)}
    return {**header, **metrics_from_scores(records, scores)}


def _print_rewardbench(results: dict[str, Any]) -> None:
    """The human-readable table on stderr; stdout keeps the one JSON line."""
    for subset, row in results["subsets"].items():
        print(f"{subset:<24} {100 * row['accuracy']:6.2f}  ({row['trios']} trios)", file=sys.stderr)
    for section, value in results["sections"].items():
        print(f"{section:<24} {'-' if value is None else f'{value:6.2f}'}", file=sys.stderr)
    score = results["score"]
    print(f"{'Score':<24} {'-' if score is None else f'{score:6.2f}'}", file=sys.stderr)


def _score_with_progress(
    score: Callable[[list[Any]], list[list[float]]], items: list[Any], desc: str
) -> list[list[float]]:
    from tqdm import tqdm

    scores: list[list[float]] = []
    block = 256
    with tqdm(total=len(items), desc=desc, unit="item", file=sys.stderr) as bar:
        for start in range(0, len(items), block):
            scores.extend(score(items[start : start + block]))
            bar.update(min(block, len(items) - start))
    return scores


def _score(args: argparse.Namespace) -> dict[str, Any]:
    from rewardtrain.core.scoring import RewardScorer

    items, ids = [], []
    for number, obj in iter_json_lines(args.data):
        if not isinstance(obj.get("prompt"), str) or not isinstance(obj.get("completions"), list):
            raise DataError(
                "a line to score needs 'prompt' (string) and 'completions' (list)", line=number, path=args.data
            )
        items.append(
            {
                "prompt": obj["prompt"],
                "context": context_turns(obj.get("context"), number, args.data),
                "completions": [completion_text(value, number, args.data) for value in obj["completions"]],
            }
        )
        ids.append(obj.get("id"))
    scorer = RewardScorer.load(args.model, device=args.device)
    started = time.perf_counter()
    scores = _score_with_progress(lambda block: scorer.score(block, batch_size=args.batch_size), items, "score")
    lines = [
        json.dumps({**({"id": i} if i is not None else {}), "rewards": rewards})
        for i, rewards in zip(ids, scores, strict=True)
    ]
    if args.output:
        Path(args.output).write_text("".join(line + "\n" for line in lines))
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    return {
        "model": str(Path(args.model).resolve()),
        "records": len(items),
        "completions": sum(len(s) for s in scores),
        "seconds": round(time.perf_counter() - started, 3),
        "output": args.output,
    }


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    _quiet_transformers()
    handlers = {"train": _train, "evaluate": _evaluate, "score": _score}
    try:
        result = handlers[args.command](args)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        _emit({"error": str(error), "line": error.line})
        raise SystemExit(EXIT_BAD_DATA) from None
    if int(os.environ.get("RANK", 0)) == 0:
        _emit(result)


if __name__ == "__main__":
    main()
