"""Rankings for the comparison, agreement and export tests, written through annotate's own service."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from annotate.models import Assignment, Completion, Prompt, Ranking
from annotate.services.rankings import ranking_record


def completion_ids(prompt: Prompt) -> list[int]:
    return list(Completion.objects.filter(prompt=prompt).order_by("position", "id").values_list("id", flat=True))


def rank(
    prompt: Prompt,
    annotator,
    positions: list[list[int]],
    *,
    seconds: float | None = 10.0,
    shown: list[int] | None = None,
    source: str = Ranking.Source.ANNOTATOR,
    flags: dict[int, list[str]] | None = None,
) -> Ranking:
    """Rank ``prompt``'s completions by position: ``[[2], [0, 1], [3]]``; ``shown`` = positions as shown;
    ``flags`` = {position: ["unsafe", ...]}."""
    ids = completion_ids(prompt)
    now = timezone.now()
    assignment = Assignment.objects.create(
        prompt=prompt,
        annotator=annotator,
        started_at=now,
        expires_at=now + timedelta(hours=1),
        shown_order=[ids[position] for position in (shown if shown is not None else range(len(ids)))],
    )
    order = [[ids[position] for position in group] for group in positions]
    flags_by_id = {str(ids[position]): names for position, names in (flags or {}).items()}
    return ranking_record(assignment=assignment, order=order, seconds=seconds, source=source, flags=flags_by_id)


def annotators(count: int, prefix: str = "rater") -> list:
    User = get_user_model()
    # No password: hashing one costs a quarter of a second, and these users never log in.
    return [User.objects.create(username=f"{prefix}{index}") for index in range(count)]
