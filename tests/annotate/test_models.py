"""The database itself enforces the rules that keep rankings trustworthy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
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


def test_pairs_of_a_ranking_with_a_tie_skip_the_tied_pair(project, make_prompt, annotator):
    prompt = make_prompt(project, k=3)
    ranking = Ranking(prompt=prompt, annotator=annotator, order=[[3], [1, 2]])
    assert ranking.k == 3
    assert ranking.pairs() == [(3, 1, 1), (3, 2, 1)]
    assert ranking.ties() == [(1, 2)]
