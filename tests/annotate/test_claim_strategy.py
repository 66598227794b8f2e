"""The claim honours the project's active-learning strategy, and keeps its guarantees under concurrency.

The order tests run on both databases; the race needs PostgreSQL (SKIP LOCKED):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres TEST_DATABASE_NAME=test_rf_tasks \\
        .venv/bin/python -m pytest tests/annotate/test_claim_strategy.py
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count

from annotate.models import Completion, Project, Prompt
from annotate.services.tasks import assignment_claim, ranking_submit, task_next
from rewardtrain.services.acquisition import acquisition_priorities_apply
from tests.annotate.racing import race

STRATEGIES = ("coverage", "uncertainty", "disagreement", "mixed")


def project_with_figures(strategy: str, *, prompts: int, wanted: int, annotators: list) -> tuple[Project, list[int]]:
    """Prompts whose stored figures rank them opposite to import order (the last imported the most
    informative), queue applied under ``strategy`` with no exploration; returns the expected claim order."""
    project = Project.objects.create(
        name=f"Strategy {strategy}",
        rankings_per_prompt=wanted,
        min_completions=2,
        acquisition_strategy=strategy,
        acquisition_exploration=0.0,
    )
    project.annotators.add(*annotators)
    ids = []
    for number in range(prompts):
        figure = number / prompts
        prompt = Prompt.objects.create(
            project=project, text=f"Prompt {number}", model_uncertainty=figure, annotator_disagreement=figure
        )
        Completion.objects.bulk_create(Completion(prompt=prompt, text=f"Reply {i}", position=i) for i in range(4))
        ids.append(prompt.pk)
    acquisition_priorities_apply(project_id=project.pk)
    return project, (ids if strategy == "coverage" else list(reversed(ids)))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_annotator_is_handed_the_prompts_in_the_strategys_order(db, strategy):
    annotator = get_user_model().objects.create_user("solo")
    project, expected = project_with_figures(strategy, prompts=6, wanted=1, annotators=[annotator])
    handed = []
    for claim in (
        assignment_claim,
        lambda project, annotator: task_next(project_id=project.pk, annotator=annotator)[1],
    ):
        task = claim(project=project, annotator=annotator)
        handed.append(task.prompt.pk)
        ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=[[c.pk] for c in task.completions])
    assert handed == expected[:2]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the race needs PostgreSQL (set DATABASE_URL)")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_concurrent_annotators_follow_the_strategy_without_over_assigning(strategy):
    threads_count, prompts, wanted = 8, 24, 2
    User = get_user_model()
    annotators = [User.objects.create_user(f"racer{i}") for i in range(threads_count)]
    project, expected = project_with_figures(strategy, prompts=prompts, wanted=wanted, annotators=annotators)
    claimed: list[tuple[int, int, int]] = []  # (assignment id, prompt, annotator)
    lock = threading.Lock()

    def work(annotator, number: int) -> None:
        while True:
            task = (
                assignment_claim(project=project, annotator=annotator)
                if number % 2
                else task_next(project_id=project.pk, annotator=annotator)[1]
            )
            if task is None:
                return
            with lock:
                claimed.append((task.assignment.pk, task.prompt.pk, annotator.pk))
            order = [[completion.pk] for completion in task.completions]
            ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=order)

    race(annotators, work)

    assert max(Counter((prompt, annotator) for _, prompt, annotator in claimed).values()) == 1
    per_prompt = dict(Prompt.objects.filter(project=project).annotate(n=Count("rankings")).values_list("pk", "n"))
    assert set(per_prompt.values()) == {wanted}  # every prompt got exactly what it wanted, none more
    # The first half of the claims went to the head of the strategy's queue. Concurrent claims skip the
    # prompts others are locking (at most one per other annotator), so the head is widened by that many;
    # a claim that read the queue just before another committed may take that prompt's second slot.
    first_claims = [prompt for _, prompt, _ in sorted(claimed)[: prompts // 2]]
    assert set(first_claims) <= set(expected[: prompts // 2 + threads_count - 1])
