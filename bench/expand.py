"""Benchmark: expanding rankings into comparisons on PostgreSQL, set-based SQL vs a naive ORM loop.

Creates its own database (``rf_bench_expand`` by default, dropped at the end), migrates it, loads
N rankings of K completions with COPY, then in the same run times

1. a naive per-pair ORM loop (``Comparison.objects.create`` for each pair) over a subset of rankings,
2. ``comparisons_expand()`` over all rankings (the product's code path),
3. ``comparisons_expand()`` again (nothing left: the cost of an idle beat tick).

Run::

    .venv/bin/python bench/expand.py                       # 40,000 rankings of K=9 = 1,440,000 rows
    .venv/bin/python bench/expand.py --rankings 2000 --naive-rankings 100   # quick check
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from math import comb
from pathlib import Path

from scratch import django_setup, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def copy_rows(cursor, model, columns: list[str], rows) -> None:
    """COPY rows into ``model``'s table; columns not named get the field's default (others add fields)."""
    from django.db.models import BooleanField, JSONField

    extra = []
    for field in model._meta.concrete_fields:
        if field.column in columns or field.primary_key:
            continue
        if field.has_default():
            default = field.get_default()
        elif field.empty_strings_allowed and not field.null:
            default = ""
        else:
            continue
        if isinstance(field, JSONField):
            default = json.dumps(default)
        elif isinstance(field, BooleanField):
            default = "t" if default else "f"
        extra.append((field.column, default))
    tail = "\t".join(str(value) for _, value in extra)
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if value is None else str(value) for value in row))
        if extra:
            buffer.write("\t" + tail)
        buffer.write("\n")
    buffer.seek(0)
    names = ", ".join(f'"{name}"' for name in columns + [column for column, _ in extra])
    cursor.copy_expert(f"COPY {model._meta.db_table} ({names}) FROM STDIN", buffer)


def load_rankings(rankings: int, k: int, raters: int, seed: int, text_chars: int = 0) -> None:
    """Users, one project, prompts of K completions, and `rankings` strict rankings (3 per prompt).

    ``text_chars`` pads every completion to about that many characters (the export bench wants real sizes).
    """
    from django.contrib.auth.models import User
    from django.db import connection

    from annotate.models import Assignment, Completion, Project, Prompt, Ranking, RankingEntry

    per_prompt = min(3, raters)
    prompts = -(-rankings // per_prompt)
    rng = random.Random(seed)
    now = "2026-11-26 12:00:00+00"
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the psycopg2 cursor, for COPY
        copy_rows(
            cursor,
            User,
            [
                "id",
                "password",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
            ],
            ((i + 1, "!", "f", f"rater{i}", "", "", "", "f", "t", now) for i in range(raters)),
        )
        copy_rows(
            cursor,
            Project,
            ["id", "name", "min_completions", "max_completions", "created_at"],
            [(1, "bench", 2, 16, now)],
        )
        copy_rows(
            cursor,
            Prompt,
            ["id", "project_id", "text", "context", "external_id", "metadata", "created_at"],
            ((p + 1, 1, f"Prompt number {p}", "[]", "", "{}", now) for p in range(prompts)),
        )
        copy_rows(
            cursor,
            Completion,
            ["id", "prompt_id", "text", "model_name", "external_id", "metadata", "position"],
            (
                (
                    p * k + c + 1,
                    p + 1,
                    f"Completion {c} of prompt {p}. ".ljust(text_chars, "x"),
                    f"model-{c}",
                    "",
                    "{}",
                    c,
                )
                for p in range(prompts)
                for c in range(k)
            ),
        )
        assignments, ranking_rows, entries = [], [], []
        for r in range(rankings):
            prompt, slot = divmod(r, per_prompt)
            ids = [prompt * k + c + 1 for c in range(k)]
            shown = ids[:]
            rng.shuffle(shown)
            order = ids[:]
            rng.shuffle(order)
            rater = (prompt + slot) % raters + 1
            assignments.append((r + 1, prompt + 1, rater, "submitted", now, now, now, json.dumps(shown), ""))
            ranking_rows.append(
                (r + 1, r + 1, rater, prompt + 1, json.dumps([[c] for c in order]), "{}", "", 30.0, "annotator", now)
            )
            entries.extend((r * k + rank + 1, r + 1, prompt + 1, c, rank, "[]") for rank, c in enumerate(order))
        copy_rows(
            cursor,
            Assignment,
            [
                "id",
                "prompt_id",
                "annotator_id",
                "state",
                "started_at",
                "expires_at",
                "finished_at",
                "shown_order",
                "skip_reason",
            ],
            assignments,
        )
        copy_rows(
            cursor,
            Ranking,
            [
                "id",
                "assignment_id",
                "annotator_id",
                "prompt_id",
                "order",
                "flags",
                "comment",
                "seconds",
                "source",
                "submitted_at",
            ],
            ranking_rows,
        )
        copy_rows(
            cursor,
            RankingEntry,
            ["id", "ranking_id", "prompt_id", "completion_id", "rank", "flags"],
            entries,
        )
        for table in (
            "auth_user",
            "annotate_project",
            "annotate_prompt",
            "annotate_completion",
            "annotate_assignment",
            "annotate_ranking",
            "annotate_rankingentry",
        ):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
            cursor.execute(f"ANALYZE {table}")


def naive_expand(ranking_ids: list[int]) -> int:
    """What a straightforward implementation does: load each ranking, create each pair with the ORM."""
    from math import comb as combinations_count

    from annotate.models import Ranking
    from rewardtrain.models import Comparison

    written = 0
    for ranking in Ranking.objects.filter(id__in=ranking_ids).select_related("prompt"):
        weight = 1 / combinations_count(ranking.k, 2)
        rank_of = {completion: rank for rank, group in enumerate(ranking.order) for completion in group}
        for chosen, rejected, gap in ranking.pairs():
            Comparison.objects.create(
                project_id=ranking.prompt.project_id,
                prompt_id=ranking.prompt_id,
                ranking=ranking,
                annotator_id=ranking.annotator_id,
                chosen_id=chosen,
                rejected_id=rejected,
                chosen_rank=rank_of[chosen],
                rank_gap=gap,
                weight=weight,
                is_tie=False,
                submitted_at=ranking.submitted_at,
            )
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rankings", type=int, default=40_000)
    parser.add_argument("--k", type=int, default=9)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--naive-rankings", type=int, default=100, help="subset timed with the naive ORM loop")
    parser.add_argument("--server", default=os.environ.get("BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="rf_bench_expand")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with scratch_database(f"{args.server}/postgres", args.database, keep=args.keep) as url:
        django_setup(url)
        from django.core.management import call_command
        from django.db import connection

        from rewardtrain.models import Comparison
        from rewardtrain.services.comparisons import comparisons_expand

        try:
            call_command("migrate", verbosity=0)
            started = time.perf_counter()
            load_rankings(args.rankings, args.k, args.raters, args.seed)
            print(f"loaded {args.rankings:,} rankings of K={args.k} with COPY in {time.perf_counter() - started:.1f} s")
            expected = args.rankings * comb(args.k, 2)

            subset = list(range(1, args.naive_rankings + 1))
            started = time.perf_counter()
            naive_rows = naive_expand(subset)
            naive_seconds = time.perf_counter() - started
            naive_rate = naive_rows / naive_seconds
            Comparison.objects.all().delete()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE rewardtrain_comparison")
                # Flush the loaded data now, so the timing below is the expansion's own writing.
                cursor.execute("CHECKPOINT")
            print(f"naive ORM loop:  {naive_rows:,} comparisons in {naive_seconds:.2f} s = {naive_rate:,.0f}/s")

            started = time.perf_counter()
            inserted = comparisons_expand()
            seconds = time.perf_counter() - started
            rate = inserted / seconds
            assert inserted == expected, (inserted, expected)
            print(f"set-based SQL:   {inserted:,} comparisons in {seconds:.2f} s = {rate:,.0f}/s")

            started = time.perf_counter()
            again = comparisons_expand()
            print(f"second run:      {again} new comparisons in {time.perf_counter() - started:.3f} s (idempotent)")
            print(f"speed-up: {rate / naive_rate:,.0f}x")
            print(f"goal: {expected:,} comparisons under 10 s -> {'PASS' if seconds < 10 else 'FAIL'}")
        finally:
            connection.close()


if __name__ == "__main__":
    main()
