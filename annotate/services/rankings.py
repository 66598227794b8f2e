"""Checking and recording rankings.

``order_validate`` is the one place that decides whether an order of completion ids is a
valid ranking; ``ranking_record`` is the one place that writes a Ranking with its entries.
Both the annotator's submit and the importers go through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate.models import FLAG_CHOICES, Assignment, Prompt, Ranking, RankingEntry


def order_validate(
    *, order: object, completion_ids: Sequence[int], allow_ties: bool
) -> list[list[int]]:
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
            if not isinstance(completion_id, int) or isinstance(completion_id, bool):
                raise ValidationError({"order": f"{completion_id!r} in group {group_index} is not a completion id"})
            if completion_id not in expected:
                raise ValidationError(
                    {"order": f"completion {completion_id} is not one of this task's completions"}
                )
            if completion_id in seen:
                raise ValidationError({"order": f"completion {completion_id} appears more than once"})
            seen.add(completion_id)
            clean_group.append(completion_id)
        groups.append(clean_group)
    missing = [completion_id for completion_id in completion_ids if completion_id not in seen]
    if missing:
        raise ValidationError({"order": f"completions missing from the ranking: {', '.join(map(str, missing))}"})
    return groups


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
