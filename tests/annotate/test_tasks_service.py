"""Handing out tasks and taking back rankings: annotate.services.tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from annotate.models import Assignment, Prompt, Ranking, RankingEntry
from annotate.services.tasks import (
    RankingConflict,
    assignment_claim,
    assignment_skip,
    assignments_expire,
    prompt_counters_rebuild,
    ranking_submit,
)
from annotate.signals import ranking_submitted

User = get_user_model()


@pytest.fixture
def annotators(db, project):
    users = [User.objects.create_user(f"ranker{i}") for i in range(4)]
    project.annotators.add(*users)
    return users


def best_first(task) -> list[list[int]]:
    return [[completion.pk] for completion in task.completions]


def counters(prompt: Prompt) -> tuple[int, int]:
    prompt.refresh_from_db()
    return prompt.ranking_count, prompt.open_assignment_count


def test_it_hands_out_the_prompt_with_the_fewest_rankings(project, make_prompt, annotators):
    first, second = make_prompt(project), make_prompt(project)
    task = assignment_claim(project=project, annotator=annotators[0])
    assert task.prompt == first
    ranking_submit(assignment_id=task.assignment.pk, annotator=annotators[0], order=best_first(task))
    # first has one ranking now, second none: the next caller gets second.
    assert assignment_claim(project=project, annotator=annotators[1]).prompt == second


def test_it_prefers_a_prompt_nobody_holds(project, make_prompt, annotators):
    first, second = make_prompt(project), make_prompt(project)
    assert assignment_claim(project=project, annotator=annotators[0]).prompt == first
    assert assignment_claim(project=project, annotator=annotators[1]).prompt == second


def test_it_gives_back_the_callers_unfinished_task(project, make_prompt, annotator):
    make_prompt(project), make_prompt(project)
    task = assignment_claim(project=project, annotator=annotator)
    again = assignment_claim(project=project, annotator=annotator)
    assert again.assignment.pk == task.assignment.pk
    assert [c.pk for c in again.completions] == task.assignment.shown_order
    assert Assignment.objects.count() == 1


def test_it_never_opens_more_assignments_than_rankings_still_wanted(project, make_prompt, annotators):
    project.rankings_per_prompt = 2
    project.save()
    prompt = make_prompt(project)
    assert assignment_claim(project=project, annotator=annotators[0]).prompt == prompt
    assert assignment_claim(project=project, annotator=annotators[1]).prompt == prompt
    assert assignment_claim(project=project, annotator=annotators[2]) is None
    assert counters(prompt) == (0, 2)


def test_it_never_gives_one_annotator_the_same_prompt_twice(project, make_prompt, annotator):
    make_prompt(project)
    task = assignment_claim(project=project, annotator=annotator)
    ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task))
    assert assignment_claim(project=project, annotator=annotator) is None


def test_a_skipped_prompt_goes_to_others_but_not_back_to_the_skipper(project, make_prompt, annotators):
    project.rankings_per_prompt = 1
    project.save()
    prompt = make_prompt(project)
    task = assignment_claim(project=project, annotator=annotators[0])
    skipped = assignment_skip(assignment_id=task.assignment.pk, annotator=annotators[0], reason="  not English ")
    assert (skipped.state, skipped.skip_reason) == ("skipped", "not English")
    assert counters(prompt) == (0, 0)
    assert assignment_claim(project=project, annotator=annotators[0]) is None
    assert assignment_claim(project=project, annotator=annotators[1]).prompt == prompt


def test_an_expired_task_goes_back_to_the_pool(project, make_prompt, annotators):
    project.rankings_per_prompt = 1
    project.save()
    prompt = make_prompt(project)
    task = assignment_claim(project=project, annotator=annotators[0])
    Assignment.objects.filter(pk=task.assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = assignment_claim(project=project, annotator=annotators[1])
    assert taken.prompt == prompt
    assert Assignment.objects.get(pk=task.assignment.pk).state == "expired"
    assert counters(prompt) == (0, 1)


def test_an_expired_task_can_come_back_to_its_annotator_on_the_same_row(project, make_prompt, annotator):
    prompt = make_prompt(project)
    task = assignment_claim(project=project, annotator=annotator)
    Assignment.objects.filter(pk=task.assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    again = assignment_claim(project=project, annotator=annotator)
    assert again.assignment.pk == task.assignment.pk
    assert again.assignment.expires_at > timezone.now()
    assert Assignment.objects.get().state == "open"
    assert counters(prompt) == (0, 1)
    ranking_submit(assignment_id=again.assignment.pk, annotator=annotator, order=best_first(again))
    assert counters(prompt) == (1, 0)


def test_assignments_expire_releases_each_stale_assignment_once(project, make_prompt, annotators):
    prompt = make_prompt(project)
    for annotator in annotators[:2]:
        assignment_claim(project=project, annotator=annotator)
    later = timezone.now() + timedelta(minutes=project.assignment_minutes + 1)
    assert assignments_expire(now=later) == 2
    assert assignments_expire(now=later) == 0
    assert counters(prompt) == (0, 0)


def test_it_stores_the_shown_order_and_keeps_it(project, make_prompt, annotator):
    prompt = make_prompt(project, k=6)
    task = assignment_claim(project=project, annotator=annotator)
    assert sorted(task.assignment.shown_order) == sorted(prompt.completions.values_list("pk", flat=True))
    assert Assignment.objects.get().shown_order == [c.pk for c in task.completions]


def test_it_keeps_the_imported_order_when_shuffling_is_off(project, make_prompt, annotator):
    project.shuffle_completions = False
    project.save()
    prompt = make_prompt(project, k=6)
    task = assignment_claim(project=project, annotator=annotator)
    assert task.assignment.shown_order == list(prompt.completions.order_by("position").values_list("pk", flat=True))


def test_a_submitted_ranking_lands_with_its_entries_and_counters(project, make_prompt, annotator):
    prompt = make_prompt(project, k=3)
    task = assignment_claim(project=project, annotator=annotator)
    a, b, c = task.assignment.shown_order
    ranking, created = ranking_submit(
        assignment_id=task.assignment.pk,
        annotator=annotator,
        order=[[b], [a], [c]],
        flags={str(c): ["unsafe"]},
        comment=" c is rude ",
        seconds=12.5,
    )
    assert created
    assert (ranking.order, ranking.flags, ranking.comment, ranking.seconds) == (
        [[b], [a], [c]],
        {str(c): ["unsafe"]},
        "c is rude",
        12.5,
    )
    assert list(RankingEntry.objects.values_list("completion_id", "rank")) == [(b, 0), (a, 1), (c, 2)]
    assert Assignment.objects.get().state == "submitted"
    assert counters(prompt) == (1, 0)


def test_the_same_ranking_sent_twice_is_stored_once(project, make_prompt, annotator):
    make_prompt(project, k=3)
    task = assignment_claim(project=project, annotator=annotator)
    first, created = ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task))
    again, created_again = ranking_submit(
        assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task), seconds=99
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Ranking.objects.count() == 1


def test_a_different_second_ranking_is_a_conflict(project, make_prompt, annotator):
    make_prompt(project, k=3)
    task = assignment_claim(project=project, annotator=annotator)
    ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task))
    with pytest.raises(RankingConflict):
        ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task)[::-1])
    assert Ranking.objects.get().order == best_first(task)


@pytest.mark.parametrize(
    ("make_order", "message"),
    [
        (lambda ids: [[ids[0]], [ids[1]]], "missing"),
        (lambda ids: [[ids[0]], [ids[1]], [ids[2]], [ids[0]]], "more than once"),
        (lambda ids: [[ids[0]], [ids[1]], [ids[2]], [-5]], "not one of this task's completions"),
        (lambda ids: [[ids[0], ids[1]], [ids[2]]], "does not allow ties"),
    ],
    ids=["missing id", "duplicate id", "foreign id", "tie not allowed"],
)
def test_it_rejects_a_bad_order_and_writes_nothing(project, make_prompt, annotator, make_order, message):
    prompt = make_prompt(project, k=3)
    task = assignment_claim(project=project, annotator=annotator)
    with pytest.raises(ValidationError, match=message):
        ranking_submit(
            assignment_id=task.assignment.pk, annotator=annotator, order=make_order(task.assignment.shown_order)
        )
    assert not Ranking.objects.exists()
    assert Assignment.objects.get().state == "open"
    assert counters(prompt) == (0, 1)


def test_it_rejects_a_completion_of_another_prompt(project, make_prompt, annotator):
    make_prompt(project, k=2)
    other = make_prompt(project, k=2)
    task = assignment_claim(project=project, annotator=annotator)
    ids = task.assignment.shown_order
    with pytest.raises(ValidationError, match="not one of this task's completions"):
        ranking_submit(
            assignment_id=task.assignment.pk,
            annotator=annotator,
            order=[[ids[0]], [ids[1]], [other.completions.first().pk]],
        )


def test_it_accepts_a_tie_where_the_project_allows_ties(project, make_prompt, annotator):
    project.allow_ties = True
    project.save()
    make_prompt(project, k=3)
    task = assignment_claim(project=project, annotator=annotator)
    a, b, c = task.assignment.shown_order
    ranking, _ = ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=[[a, b], [c]])
    assert list(ranking.entries.order_by("rank", "completion").values_list("rank", flat=True)) == [0, 0, 1]


def test_it_refuses_an_expired_task(project, make_prompt, annotator):
    make_prompt(project, k=2)
    task = assignment_claim(project=project, annotator=annotator)
    Assignment.objects.filter(pk=task.assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="expired"):
        ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task))
    assert not Ranking.objects.exists()


def test_it_refuses_a_ranking_of_a_skipped_task(project, make_prompt, annotator):
    make_prompt(project, k=2)
    task = assignment_claim(project=project, annotator=annotator)
    assignment_skip(assignment_id=task.assignment.pk, annotator=annotator)
    with pytest.raises(ValidationError, match="skipped"):
        ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task))


def test_only_the_tasks_annotator_may_rank_or_skip_it(project, make_prompt, annotator, admin_user):
    make_prompt(project, k=2)
    task = assignment_claim(project=project, annotator=annotator)
    with pytest.raises(Http404):
        ranking_submit(assignment_id=task.assignment.pk, annotator=admin_user, order=best_first(task))
    with pytest.raises(Http404):
        assignment_skip(assignment_id=task.assignment.pk, annotator=admin_user)
    assert not Ranking.objects.exists()
    assert Assignment.objects.get().state == "open"


def test_it_rejects_unknown_flags_and_negative_seconds(project, make_prompt, annotator):
    make_prompt(project, k=2)
    task = assignment_claim(project=project, annotator=annotator)
    first = task.assignment.shown_order[0]
    with pytest.raises(ValidationError, match="unknown flag"):
        ranking_submit(
            assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task), flags={str(first): ["meh"]}
        )
    with pytest.raises(ValidationError, match="seconds"):
        ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task), seconds=-1)


def test_ranking_submitted_is_sent_once_the_ranking_is_committed(
    project, make_prompt, annotator, django_capture_on_commit_callbacks
):
    make_prompt(project, k=2)
    task = assignment_claim(project=project, annotator=annotator)
    received = []

    def receiver(sender, ranking_id, **kwargs):
        received.append(ranking_id)

    ranking_submitted.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            ranking, _ = ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=best_first(task))
        assert received == []  # not before the commit
        for callback in callbacks:
            callback()
    finally:
        ranking_submitted.disconnect(receiver)
    assert received == [ranking.pk]


def test_prompt_counters_rebuild_recounts_from_the_rows(project, make_prompt, annotators):
    prompt = make_prompt(project, k=2)
    task = assignment_claim(project=project, annotator=annotators[0])
    ranking_submit(assignment_id=task.assignment.pk, annotator=annotators[0], order=best_first(task))
    assignment_claim(project=project, annotator=annotators[1])
    Prompt.objects.update(ranking_count=7, open_assignment_count=7)
    assert prompt_counters_rebuild(project=project) == 1
    assert counters(prompt) == (1, 1)
