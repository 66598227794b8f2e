"""Checking and recording rankings.

``order_validate`` is the one place that decides whether an order of completion ids is a
valid ranking; ``ranking_record`` is the one place that writes a Ranking with its entries.
Both the annotator's submit and the importers go through them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate.db import MAX_DATABASE_ID, fetch_one, model_loaded
from annotate.models import FLAG_CHOICES, Assignment, Prompt, Ranking, RankingEntry


def order_validate(*, order: object, completion_ids: Sequence[int], allow_ties: bool) -> list[list[int]]:
    """Return ``order`` as groups of ints if it ranks exactly ``completion_ids``, each once.

    >>> order_validate(order=[[3], [1, 2]], completion_ids=[1, 2, 3], allow_ties=True)
    [[3], [1, 2]]
    """
    if not isinstance(order, list) or not order:
        raise ValidationError({"order": "must be a non-empty list of groups of completion ids, best first"})
    groups: list[list[int]] = []
    seen: set[int] = set()
    expected = set(completion_ids)
    for group_index, group in enumerate(order):
        if isinstance(group, int) and not isinstance(group, bool):
            group = [group]
        if not isinstance(group, list) or not group:
            raise ValidationError({"order": f"group {group_index} must be a non-empty list of completion ids"})
        if len(group) > 1 and not allow_ties:
            raise ValidationError({"order": f"group {group_index} is a tie, and this project does not allow ties"})
        clean_group = []
        for completion_id in group:
            if (
                not isinstance(completion_id, int)
                or isinstance(completion_id, bool)
                or abs(completion_id) > MAX_DATABASE_ID  # past bigint: no row has it, and SQL would fail
            ):
                raise ValidationError({"order": f"{completion_id!r} in group {group_index} is not a completion id"})
            if completion_id not in expected:
                raise ValidationError({"order": f"completion {completion_id} is not one of this task's completions"})
            if completion_id in seen:
                raise ValidationError({"order": f"completion {completion_id} appears more than once"})
            seen.add(completion_id)
            clean_group.append(completion_id)
        groups.append(clean_group)
    missing = [completion_id for completion_id in completion_ids if completion_id not in seen]
    if missing:
        raise ValidationError({"order": f"completions missing from the ranking: {', '.join(map(str, missing))}"})
    return groups


def order_groups(order: object) -> list[list[int]] | None:
    """``order`` as groups of ints if it is well formed (groups of ints, none twice), whatever
    completions it names; None otherwise. A first look for callers that will check the ids
    elsewhere, e.g. in SQL (``ranking_record_if_open``). ``order_validate`` judges it, against the
    ids the order names itself, and says what is wrong when the caller asks it properly.

    >>> order_groups([[3], 1, [2, 4]])
    [[3], [1], [2, 4]]
    """
    if not isinstance(order, list):
        return None
    named = [completion_id for group in order for completion_id in (group if isinstance(group, list) else [group])]
    try:
        return order_validate(order=order, completion_ids=named, allow_ties=True)
    except (ValidationError, TypeError):  # TypeError: an id that cannot be hashed (a list, an object)
        return None


def flags_validate(*, flags: object, completion_ids: Iterable[int]) -> dict[str, list[str]]:
    """Return ``{completion id as str: [flag, ...]}`` with only known flags on known completions."""
    if flags in (None, {}):
        return {}
    if not isinstance(flags, Mapping):
        raise ValidationError({"flags": "must be an object mapping completion ids to lists of flags"})
    allowed_ids = {str(completion_id) for completion_id in completion_ids}
    clean: dict[str, list[str]] = {}
    for key, values in flags.items():
        if str(key) not in allowed_ids:
            raise ValidationError({"flags": f"completion {key} is not one of this task's completions"})
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise ValidationError({"flags": f"flags of completion {key} must be a list of strings"})
        unknown = sorted(set(values) - set(FLAG_CHOICES))
        if unknown:
            raise ValidationError(
                {"flags": f"unknown flag {unknown[0]!r} on completion {key}; known: {', '.join(FLAG_CHOICES)}"}
            )
        if values:
            clean[str(key)] = sorted(set(values))
    return clean


@transaction.atomic(savepoint=False)  # no savepoint round trips: any failure undoes the caller's whole transaction
def ranking_record(
    *,
    assignment: Assignment,
    order: list[list[int]],
    flags: dict[str, list[str]] | None = None,
    comment: str = "",
    seconds: float | None = None,
    source: str = Ranking.Source.ANNOTATOR,
) -> Ranking:
    """Write a validated ranking and its entries, and close the assignment.

    The caller has checked ``order`` with ``order_validate`` and holds the assignment.
    """
    flags = flags or {}
    ranking = Ranking.objects.create(
        assignment=assignment,
        annotator_id=assignment.annotator_id,
        prompt_id=assignment.prompt_id,
        order=order,
        flags=flags,
        comment=comment,
        seconds=seconds,
        source=source,
    )
    RankingEntry.objects.bulk_create(
        RankingEntry(
            ranking=ranking,
            prompt_id=assignment.prompt_id,
            completion_id=completion_id,
            rank=rank,
            flags=flags.get(str(completion_id), []),
        )
        for rank, group in enumerate(order)
        for completion_id in group
    )
    was_open = assignment.state == Assignment.State.OPEN
    assignment.state = Assignment.State.SUBMITTED
    assignment.finished_at = timezone.now()
    assignment.save(update_fields=["state", "finished_at"])
    # The prompt's queue counters (see Prompt.ranking_count). Greatest() keeps an open
    # assignment created outside assignment_claim from driving the open count below zero.
    counters = {"ranking_count": F("ranking_count") + 1}
    if was_open:
        counters["open_assignment_count"] = Greatest(F("open_assignment_count") - 1, Value(0))
    Prompt.objects.filter(pk=assignment.prompt_id).update(**counters)
    return ranking


# ranking_record for an annotator's open task as one PostgreSQL statement (one round trip, and
# in autocommit one transaction): close the assignment only if it is still the caller's, open,
# unexpired, showed exactly the completions ranked (the shown ids contain the sent ones and as
# many: the sent ones are distinct) and, for an order with a tie, its project allows ties; insert
# the ranking and its entries from the row it closed; move the prompt's counters. Otherwise
# nothing at all is written.
RECORD_IF_OPEN_SQL = """
    WITH closed AS (
        UPDATE annotate_assignment a SET state = 'submitted', finished_at = %(now)s::timestamptz
        WHERE a.id = %(assignment)s::bigint AND a.annotator_id = %(annotator)s::int AND a.state = 'open'
          AND a.expires_at > %(now)s::timestamptz
          AND a.shown_order @> %(shown)s::jsonb AND jsonb_array_length(a.shown_order) = %(k)s::int
          AND (NOT %(tie)s::boolean OR EXISTS (
                SELECT 1 FROM annotate_prompt p JOIN annotate_project project ON project.id = p.project_id
                WHERE p.id = a.prompt_id AND project.allow_ties))
        RETURNING a.id, a.annotator_id, a.prompt_id
    ), ranking AS (
        INSERT INTO annotate_ranking (assignment_id, annotator_id, prompt_id, "order", flags, comment, seconds, source,
                                      submitted_at)
        SELECT id, annotator_id, prompt_id, %(order)s::jsonb, %(flags)s::jsonb, %(comment)s::text,
               %(seconds)s::float8, %(source)s::varchar, %(now)s::timestamptz
        FROM closed
        RETURNING id, prompt_id
    ), entries AS (
        INSERT INTO annotate_rankingentry (ranking_id, prompt_id, completion_id, rank, flags)
        SELECT ranking.id, ranking.prompt_id, e.completion_id, e.rank, e.flags::jsonb
        FROM ranking, unnest(%(completion_ids)s::bigint[], %(ranks)s::int[], %(entry_flags)s::text[])
                      AS e(completion_id, rank, flags)
    ), counted AS (
        UPDATE annotate_prompt
        SET ranking_count = ranking_count + 1, open_assignment_count = GREATEST(open_assignment_count - 1, 0)
        FROM closed WHERE annotate_prompt.id = closed.prompt_id
        RETURNING annotate_prompt.project_id
    )
    SELECT ranking.id, ranking.prompt_id, (SELECT project_id FROM counted) FROM ranking
"""


def ranking_record_if_open(
    *,
    assignment_id: int,
    annotator_id: int,
    order: list[list[int]],
    flags: dict[str, list[str]],
    comment: str,
    seconds: float | None,
    now: datetime,
) -> tuple[Ranking, int] | None:
    """PostgreSQL: ``ranking_record`` in one statement, if the assignment is the annotator's,
    open and unexpired at ``now``, and ``order`` (well formed: ``order_groups``) ranks exactly the
    completions it showed, with a tie only where the project allows ties. Returns (the ranking,
    its project id); None, with nothing written, otherwise -- e.g. a concurrent submit, skip or
    expiry sweep got to it first, or the order is wrong: the caller's locked path says which.
    No lock is needed beforehand: the statement's conditional UPDATE is what decides, and only
    one transaction can close the row.
    """
    entries = [(completion_id, rank) for rank, group in enumerate(order) for completion_id in group]
    completion_ids = [completion_id for completion_id, _ in entries]
    params = {
        "now": now,
        "assignment": assignment_id,
        "annotator": annotator_id,
        "shown": json.dumps(completion_ids),
        "k": len(completion_ids),
        "tie": any(len(group) > 1 for group in order),
        "order": json.dumps(order),
        "flags": json.dumps(flags),
        "comment": comment,
        "seconds": seconds,
        "source": Ranking.Source.ANNOTATOR.value,
        "completion_ids": completion_ids,
        "ranks": [rank for _, rank in entries],
        "entry_flags": [json.dumps(flags.get(str(completion_id), [])) for completion_id in completion_ids],
    }
    row = fetch_one(name="rankforge_ranking_record_if_open", sql=RECORD_IF_OPEN_SQL, params=params)
    if row is None:
        return None
    ranking_id, prompt_id, project_id = row
    ranking = model_loaded(
        Ranking,
        id=ranking_id,
        assignment_id=assignment_id,
        annotator_id=annotator_id,
        prompt_id=prompt_id,
        order=order,
        flags=flags,
        comment=comment,
        seconds=seconds,
        source=Ranking.Source.ANNOTATOR,
        submitted_at=now,
    )
    return ranking, project_id
