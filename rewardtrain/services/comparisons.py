"""Expanding rankings into pairwise comparisons, in one set-based SQL statement.

A ranking of K completions gives C(K, 2) rows: one per pair in different groups (chosen above
rejected) and one tie row per pair inside a tie group. The statement self-joins
``annotate_rankingentry`` on the ranking:

- ``e1.rank < e2.rank`` -> a strict pair, ``rank_gap = e2.rank - e1.rank``;
- ``e1.rank = e2.rank AND e1.completion_id < e2.completion_id`` -> a tie row.

How it stays correct when it runs often and in parallel:

1. **Incremental.** Only rankings with no comparison yet are read (an anti-join on the unique
   index's first column). Every ranking has K >= 2 and so at least one row, so "has a row" means
   "expanded". A watermark on ranking ids would be wrong here: ids are handed out before commit,
   so a lower id can commit after a higher one.
2. **Concurrent workers.** On PostgreSQL a transaction-level advisory lock serialises expansions:
   the second worker waits, and its statement (READ COMMITTED: a snapshot taken after the lock was
   granted) sees the first one's rows and finds nothing left to do. SQLite serialises writers by
   itself (``BEGIN IMMEDIATE``).
3. **Idempotent.** Because of 1 and 2 the statement never meets a row that exists, so it needs no
   ``ON CONFLICT DO NOTHING`` (which cost 30% of a million-row expansion here: a speculative insert
   per row). ``UNIQUE (ranking, chosen, rejected)`` stays the guarantee: were a duplicate ever
   attempted, the statement would fail whole and write nothing, never a second copy.
4. **Complete rankings only.** A ranking and its entries are written in one transaction
   (``ranking_record``), so a committed ranking is always seen with all its entries.

Example::

    from rewardtrain.services.comparisons import comparisons_expand

    comparisons_expand()                      # every project
    comparisons_expand(project_id=3)          # one project
    comparisons_expand(ranking_ids=[41, 42])  # just these (the after-submit hook)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from django.db import connection, transaction

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key: "rfcmp" in ASCII, fixed so every worker agrees on it.
EXPANSION_LOCK_KEY = 0x7266636D70

# INSERT comes first (the CTE inside it): Python's sqlite3 reports rowcount only for statements that
# start with INSERT.
EXPAND_SQL = """
INSERT INTO rewardtrain_comparison
    (project_id, prompt_id, ranking_id, annotator_id, chosen_id, rejected_id,
     chosen_rank, rank_gap, weight, is_tie, submitted_at)
WITH todo AS (
    SELECT r.id, r.prompt_id, r.annotator_id, r.submitted_at, p.project_id
    FROM annotate_ranking r
    JOIN annotate_prompt p ON p.id = r.prompt_id
    WHERE NOT EXISTS (SELECT 1 FROM rewardtrain_comparison c WHERE c.ranking_id = r.id)
      {filters}
),
sizes AS (
    SELECT e.ranking_id, 2.0 / (COUNT(*) * (COUNT(*) - 1)) AS weight
    FROM annotate_rankingentry e
    JOIN todo ON todo.id = e.ranking_id
    GROUP BY e.ranking_id
)
SELECT todo.project_id, todo.prompt_id, todo.id, todo.annotator_id, e1.completion_id, e2.completion_id,
       e1.rank, e2.rank - e1.rank, sizes.weight, e1.rank = e2.rank, todo.submitted_at
FROM todo
JOIN sizes ON sizes.ranking_id = todo.id
JOIN annotate_rankingentry e1 ON e1.ranking_id = todo.id
JOIN annotate_rankingentry e2 ON e2.ranking_id = todo.id
WHERE e1.rank < e2.rank OR (e1.rank = e2.rank AND e1.completion_id < e2.completion_id)
"""


def comparisons_expand(*, project_id: int | None = None, ranking_ids: Sequence[int] | None = None) -> int:
    """Write the comparisons of every ranking not expanded yet; return how many rows were inserted.

    ``project_id`` and ``ranking_ids`` narrow the rankings looked at; without them, all projects.
    """
    filters: list[str] = []
    params: list[int] = []
    if project_id is not None:
        filters.append("AND p.project_id = %s")
        params.append(project_id)
    if ranking_ids is not None:
        ids = [int(ranking_id) for ranking_id in ranking_ids]
        if not ids:
            return 0
        filters.append(f"AND r.id IN ({', '.join(['%s'] * len(ids))})")
        params.extend(ids)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EXPANSION_LOCK_KEY])
            # The planner's cost for a big self-join triggers JIT, which adds a second for nothing here.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(EXPAND_SQL.format(filters=" ".join(filters)), params)
        inserted = max(cursor.rowcount, 0)
    if inserted:
        logger.info("expanded %d comparisons in %.2f s", inserted, time.perf_counter() - started)
    return inserted
