"""Import speed: the bulk import service against a naive per-row ORM import, on PostgreSQL.

    .venv/bin/python bench/import.py                      # 100,000 prompts x 6 completions
    .venv/bin/python bench/import.py --prompts 10000 --naive-prompts 500

Generates a deterministic JSONL file, creates a scratch database next to the one
DATABASE_URL names (default postgres://postgres@127.0.0.1:5432/postgres), migrates it,
times ``prompts_import`` on the whole file and a per-row ``objects.create`` import of the
first ``--naive-prompts`` records (in one transaction, the fair way), prints both rates and
their ratio, then drops the scratch database. Figures: docs/BENCHMARKS.md.
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

from scratch import scratch_database

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    *("model", "reward", "ranking", "prompt", "answer", "human", "helpful", "harmless", "data", "train"),
    *("score", "pair", "order", "group", "tie", "context", "reply", "annotate", "project", "import"),
    *("bulk", "insert", "chunk", "query", "index", "text", "value", "result", "fast", "slow"),
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def jsonl_write(path: Path, prompts: int, completions: int) -> None:
    """``prompts`` records with ``completions`` distinct completions each (~130 / ~330 characters)."""
    rng = random.Random(20261126)
    with path.open("w") as file:
        for number in range(prompts):
            record = {
                "id": f"bench-{number:07d}",
                "prompt": sentence(rng, 20),
                "completions": [
                    {"text": f"{position}. {sentence(rng, 50)}", "model": f"model-{position}"}
                    for position in range(completions)
                ],
                "metadata": {"batch": number // 1000},
            }
            file.write(json.dumps(record) + "\n")


def naive_import(project, path: Path, limit: int) -> None:
    from django.db import transaction

    from annotate.models import Completion, Prompt

    with transaction.atomic(), path.open() as file:
        for _, line in zip(range(limit), file, strict=False):
            record = json.loads(line)
            prompt = Prompt.objects.create(
                project=project, text=record["prompt"], external_id=record["id"], metadata=record["metadata"]
            )
            for position, completion in enumerate(record["completions"]):
                Completion.objects.create(
                    prompt=prompt, text=completion["text"], model_name=completion["model"], position=position
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--completions", type=int, default=6)
    parser.add_argument("--naive-prompts", type=int, default=2_000, help="records the per-row import measures")
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    with scratch_database(base_url, f"rankforge_bench_import_{os.getpid()}") as url:
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("RANKFORGE_TESTING", "1")  # no production secret key needed for a scratch run
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from annotate.models import Project
        from annotate.services.imports import prompts_import

        call_command("migrate", verbosity=0)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.jsonl"
            jsonl_write(path, args.prompts, args.completions)
            size_mb = path.stat().st_size / 1e6
            bulk_project = Project.objects.create(name="bench bulk", min_completions=2, max_completions=9)
            started = time.perf_counter()
            result = prompts_import(project=bulk_project, source=path)
            bulk_seconds = time.perf_counter() - started

            naive_project = Project.objects.create(name="bench naive", min_completions=2, max_completions=9)
            naive_count = min(args.naive_prompts, args.prompts)
            started = time.perf_counter()
            naive_import(naive_project, path, naive_count)
            naive_seconds = time.perf_counter() - started
        connection.close()

    bulk_rate, naive_rate = result.prompts_created / bulk_seconds, naive_count / naive_seconds
    print(f"file: {args.prompts:,} prompts x {args.completions} completions, {size_mb:.0f} MB JSONL")
    print(f"bulk import (prompts_import): {result.summary()}")
    print(f"  wall {bulk_seconds:.1f} s, {bulk_rate:,.0f} prompts/s")
    print(f"naive per-row ORM import of {naive_count:,} prompts:")
    print(f"  wall {naive_seconds:.1f} s, {naive_rate:,.0f} prompts/s")
    print(f"  naive estimate for all {args.prompts:,}: {args.prompts / naive_rate:,.0f} s")
    print(f"speed-up: {bulk_rate / naive_rate:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
