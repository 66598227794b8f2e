"""What a claim costs the database with and without gold mixing: EXPLAIN ANALYZE of the claim statements.

Creates its own database (``rf_bench_claim_gold``, dropped at the end), migrates it, loads one
project of ``--prompts`` prompts (every ``--gold-every``-th a gold prompt) and ``--annotators``
annotators who each already ranked the first ``--history`` prompts, then runs each statement
``--runs`` times under EXPLAIN ANALYZE, rolled back each time so every run claims the same prompt:

1. ``TASK_NEXT_POSTGRESQL_SQL`` of a project at gold_rate 0 (what ``tasks/next`` sends);
2. ``CLAIM_GOLD_POSTGRESQL_SQL`` at ``--gold-rate`` (the claim under a gold rate), where the code has it,
   for a caller with a gold task due, and for a second caller who already had every gold prompt.

Prints the median and 90th percentile of PostgreSQL's execution time and, with ``--plans``, the
plans. Run it in a worktree of an older commit to compare (it only needs the first statement there)::

    mkdir -p var && flock var/bench.lock .venv/bin/python bench/claim_gold.py
    .venv/bin/python bench/claim_gold.py --prompts 2000 --runs 10 --plans     # quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from scratch import django_setup, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load(args: argparse.Namespace):
    """The project (gold_rate 0), the prompts, and each annotator's ranked history; the second annotator
    had every gold prompt too. Returns (project, the first annotator, the second)."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from annotate.models import Assignment, Completion, Project, Prompt

    annotators = User.objects.bulk_create(User(username=f"annotator{i}") for i in range(args.annotators))
    project = Project.objects.create(name="Claim bench", rankings_per_prompt=3, min_completions=2)
    project.annotators.add(*annotators)
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, text=f"Prompt {i}", gold_order=[[0]] if i % args.gold_every == 0 else None)
        for i in range(args.prompts)
    )
    Completion.objects.bulk_create(
        Completion(prompt=prompt, text=f"Reply {j}", position=j) for prompt in prompts for j in range(4)
    )
    now = timezone.now()
    history = prompts[: args.history]
    Assignment.objects.bulk_create(
        Assignment(prompt=p, annotator=a, state="submitted", started_at=now, expires_at=now, shown_order=[])
        for a in annotators
        for p in history
    )
    Assignment.objects.bulk_create(
        Assignment(prompt=p, annotator=annotators[1], state="submitted", started_at=now, expires_at=now, shown_order=[])
        for p in prompts[args.history :]
        if p.gold_order is not None
    )
    Prompt.objects.filter(pk__in=[p.pk for p in history]).update(ranking_count=len(annotators))
    return project, annotators[0], annotators[1]


def explain(sql: str, params: dict, runs: int, plans: bool) -> tuple[list[float], str]:
    """Execution times (ms) of ``runs`` EXPLAIN ANALYZE runs, each rolled back, and the last plan."""
    from django.db import connection, transaction

    times, plan = [], ""
    with transaction.atomic(), connection.cursor() as cursor:
        for _ in range(runs + 5):  # the first five warm the caches and are not counted
            savepoint = transaction.savepoint()
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            result = cursor.fetchone()[0]
            times.append((result if isinstance(result, list) else json.loads(result))[0]["Execution Time"])
            transaction.savepoint_rollback(savepoint)
        if plans:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            transaction.set_rollback(True)
    return times[5:], plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--prompts", type=int, default=5000)
    parser.add_argument("--gold-every", type=int, default=100, help="every n-th prompt is gold")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--history", type=int, default=1000, help="prompts every annotator already ranked")
    parser.add_argument("--gold-rate", type=float, default=0.25)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--plans", action="store_true", help="print the plans too")
    args = parser.parse_args()

    with scratch_database(args.database_url, "rf_bench_claim_gold") as url:
        django_setup(url)
        from django.core.management import call_command
        from django.db import connection
        from django.utils import timezone

        from annotate.services import tasks

        call_command("migrate", verbosity=0)
        project, caller, had_all_gold = load(args)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        now = timezone.now()
        params = {"project": project.pk, "user": caller.pk, "staff": False, "annotator": caller.pk, "now": now}
        statements = [("task_next, gold_rate 0", tasks.TASK_NEXT_POSTGRESQL_SQL, params)]
        if hasattr(tasks, "CLAIM_GOLD_POSTGRESQL_SQL"):
            gold = dict(params, wanted=3, gold_rate=args.gold_rate, shuffle=True, expires=now)
            statements.append((f"gold claim, gold_rate {args.gold_rate}", tasks.CLAIM_GOLD_POSTGRESQL_SQL, gold))
            gold = dict(gold, user=had_all_gold.pk, annotator=had_all_gold.pk)
            statements.append(("gold claim, no gold prompt left", tasks.CLAIM_GOLD_POSTGRESQL_SQL, gold))
        for name, sql, values in statements:
            times, plan = explain(sql, values, args.runs, args.plans)
            ordered = sorted(times)
            p90 = ordered[int(0.9 * (len(ordered) - 1))]
            print(f"{name}: median {statistics.median(times):.3f} ms, p90 {p90:.3f} ms over {len(times)} runs")
            if plan:
                print(plan)
        connection.close()


if __name__ == "__main__":
    main()
