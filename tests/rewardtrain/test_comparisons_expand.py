"""comparisons_expand: the set-based SQL expansion of rankings into pairs and tie rows."""

from __future__ import annotations

import threading
from math import comb

import pytest
from django.core.management import call_command
from django.db import connection

from annotate.models import Project
from annotate.signals import ranking_submitted
from rewardtrain.models import Comparison
from rewardtrain.services.comparisons import comparisons_expand
from tests.rewardtrain.ranking_factory import annotators, completion_ids, rank


def rows(ranking) -> set[tuple[int, int, int, bool]]:
    return set(Comparison.objects.filter(ranking=ranking).values_list("chosen_id", "rejected_id", "rank_gap", "is_tie"))


@pytest.mark.django_db
def test_it_writes_every_pair_of_a_strict_ranking_with_its_rank_gap_and_weight(project, make_prompt, annotator):
    prompt = make_prompt(project, k=4)
    ranking = rank(prompt, annotator, [[2], [0], [3], [1]])

    assert comparisons_expand() == comb(4, 2)

    expected = {(better, worse, gap, False) for better, worse, gap in ranking.pairs()}
    assert rows(ranking) == expected
    comparison = Comparison.objects.filter(ranking=ranking).first()
    assert comparison.weight == pytest.approx(1 / 6)
    assert comparison.project_id == project.id
    assert comparison.prompt_id == prompt.id
    assert comparison.annotator_id == annotator.id
    assert comparison.submitted_at == ranking.submitted_at


@pytest.mark.django_db
def test_it_keeps_pairs_inside_a_tie_apart_as_tie_rows_with_the_lower_id_first(project, make_prompt, annotator):
    prompt = make_prompt(project, k=4)
    ids = completion_ids(prompt)
    ranking = rank(prompt, annotator, [[3, 1], [0], [2]])

    comparisons_expand()

    ties = Comparison.objects.filter(ranking=ranking, is_tie=True)
    assert [(tie.chosen_id, tie.rejected_id, tie.rank_gap) for tie in ties] == [(ids[1], ids[3], 0)]
    strict = {(c, r, gap) for c, r, gap, tie in rows(ranking) if not tie}
    assert strict == set(ranking.pairs())
    assert Comparison.objects.filter(ranking=ranking).count() == comb(4, 2)


@pytest.mark.django_db
def test_the_chosen_rank_records_the_group_of_the_winner(project, make_prompt, annotator):
    prompt = make_prompt(project, k=3)
    ids = completion_ids(prompt)
    ranking = rank(prompt, annotator, [[0], [1], [2]])
    comparisons_expand()
    assert dict(
        Comparison.objects.filter(ranking=ranking).values_list("rejected_id", "chosen_rank").filter(chosen_id=ids[1])
    ) == {ids[2]: 1}


@pytest.mark.django_db
def test_running_it_again_changes_nothing(project, make_prompt, annotator):
    rank(make_prompt(project, k=5), annotator, [[4], [3], [2], [1], [0]])
    assert comparisons_expand() == 10
    before = list(Comparison.objects.values_list("id", "chosen_id", "rejected_id"))

    assert comparisons_expand() == 0
    assert list(Comparison.objects.values_list("id", "chosen_id", "rejected_id")) == before


@pytest.mark.django_db
def test_it_only_expands_rankings_not_yet_expanded(project, make_prompt):
    first, second = annotators(2)
    prompt = make_prompt(project, k=4)
    rank(prompt, first, [[0], [1], [2], [3]])
    assert comparisons_expand() == 6
    rank(prompt, second, [[3], [2], [1], [0]])

    assert comparisons_expand() == 6
    assert Comparison.objects.count() == 12


@pytest.mark.django_db
def test_it_can_be_narrowed_to_a_project_or_to_rankings(project, make_prompt, annotator):
    other = Project.objects.create(name="Other project")
    mine = rank(make_prompt(project, k=3), annotator, [[0], [1], [2]])
    theirs = rank(make_prompt(other, k=4), annotator, [[0], [1], [2], [3]])

    assert comparisons_expand(project_id=other.id) == 6
    assert set(Comparison.objects.values_list("ranking_id", flat=True)) == {theirs.id}
    assert comparisons_expand(ranking_ids=[]) == 0
    assert comparisons_expand(ranking_ids=[mine.id]) == 3


@pytest.mark.django_db
def test_the_ranking_submitted_signal_expands_the_ranking(project, make_prompt, annotator, celery_eager):
    ranking = rank(make_prompt(project, k=4), annotator, [[0], [1], [2], [3]])

    ranking_submitted.send(sender=None, ranking_id=ranking.id)

    assert Comparison.objects.filter(ranking=ranking).count() == 6


@pytest.mark.django_db
def test_the_command_expands_one_project_by_name(project, make_prompt, annotator, capsys):
    other = Project.objects.create(name="Other project")
    rank(make_prompt(project, k=3), annotator, [[0], [1], [2]])
    rank(make_prompt(other, k=3), annotator, [[0], [1], [2]])

    call_command("expand_comparisons", "--project", "Other project")

    assert "3 comparisons" in capsys.readouterr().out
    assert set(Comparison.objects.values_list("project_id", flat=True)) == {other.id}


@pytest.mark.django_db
def test_the_command_refuses_an_unknown_project(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no project named"):
        call_command("expand_comparisons", "--project", "Nope")


@pytest.mark.django_db
def test_migrate_registers_the_two_minute_beat_entry(db):
    from django_celery_beat.models import PeriodicTask

    from rewardtrain.schedules import COMPARISON_SCHEDULE_NAME, ensure_comparison_schedule

    ensure_comparison_schedule()  # what post_migrate ran; a second call must not duplicate it
    task = PeriodicTask.objects.get(name=COMPARISON_SCHEDULE_NAME)
    assert task.task == "rewardtrain.tasks.comparisons_expand_all"
    assert (task.interval.every, task.interval.period) == (2, "minutes")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_expanding_at_once_write_each_pair_once(project, make_prompt):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    raters = annotators(3)
    for index in range(20):
        prompt = make_prompt(project, k=5, text=f"Prompt {index}")
        for rater in raters:
            rank(prompt, rater, [[0], [1, 2], [3], [4]])
    results: list[int] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        try:
            results.append(comparisons_expand())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [0, 60 * 10]
    assert Comparison.objects.count() == 60 * 10


@pytest.mark.django_db
def test_a_ranking_submitted_by_an_annotator_is_expanded_once_it_commits(
    project, make_prompt, annotator, django_capture_on_commit_callbacks, celery_eager
):
    from annotate.services.tasks import assignment_claim, ranking_submit

    make_prompt(project, k=4)
    task = assignment_claim(project=project, annotator=annotator)
    ids = [completion.id for completion in task.completions]

    with django_capture_on_commit_callbacks(execute=True):
        ranking, _ = ranking_submit(
            assignment_id=task.assignment.id, annotator=annotator, order=[[ids[2]], [ids[0]], [ids[1]], [ids[3]]]
        )

    assert Comparison.objects.filter(ranking=ranking).count() == 6


@pytest.mark.django_db
def test_the_database_refuses_a_second_copy_of_a_pair(project, make_prompt, annotator):
    from django.db import IntegrityError, transaction

    rank(make_prompt(project, k=2), annotator, [[0], [1]])
    comparisons_expand()
    existing = Comparison.objects.get()
    existing.pk = None

    with pytest.raises(IntegrityError), transaction.atomic():
        existing.save()
