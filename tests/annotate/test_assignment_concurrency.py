"""Many annotators claiming and ranking at once never over-rank a prompt or repeat one.

Runs on PostgreSQL only (SQLite runs write transactions one at a time, so there is no race
to test there):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres TEST_DATABASE_NAME=test_rf_tasks \\
        .venv/bin/python -m pytest -m postgres tests/annotate/test_assignment_concurrency.py
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count

from annotate.models import Assignment, Completion, Project, Prompt, Ranking
from annotate.services.tasks import assignment_claim, assignment_skip, ranking_submit, task_next
from tests.annotate.racing import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the race needs PostgreSQL (set DATABASE_URL)"),
]

THREADS = 16
PROMPTS = 30
WANTED = 3


def claim_by_service(project, annotator):
    return assignment_claim(project=project, annotator=annotator)


def claim_by_api_statement(project, annotator):
    """What the API's next-task endpoint runs: permission check, open task and claim in one statement."""
    return task_next(project_id=project.pk, annotator=annotator)[1]


@pytest.mark.parametrize("claim", [claim_by_service, claim_by_api_statement], ids=["service", "one statement"])
def test_concurrent_annotators_never_over_rank_or_repeat_a_prompt(claim):
    User = get_user_model()
    project = Project.objects.create(name="Race", rankings_per_prompt=WANTED, min_completions=2)
    annotators = [User.objects.create_user(f"racer{i}") for i in range(THREADS)]
    project.annotators.add(*annotators)
    for number in range(PROMPTS):
        prompt = Prompt.objects.create(project=project, text=f"Prompt {number}")
        Completion.objects.bulk_create(Completion(prompt=prompt, text=f"Reply {i}", position=i) for i in range(4))

    claimed: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(annotator, number: int) -> None:
        while (task := claim(project, annotator)) is not None:
            with lock:
                claimed.append((task.prompt.pk, annotator.pk))
            if number % 5 == 0 and len(claimed) % 7 == 0:  # some skip, so slots are released and re-taken
                assignment_skip(assignment_id=task.assignment.pk, annotator=annotator, reason="race")
                continue
            order = [[completion.pk] for completion in task.completions]
            ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=order)

    race(annotators, work)

    # No annotator was ever handed the same prompt twice, and no prompt got more than wanted.
    assert max(Counter(claimed).values()) == 1
    per_prompt = dict(Prompt.objects.filter(project=project).annotate(n=Count("rankings")).values_list("pk", "n"))
    assert max(per_prompt.values()) == WANTED
    skipped = Assignment.objects.filter(state="skipped").count()
    # Every prompt is fully ranked unless the skips left too few annotators for it.
    assert sum(per_prompt.values()) == Ranking.objects.count() == len(claimed) - skipped
    assert Ranking.objects.values("prompt", "annotator").annotate(n=Count("id")).filter(n__gt=1).count() == 0
    assert not Assignment.objects.filter(state="open").exists()
    for prompt in Prompt.objects.filter(project=project):
        assert (prompt.ranking_count, prompt.open_assignment_count) == (per_prompt[prompt.pk], 0)
