"""Handing out tasks (assignments) and taking back rankings and skips.

    task = assignment_claim(project=project, annotator=user)          # None: nothing left for user
    ranking, created = ranking_submit(
        assignment_id=task.assignment.pk, annotator=user, order=[[12], [14, 15], [13]], seconds=41.5
    )

How a task is claimed, safely with many clients at once (assignment_claim):

1. A caller with an open assignment in the project gets it back (a reload, a second tab).
   One that has run out of time is released first, so its prompt goes back to the pool
   (and may come back to the same caller: its expired row is reopened, not duplicated).
2. Otherwise, in one transaction, pick the prompt with the fewest rankings, then fewest open
   assignments, then the highest ``claim_priority`` (the project's active-learning strategy; unset
   under coverage, which then orders by import), whose rankings plus open assignments are fewer than the project wants
   and that the caller has not been given before (ranked, skipped or holding). On
   PostgreSQL the row is taken with ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED``: concurrent
   callers skip a prompt another caller is claiming instead of queueing behind it, and a
   row changed since the snapshot is re-checked against the WHERE clause once locked. On
   SQLite every write transaction starts with BEGIN IMMEDIATE, so claims run one at a time.
   Gold (``Project.gold_rate`` > 0): first, when the caller's share of gold tasks in the project
   would fall below the rate (gold < rate x (tasks + 1), expired tasks not counted), the gold prompt
   with the fewest rankings, then open assignments, that the caller has not held, with no
   ``rankings_per_prompt`` cap (everyone ranks each gold prompt once); the queue above then leaves
   gold prompts out. At a rate of 0 gold prompts are ordinary prompts, and the claim runs today's
   statements, with no gold branch at all.
3. Create (or reopen) the caller's assignment with the completions shuffled, and add one
   to the prompt's ``open_assignment_count`` while the row is still locked.
   On PostgreSQL, ``task_next`` is one prepared statement (``TASK_NEXT_POSTGRESQL_SQL``): the
   permission check, step 1's look-up and, when the caller holds nothing, steps 2 and 3. A
   submit is one too in the common case: ``ranking_record_if_open``, whose conditional UPDATE
   only closes an assignment that is still the caller's, open, unexpired and showed exactly the
   completions ranked (anything else goes to the locked path, which says what is wrong).

Every state change of an assignment moves the prompt's counters in the same transaction:
claim +1 open; submit -1 open +1 ranking (in ``ranking_record``); skip and expiry -1 open.
``prompt_counters_rebuild`` recomputes them from the rows for writers that bypass this.

Expired assignments are released in bulk by ``assignments_expire``: whenever the pool looks
empty to a caller, and otherwise at most every ``EXPIRY_SWEEP_SECONDS`` per process, so the
common path costs no extra query. Until released, a stale assignment still holds its slot,
which errs on the side of never over-assigning a prompt.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404
from django.utils import timezone

from annotate.db import fetch_one, model_loaded
from annotate.models import Assignment, Completion, Project, Prompt, Ranking
from annotate.selectors import project_rankings_left_forget_one
from annotate.services.rankings import (
    flags_validate,
    order_groups,
    order_validate,
    ranking_record,
    ranking_record_if_open,
)
from annotate.signals import ranking_submitted

EXPIRY_SWEEP_SECONDS = 15.0
MAX_COMMENT_CHARS = 10_000
MAX_SKIP_REASON_CHARS = 1_000
MAX_SECONDS = 7 * 24 * 3600.0  # anything longer is a clock problem, not time on task

_last_sweep = 0.0  # time.monotonic() of this process's last expiry sweep


# The hot statements of the task loop are written out: the ORM spends more CPU compiling
# them than the database spends running them. Plain SQL that PostgreSQL and SQLite share.
OWN_OPEN_SQL = """
    SELECT a.* FROM annotate_assignment a JOIN annotate_prompt p ON p.id = a.prompt_id
    WHERE a.annotator_id = %s AND a.state = 'open' AND p.project_id = %s
    ORDER BY a.started_at LIMIT 1
"""
# Whether the caller has held the prompt p (ranked, skipped or holding it). "LIMIT 1 OFFSET 0" keeps
# PostgreSQL from turning NOT EXISTS into an anti-join, which reads all of the caller's assignments on
# every claim (a cost that grows with their history); as a subquery it is one probe of
# one_assignment_per_prompt_and_annotator for each prompt the queue walks past, usually one.
NOT_HELD_SQL = """NOT EXISTS (SELECT 1 FROM annotate_assignment a
                       WHERE a.prompt_id = p.id AND a.annotator_id = %(annotator)s AND a.state <> 'expired'
                       LIMIT 1 OFFSET 0)"""
# The queue (index prompt_claim_order): fewest rankings, then fewest open assignments, then the
# project's active-learning priority (rewardtrain.services.acquisition; NULL, so no order, under
# coverage and for prompts imported since the last refresh, which therefore come first), among
# prompts with room left ({wanted}: the project's rankings per prompt) that the caller has not
# held, ranked or skipped. {not_gold}: under a gold rate gold prompts are not in it (they come
# through GOLD_HEAD_SQL); at a rate of 0 they are ordinary prompts, and the statements run then have
# no such condition.
QUEUE_HEAD_SQL = f"""
    FROM annotate_prompt p
    WHERE p.project_id = %(project)s
      AND p.ranking_count + p.open_assignment_count < {{wanted}}{{not_gold}}
      AND {NOT_HELD_SQL}
    ORDER BY p.ranking_count, p.open_assignment_count, p.claim_priority DESC NULLS FIRST, p.id
    LIMIT 1
"""
# Gold (Project.gold_rate > 0, docs/annotation.md "Gold prompts"): a gold task is due when the caller's
# gold share of their tasks in the project (open, ranked or skipped; expired ones do not count) would
# otherwise fall below the rate: gold < rate x (tasks + 1). The small margin keeps a product like
# 0.3 x 10 = 3.0000000000000004 from making a fourth gold task due. Counting reads the caller's
# assignments (the states spelled out, so the (annotator, state) index serves it); the subquery refers
# to no row of p, so PostgreSQL runs it once, before the scan.
GOLD_DUE_SQL = """(SELECT COALESCE(SUM(CASE WHEN g.gold_order IS NULL THEN 0 ELSE 1 END), 0)
                   < CAST(%(gold_rate)s AS DOUBLE PRECISION) * (COUNT(*) + 1) - 1e-9
             FROM annotate_assignment a JOIN annotate_prompt g ON g.id = a.prompt_id
             WHERE a.annotator_id = %(annotator)s AND a.state IN ('open', 'submitted', 'skipped')
               AND g.project_id = %(project)s)"""
# The gold queue (partial index prompt_gold_claim_order), when gold is due: the project's gold prompt
# with the fewest rankings, then open assignments, that the caller has not held. No rankings_per_prompt
# cap: every annotator may rank every gold prompt once, which is what scores them all on it.
# GOLD_LEFT_SQL, whether the caller has a gold prompt left, goes before the count (PostgreSQL runs the
# two once, in that order): a caller who had every gold prompt, the usual case late in their work, then
# pays a walk over the few gold prompts instead of a count of their whole history.
GOLD_LEFT_SQL = f"""EXISTS (SELECT 1 FROM annotate_prompt p
                     WHERE p.project_id = %(project)s AND p.gold_order IS NOT NULL AND {NOT_HELD_SQL})"""
GOLD_HEAD_SQL = f"""
    FROM annotate_prompt p
    WHERE p.project_id = %(project)s AND p.gold_order IS NOT NULL
      AND {GOLD_LEFT_SQL}
      AND {GOLD_DUE_SQL}
      AND {NOT_HELD_SQL}
    ORDER BY p.ranking_count, p.open_assignment_count, p.id
    LIMIT 1
"""
# own_expired_id is the caller's expired assignment on the prompt, reopened rather than duplicated.
CLAIMED_PROMPT_SQL = """
    SELECT p.id, p.project_id, p.text, p.context,
           (SELECT e.id FROM annotate_assignment e
             WHERE e.prompt_id = p.id AND e.annotator_id = %(annotator)s AND e.state = 'expired') AS own_expired_id
"""
CLAIM_SQL = CLAIMED_PROMPT_SQL + QUEUE_HEAD_SQL.format(
    wanted="%(wanted)s", not_gold="\n      AND (%(gold_rate)s = 0 OR p.gold_order IS NULL)"
)
CLAIM_GOLD_SQL = CLAIMED_PROMPT_SQL + GOLD_HEAD_SQL
OPEN_COUNT_ADD_SQL = "UPDATE annotate_prompt SET open_assignment_count = open_assignment_count + 1 WHERE id = %s"


def _claim_postgresql_sql(*, wanted: str, shuffle: str, expires: str, gold: bool = False) -> str:
    """PostgreSQL: steps 2 and 3 of the claim as CTEs of one statement: lock the first free prompt
    of the queue (SKIP LOCKED), shuffle its completions, insert the caller's assignment (or reopen
    their expired one), count it on the prompt. The statement ends with a SELECT from ``opened``
    (the assignment), ``claimed`` (the prompt) and ``shown`` (its completions).

    ``gold``: the statement for a project with a gold rate (``%(gold_rate)s``): a gold prompt if one
    is due (``gold_claimed``, SKIP LOCKED too), else the first free prompt of the queue without the
    gold prompts. Projects without gold run the statement without, so it costs them nothing."""
    lock = "FOR NO KEY UPDATE OF p SKIP LOCKED"
    if not gold:
        claimed = f"""
    claimed AS (
        SELECT p.id, p.text, p.context {QUEUE_HEAD_SQL.format(wanted=wanted, not_gold="")}
        {lock}"""
    else:
        not_gold = "\n      AND p.gold_order IS NULL AND NOT EXISTS (SELECT 1 FROM gold_claimed)"
        claimed = f"""
    gold_claimed AS (
        SELECT p.id, p.text, p.context {GOLD_HEAD_SQL}
        {lock}
    ), ordinary_claimed AS (
        SELECT p.id, p.text, p.context {QUEUE_HEAD_SQL.format(wanted=wanted, not_gold=not_gold)}
        {lock}
    ), claimed AS (
        SELECT * FROM gold_claimed UNION ALL SELECT * FROM ordinary_claimed"""
    return (
        claimed
        + f"""
    ), shown AS (
        SELECT c.id, c.text,
               row_number() OVER (ORDER BY CASE WHEN {shuffle} THEN random() ELSE 0 END, c.position, c.id) AS n
        FROM annotate_completion c JOIN claimed ON c.prompt_id = claimed.id
    ), opened AS (
        INSERT INTO annotate_assignment AS a
               (prompt_id, annotator_id, state, started_at, expires_at, finished_at, shown_order, skip_reason)
        SELECT claimed.id, %(annotator)s::int, 'open', %(now)s::timestamptz, {expires}, NULL,
               COALESCE((SELECT jsonb_agg(shown.id ORDER BY shown.n) FROM shown), '[]'::jsonb), ''
        FROM claimed
        ON CONFLICT ON CONSTRAINT one_assignment_per_prompt_and_annotator DO UPDATE
           SET state = 'open', started_at = EXCLUDED.started_at, expires_at = EXCLUDED.expires_at,
               finished_at = NULL, shown_order = EXCLUDED.shown_order, skip_reason = ''
           WHERE a.state = 'expired'
        RETURNING a.id, a.prompt_id, a.expires_at
    ), counted AS (
        UPDATE annotate_prompt SET open_assignment_count = open_assignment_count + 1
        FROM opened WHERE annotate_prompt.id = opened.prompt_id
    )"""
    )


# The claimed task's columns: assignment id, expiry, prompt id, text, context, completions (JSON, shown order).
CLAIMED_COLUMNS_SQL = """opened.id, opened.expires_at, claimed.id, claimed.text, claimed.context::text,
           (SELECT json_agg(json_build_object('id', shown.id, 'text', shown.text) ORDER BY shown.n) FROM shown)::text"""
CLAIM_POSTGRESQL_SQL, CLAIM_GOLD_POSTGRESQL_SQL = (
    "WITH"
    + _claim_postgresql_sql(
        wanted="%(wanted)s", shuffle="%(shuffle)s::boolean", expires="%(expires)s::timestamptz", gold=gold
    )
    + f"""
    SELECT {CLAIMED_COLUMNS_SQL}
    FROM opened JOIN claimed ON claimed.id = opened.prompt_id
"""
    for gold in (False, True)
)
# The Project fields the task loop reads, in the model's field order as Model.from_db wants
# them; the other fields are left deferred.
PROJECT_FIELDS = tuple(
    field.attname
    for field in Project._meta.concrete_fields
    if field.attname
    in {
        "id",
        "instructions",
        "allow_ties",
        "rankings_per_prompt",
        "shuffle_completions",
        "assignment_minutes",
        "gold_rate",
    }
)
# The project if the caller may work on it (staff: any; annotators: theirs, unless archived), with
# the caller's open assignment in it if they have one: the permission check and step 1 of the claim
# in one statement.
PROJECT_FOR_CALLER_SQL = f"""
    SELECT {", ".join(f"project.{field}" for field in PROJECT_FIELDS)},
           (SELECT a.id FROM annotate_assignment a JOIN annotate_prompt p ON p.id = a.prompt_id
             WHERE a.annotator_id = %(user)s AND a.state = 'open' AND p.project_id = project.id
             ORDER BY a.started_at LIMIT 1) AS own_open_id
    FROM annotate_project project
    WHERE project.id = %(project)s
      AND (%(staff)s OR (project.archived_at IS NULL
                         AND EXISTS (SELECT 1 FROM annotate_project_annotators m
                                      WHERE m.project_id = project.id AND m.user_id = %(user)s)))
"""
# PostgreSQL: task_next as one statement (one round trip, and in autocommit one transaction). The
# project row is there only if the caller may work on it; the claim runs only if the caller holds
# no open assignment in it and the project has no gold rate (the project's rankings per prompt read
# as NULL otherwise, and the queue's "< NULL" lets no prompt through; task_next then claims with
# CLAIM_GOLD_POSTGRESQL_SQL); its settings (shuffle, minutes) come from the same row.
TASK_NEXT_POSTGRESQL_SQL = (
    f"WITH project AS ({PROJECT_FOR_CALLER_SQL}),"
    + _claim_postgresql_sql(
        wanted="(SELECT rankings_per_prompt FROM project WHERE own_open_id IS NULL AND gold_rate = 0)",
        shuffle="(SELECT shuffle_completions FROM project)",
        expires="%(now)s::timestamptz + (SELECT assignment_minutes FROM project) * interval '1 minute'",
    )
    + f"""
    SELECT project.*, {CLAIMED_COLUMNS_SQL}
    FROM project LEFT JOIN (opened JOIN claimed ON claimed.id = opened.prompt_id) ON true
"""
)
# The caller's assignment for submit and skip, locked (PostgreSQL) until the transaction ends,
# with its project's tie rule and its project id.
ASSIGNMENT_OF_CALLER_SQL = """
    SELECT a.*, project.allow_ties AS allow_ties, p.project_id AS project_id
    FROM annotate_assignment a
    JOIN annotate_prompt p ON p.id = a.prompt_id
    JOIN annotate_project project ON project.id = p.project_id
    WHERE a.id = %(assignment)s
"""


class RankingConflict(Exception):
    """The assignment already has a different ranking (HTTP 409)."""


@dataclass(frozen=True)
class Task:
    """An open assignment with what the annotator needs to rank it."""

    assignment: Assignment
    prompt: Prompt
    completions: list[Completion]  # in the assignment's shown order


def task_next(*, project_id: int, annotator: AbstractBaseUser) -> tuple[Project, Task | None]:
    """``assignment_claim`` for a project id: (the project, the caller's task or None).

    Raises Http404 if the caller may not work on the project (staff may work on any), as
    ``annotate.api.permissions.project_for_request`` does. On PostgreSQL the check, the look-up
    of the caller's open task and the claim of a new one are one statement (two under a gold rate:
    the claim is a statement of its own, so that projects without gold never pay for it).
    """
    params = {"project": project_id, "user": annotator.pk, "staff": bool(annotator.is_staff)}
    if connection.vendor != "postgresql":
        row = fetch_one(name="rankforge_project_for_caller", sql=PROJECT_FOR_CALLER_SQL, params=params)
        if row is None:
            raise Http404("No Project matches the given query.")
        project, own_open_id = _project_of_row(row)
        return project, _claim(project=project, annotator=annotator, own=_open_assignment(own_open_id))

    _expiry_sweep_if_due()
    now = timezone.now()
    params.update(annotator=annotator.pk, now=now)
    row = fetch_one(name="rankforge_task_next", sql=TASK_NEXT_POSTGRESQL_SQL, params=params)
    if row is None:
        raise Http404("No Project matches the given query.")
    project, own_open_id = _project_of_row(row)
    if own_open_id is not None:  # nothing was claimed: the caller's open task comes back (or expires)
        return project, _claim(project=project, annotator=annotator, own=_open_assignment(own_open_id))
    claimed = row[len(PROJECT_FIELDS) + 1 :]
    if claimed[0] is not None:
        return project, _claimed_task(project=project, annotator=annotator, now=now, row=claimed)
    if project.gold_rate > 0:  # the statement claims nothing under a gold rate: a second one does
        return project, _claim(project=project, annotator=annotator, own=None)
    if assignments_expire():  # the pool looked empty: release stale tasks and look again
        return project, _claim_new(project=project, annotator=annotator)
    return project, None


def _project_of_row(row: tuple) -> tuple[Project, int | None]:
    """(the project, the caller's open assignment id or None) from a PROJECT_FOR_CALLER_SQL row."""
    project = Project.from_db(connection.alias, PROJECT_FIELDS, row[: len(PROJECT_FIELDS)])
    return project, row[len(PROJECT_FIELDS)]


def _open_assignment(assignment_id: int | None) -> Assignment | None:
    return None if assignment_id is None else Assignment.objects.filter(pk=assignment_id).first()


def assignment_claim(*, project: Project, annotator: AbstractBaseUser) -> Task | None:
    """The caller's open task in ``project``, or a newly claimed one; None when none is left."""
    own = next(iter(Assignment.objects.raw(OWN_OPEN_SQL, [annotator.pk, project.pk])), None)
    return _claim(project=project, annotator=annotator, own=own)


def _claim(*, project: Project, annotator: AbstractBaseUser, own: Assignment | None) -> Task | None:
    if own is not None and own.state == Assignment.State.OPEN:
        if own.expires_at > timezone.now():
            prompt = Prompt.objects.only("id", "project_id", "text", "context").get(pk=own.prompt_id)
            return Task(assignment=own, prompt=prompt, completions=completions_in_order(own))
        assignments_expire(assignment_ids=[own.pk])

    _expiry_sweep_if_due()
    task = _claim_new(project=project, annotator=annotator)
    if task is None and assignments_expire():  # the pool looked empty: release stale tasks and look again
        task = _claim_new(project=project, annotator=annotator)
    return task


def _expiry_sweep_if_due() -> None:
    """Release expired assignments if this process has not done so for EXPIRY_SWEEP_SECONDS."""
    global _last_sweep
    if time.monotonic() - _last_sweep > EXPIRY_SWEEP_SECONDS:
        _last_sweep = time.monotonic()
        assignments_expire()


def _claim_new(*, project: Project, annotator: AbstractBaseUser) -> Task | None:
    if connection.vendor == "postgresql":
        return _claim_new_postgresql(project=project, annotator=annotator)
    # NO KEY UPDATE: enough to change the counters, and it does not block the foreign-key
    # checks of rankings being submitted on the same prompt meanwhile.
    lock = " FOR NO KEY UPDATE OF p SKIP LOCKED" if connection.features.has_select_for_no_key_update else ""
    params = {
        "annotator": annotator.pk,
        "project": project.pk,
        "wanted": project.rankings_per_prompt,
        "gold_rate": project.gold_rate,
    }
    with transaction.atomic():
        prompt = None
        if project.gold_rate > 0:  # a gold prompt if one is due, else the ordinary queue
            prompt = next(iter(Prompt.objects.raw(CLAIM_GOLD_SQL + lock, params)), None)
        if prompt is None:
            prompt = next(iter(Prompt.objects.raw(CLAIM_SQL + lock, params)), None)
        if prompt is None:
            return None
        completions = [
            Completion(pk=pk, prompt_id=prompt.pk, text=text)
            for pk, text in Completion.objects.filter(prompt_id=prompt.pk).values_list("pk", "text")
        ]
        if project.shuffle_completions:
            random.shuffle(completions)
        now = timezone.now()
        fields = {
            "state": Assignment.State.OPEN,
            "started_at": now,
            "expires_at": now + timedelta(minutes=project.assignment_minutes),
            "finished_at": None,
            "shown_order": [completion.pk for completion in completions],
            "skip_reason": "",
        }
        if prompt.own_expired_id is not None:
            Assignment.objects.filter(pk=prompt.own_expired_id).update(**fields)
            assignment = Assignment(pk=prompt.own_expired_id, prompt=prompt, annotator=annotator, **fields)
        else:
            assignment = Assignment.objects.create(prompt=prompt, annotator=annotator, **fields)
        with connection.cursor() as cursor:
            cursor.execute(OPEN_COUNT_ADD_SQL, [prompt.pk])
    return Task(assignment=assignment, prompt=prompt, completions=completions)


def _claim_new_postgresql(*, project: Project, annotator: AbstractBaseUser) -> Task | None:
    now = timezone.now()
    params = {
        "annotator": annotator.pk,
        "project": project.pk,
        "wanted": project.rankings_per_prompt,
        "gold_rate": project.gold_rate,
        "shuffle": project.shuffle_completions,
        "now": now,
        "expires": now + timedelta(minutes=project.assignment_minutes),
    }
    if project.gold_rate > 0:
        row = fetch_one(name="rankforge_claim_gold", sql=CLAIM_GOLD_POSTGRESQL_SQL, params=params)
    else:
        row = fetch_one(name="rankforge_claim", sql=CLAIM_POSTGRESQL_SQL, params=params)
    return None if row is None else _claimed_task(project=project, annotator=annotator, now=now, row=row)


def _claimed_task(*, project: Project, annotator: AbstractBaseUser, now: datetime, row: tuple) -> Task:
    """The Task of a claim's CLAIMED_COLUMNS_SQL."""
    assignment_id, expires_at, prompt_id, text, context, completions_json = row
    prompt = model_loaded(Prompt, id=prompt_id, project_id=project.pk, text=text, context=json.loads(context))
    completions = [
        model_loaded(Completion, id=item["id"], prompt_id=prompt_id, text=item["text"])
        for item in json.loads(completions_json or "[]")
    ]
    assignment = model_loaded(
        Assignment,
        id=assignment_id,
        prompt_id=prompt_id,
        annotator_id=annotator.pk,
        state=Assignment.State.OPEN,
        started_at=now,
        expires_at=expires_at,
        finished_at=None,
        shown_order=[completion.pk for completion in completions],
        skip_reason="",
    )
    return Task(assignment=assignment, prompt=prompt, completions=completions)


def completions_in_order(assignment: Assignment) -> list[Completion]:
    """The assignment's completions in the order it showed them."""
    by_id = {c.pk: c for c in Completion.objects.filter(prompt_id=assignment.prompt_id).only("id", "prompt_id", "text")}
    shown_ids = set(assignment.shown_order)
    shown = [by_id[pk] for pk in assignment.shown_order if pk in by_id]
    # A completion added to the prompt after the assignment was made goes last.
    return shown + [completion for pk, completion in sorted(by_id.items()) if pk not in shown_ids]


def assignments_expire(*, assignment_ids: Sequence[int] | None = None, now: datetime | None = None) -> int:
    """Release open assignments whose time is up: they turn ``expired`` and free their slot.

    Rows being submitted or released by another transaction right now are skipped (they are
    locked), so two sweeps never release the same assignment twice. Returns how many it released.
    """
    now = now or timezone.now()
    with transaction.atomic():
        stale = Assignment.objects.select_for_update(skip_locked=True).filter(
            state=Assignment.State.OPEN, expires_at__lte=now
        )
        if assignment_ids is not None:
            stale = stale.filter(pk__in=assignment_ids)
        rows = list(stale.order_by("pk").values_list("pk", "prompt_id")[:1000])
        if not rows:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(state=Assignment.State.EXPIRED, finished_at=now)
        for prompt_id, released in sorted(Counter(prompt_id for _, prompt_id in rows).items()):
            Prompt.objects.filter(pk=prompt_id).update(
                open_assignment_count=Greatest(F("open_assignment_count") - released, Value(0))
            )
    return len(rows)


def _assignment_of_caller(*, assignment_id: int, annotator: AbstractBaseUser) -> Assignment:
    """The assignment, locked until the transaction ends; 404 if missing or not the caller's
    (as everywhere in the API, ids do not reveal what exists)."""
    lock = " FOR UPDATE OF a" if connection.features.has_select_for_update_of else ""
    params = {"assignment": assignment_id}
    assignment = next(iter(Assignment.objects.raw(ASSIGNMENT_OF_CALLER_SQL + lock, params)), None)
    if assignment is None or assignment.annotator_id != annotator.pk:
        raise Http404("No such task of yours.")
    return assignment


def _refuse_if_closed(assignment: Assignment) -> None:
    if assignment.state == Assignment.State.SKIPPED:
        raise ValidationError("This task was skipped; it can no longer be ranked. Ask for the next task.")
    if assignment.state == Assignment.State.EXPIRED or assignment.expires_at <= timezone.now():
        raise ValidationError(
            f"This task expired at {assignment.expires_at:%Y-%m-%d %H:%M} UTC and went back to the pool. "
            "Ask for the next task."
        )


def _same_order(stored: list[list[int]], sent: object) -> bool:
    """Whether ``sent`` is the stored order (a tie's members in any order)."""
    if not isinstance(sent, list) or len(sent) != len(stored):
        return False
    normalised = [group if isinstance(group, list) else [group] for group in sent]
    return all(sorted(map(str, a)) == sorted(map(str, b)) for a, b in zip(stored, normalised, strict=True))


def ranking_submit(
    *,
    assignment_id: int,
    annotator: AbstractBaseUser,
    order: object,
    flags: object = None,
    comment: str = "",
    seconds: float | None = None,
) -> tuple[Ranking, bool]:
    """Record the caller's ranking of their open task. Returns (ranking, created).

    Sending the same ranking again (a double click, a retry) returns the stored one with
    created=False; a different ranking for a ranked task raises RankingConflict. Anything
    invalid raises ValidationError naming the problem, and nothing is written.
    On commit, ``annotate.signals.ranking_submitted`` is sent with ``ranking_id``.
    """
    if connection.vendor == "postgresql":
        submitted = _ranking_submit_open(
            assignment_id=assignment_id, annotator=annotator, order=order, flags=flags, comment=comment, seconds=seconds
        )
        if submitted is not None:
            return submitted, True
    with transaction.atomic():
        assignment = _assignment_of_caller(assignment_id=assignment_id, annotator=annotator)
        if assignment.state == Assignment.State.SUBMITTED:
            existing = Ranking.objects.get(assignment=assignment)
            same = (
                _same_order(existing.order, order)
                and (flags_validate(flags=flags, completion_ids=assignment.shown_order) == existing.flags)
                and (comment or "").strip() == existing.comment
            )
            if not same:
                raise RankingConflict("This task already has a different ranking; a ranking cannot be changed.")
            return existing, False
        _refuse_if_closed(assignment)
        clean_order, clean_flags, comment = _submission_clean(
            assignment=assignment, order=order, flags=flags, comment=comment, seconds=seconds
        )
        ranking = ranking_record(
            assignment=assignment, order=clean_order, flags=clean_flags, comment=comment, seconds=seconds
        )
        transaction.on_commit(lambda: _after_submit(ranking_id=ranking.pk, project_id=assignment.project_id))
    return ranking, True


def _submission_clean(
    *, assignment: Assignment, order: object, flags: object, comment: str | None, seconds: float | None
) -> tuple[list[list[int]], dict[str, list[str]], str]:
    """(order, flags, comment) checked against the assignment; ValidationError naming the problem."""
    clean_order = order_validate(order=order, completion_ids=assignment.shown_order, allow_ties=assignment.allow_ties)
    clean_flags = flags_validate(flags=flags, completion_ids=assignment.shown_order)
    return clean_order, clean_flags, _comment_and_seconds_clean(comment=comment, seconds=seconds)


def _comment_and_seconds_clean(*, comment: str | None, seconds: float | None) -> str:
    """The stripped comment; ValidationError if it or ``seconds`` is out of bounds."""
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise ValidationError({"comment": f"is longer than {MAX_COMMENT_CHARS} characters"})
    if seconds is not None and not 0 <= seconds <= MAX_SECONDS:
        raise ValidationError({"seconds": f"must be between 0 and {MAX_SECONDS:.0f}"})
    return comment


def _ranking_submit_open(
    *,
    assignment_id: int,
    annotator: AbstractBaseUser,
    order: object,
    flags: object,
    comment: str | None,
    seconds: float | None,
) -> Ranking | None:
    """PostgreSQL, the common case: a well-formed ranking of the caller's open, unexpired task,
    checked against the task and recorded in one statement (``ranking_record_if_open``) without
    a read or a lock beforehand. None, with nothing written, for anything else (not the caller's
    task, not open, another ranking, a wrong order or flag): ``ranking_submit``'s locked path then
    answers (the stored ranking again, 404, 409 or a 400 naming the problem), as it would have
    from the start.
    """
    groups = order_groups(order)
    if groups is None:
        return None
    ranked_ids = [completion_id for group in groups for completion_id in group]
    try:
        clean_flags = flags_validate(flags=flags, completion_ids=ranked_ids)
        comment = _comment_and_seconds_clean(comment=comment, seconds=seconds)
    except ValidationError:
        return None
    recorded = ranking_record_if_open(
        assignment_id=assignment_id,
        annotator_id=annotator.pk,
        order=groups,
        flags=clean_flags,
        comment=comment,
        seconds=seconds,
        now=timezone.now(),
    )
    if recorded is None:
        return None
    ranking, project_id = recorded
    transaction.on_commit(lambda: _after_submit(ranking_id=ranking.pk, project_id=project_id))
    return ranking


def _after_submit(*, ranking_id: int, project_id: int) -> None:
    project_rankings_left_forget_one(project_id=project_id)
    ranking_submitted.send(sender=Ranking, ranking_id=ranking_id)


def assignment_skip(*, assignment_id: int, annotator: AbstractBaseUser, reason: str = "") -> Assignment:
    """Give the task back without ranking it; the caller will not get this prompt again.

    Skipping a skipped task again is a no-op; skipping a ranked one raises RankingConflict.
    """
    reason = (reason or "").strip()
    if len(reason) > MAX_SKIP_REASON_CHARS:
        raise ValidationError({"reason": f"is longer than {MAX_SKIP_REASON_CHARS} characters"})
    with transaction.atomic():
        assignment = _assignment_of_caller(assignment_id=assignment_id, annotator=annotator)
        if assignment.state == Assignment.State.SKIPPED:
            return assignment
        if assignment.state == Assignment.State.SUBMITTED:
            raise RankingConflict("This task is already ranked; it cannot be skipped.")
        _refuse_if_closed(assignment)
        assignment.state = Assignment.State.SKIPPED
        assignment.finished_at = timezone.now()
        assignment.skip_reason = reason
        assignment.save(update_fields=["state", "finished_at", "skip_reason"])
        Prompt.objects.filter(pk=assignment.prompt_id).update(
            open_assignment_count=Greatest(F("open_assignment_count") - 1, Value(0))
        )
    return assignment


def prompt_counters_rebuild(*, project: Project | None = None) -> int:
    """Recompute every prompt's ranking and open-assignment counters from the rows.

    For code that writes rankings or assignments in bulk without ``ranking_record`` or this
    module (then call it once afterwards, in the same transaction). Returns prompts updated.
    """

    def count_of(queryset):
        counted = queryset.filter(prompt=OuterRef("pk")).order_by().values("prompt").annotate(n=Count("pk"))
        return Coalesce(Subquery(counted.values("n"), output_field=IntegerField()), Value(0))

    prompts = Prompt.objects.all() if project is None else Prompt.objects.filter(project=project)
    return prompts.update(
        ranking_count=count_of(Ranking.objects.all()),
        open_assignment_count=count_of(Assignment.objects.filter(state=Assignment.State.OPEN)),
    )
