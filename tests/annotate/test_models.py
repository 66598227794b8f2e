"""The database itself enforces the rules that keep rankings trustworthy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotate.models import Assignment, Ranking, RankingEntry


def open_assignment(prompt, annotator) -> Assignment:
    now = timezone.now()
    return Assignment.objects.create(
        prompt=prompt,
        annotator=annotator,
        started_at=now,
        expires_at=now + timedelta(minutes=30),
        shown_order=list(prompt.completions.values_list("id", flat=True)),
    )


def test_it_allows_one_assignment_per_prompt_and_annotator(project, make_prompt, annotator):
    prompt = make_prompt(project)
    open_assignment(prompt, annotator)
    with pytest.raises(IntegrityError), transaction.atomic():
        open_assignment(prompt, annotator)


def test_it_allows_one_ranking_per_assignment(project, make_prompt, annotator):
    prompt = make_prompt(project, k=2)
    assignment = open_assignment(prompt, annotator)
    ids = assignment.shown_order
    Ranking.objects.create(assignment=assignment, annotator=annotator, prompt=prompt, order=[[ids[0]], [ids[1]]])
    with pytest.raises(IntegrityError), transaction.atomic():
        Ranking.objects.create(assignment=assignment, annotator=annotator, prompt=prompt, order=[[ids[1]], [ids[0]]])


def test_it_refuses_a_ranking_entry_for_a_completion_of_another_prompt(project, make_prompt, annotator):
    prompt, other_prompt = make_prompt(project, k=2), make_prompt(project, k=2)
    assignment = open_assignment(prompt, annotator)
    ranking = Ranking.objects.create(assignment=assignment, annotator=annotator, prompt=prompt, order=[])
    foreign_completion = other_prompt.completions.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        RankingEntry.objects.create(ranking=ranking, prompt=prompt, completion=foreign_completion, rank=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        # Claiming the other prompt on the entry does not help: the ranking is not of that prompt.
        RankingEntry.objects.create(ranking=ranking, prompt=other_prompt, completion=foreign_completion, rank=0)


@pytest.mark.parametrize("missing", ["completion", "ranking", "prompt"])
def test_it_refuses_a_ranking_entry_naming_a_row_that_does_not_exist(project, make_prompt, annotator, missing):
    """The composite keys (triggers on SQLite) check existence too: no single-column key is needed."""
    prompt = make_prompt(project, k=2)
    assignment = open_assignment(prompt, annotator)
    ranking = Ranking.objects.create(assignment=assignment, annotator=annotator, prompt=prompt, order=[])
    fields = {"ranking_id": ranking.pk, "prompt_id": prompt.pk, "completion_id": prompt.completions.first().pk}
    fields[f"{missing}_id"] += 10_000
    with pytest.raises(IntegrityError), transaction.atomic():
        RankingEntry.objects.create(rank=0, **fields)
    assert not RankingEntry.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite: the ORM's PROTECT / CASCADE guard deletes")
def test_it_refuses_to_delete_a_ranked_completion_or_a_ranking_with_entries(project, make_prompt, annotator):
    """The composite keys refuse it even past the ORM (raw SQL)."""
    prompt = make_prompt(project, k=2)
    assignment = open_assignment(prompt, annotator)
    ranking = Ranking.objects.create(assignment=assignment, annotator=annotator, prompt=prompt, order=[])
    completion = prompt.completions.first()
    RankingEntry.objects.create(ranking=ranking, prompt=prompt, completion=completion, rank=0)
    for table, row_id in (("annotate_completion", completion.pk), ("annotate_ranking", ranking.pk)):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [row_id])  # past the ORM's PROTECT/CASCADE
    ranking.delete()  # the ORM deletes the entries first
    assert not RankingEntry.objects.exists()


def test_pairs_of_a_ranking_with_a_tie_skip_the_tied_pair(project, make_prompt, annotator):
    prompt = make_prompt(project, k=3)
    ranking = Ranking(prompt=prompt, annotator=annotator, order=[[3], [1, 2]])
    assert ranking.k == 3
    assert ranking.pairs() == [(3, 1, 1), (3, 2, 1)]
    assert ranking.ties() == [(1, 2)]
