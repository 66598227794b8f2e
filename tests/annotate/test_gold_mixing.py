"""The claim mixes gold prompts into each annotator's tasks at the project's gold_rate.

The order tests run on both databases; the race needs PostgreSQL (SKIP LOCKED):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres TEST_DATABASE_NAME=test_rf_tasks \\
        .venv/bin/python -m pytest tests/annotate/test_gold_mixing.py
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from annotate.models import Assignment, Completion, Project, Prompt
from annotate.selectors import project_pace, project_progress, project_rankings_left
from annotate.services.gold import prompt_gold_set
from annotate.services.tasks import assignment_claim, assignment_skip, ranking_submit, task_next
from rewardtrain.selectors import acquisition_overview
from rewardtrain.services.quality import annotator_quality
from tests.annotate.racing import race
from tests.annotate.test_tasks_api import best_first, next_url, submit_url
from tests.annotate.test_workspace_views import page_data

User = get_user_model()


def claim_by_service(project, annotator):
    return assignment_claim(project=project, annotator=annotator)


def claim_by_api_statement(project, annotator):
    """What the API's next-task endpoint runs (one statement on PostgreSQL)."""
    return task_next(project_id=project.pk, annotator=annotator)[1]


CLAIMS = pytest.mark.parametrize("claim", [claim_by_service, claim_by_api_statement], ids=["service", "one statement"])


def project_with_gold(*, gold_rate: float, gold: int, ordinary: int, wanted: int, annotators: list) -> Project:
    """A project whose first ``gold`` prompts carry a reference ranking (their completions in import
    order), then ``ordinary`` prompts without one."""
    project = Project.objects.create(
        name=f"Mixing at {gold_rate}", rankings_per_prompt=wanted, min_completions=2, gold_rate=gold_rate
    )
    project.annotators.add(*annotators)
    for number in range(gold + ordinary):
        prompt = Prompt.objects.create(project=project, text=f"Prompt {number}")
        completions = Completion.objects.bulk_create(
            Completion(prompt=prompt, text=f"Reply {i}", position=i) for i in range(4)
        )
        if number < gold:
            prompt_gold_set(prompt=prompt, order=[[completion.pk] for completion in completions])
    return project


def without_page_data(html: str) -> str:
    """The ranking page without its task and progress (the JSON of the rank-data script) and without the
    CSRF token, which is masked afresh for every response."""
    start = html.index('<script id="rank-data" type="application/json">')
    html = html[:start] + html[html.index("</script>", start) :]
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', html)


def gold_ids(project: Project) -> set[int]:
    return set(Prompt.objects.filter(project=project, gold_order__isnull=False).values_list("pk", flat=True))


def rank_in_import_order(task, annotator) -> None:
    """Rank the completions as they were imported: a gold prompt's reference order (the page shuffled them)."""
    order = sorted([completion.pk] for completion in task.completions)
    ranking_submit(assignment_id=task.assignment.pk, annotator=annotator, order=order)


def work_through(project, annotator, claim, *, limit: int) -> list[int]:
    """Claim and rank up to ``limit`` tasks; the prompt ids in the order they were handed out."""
    handed = []
    while len(handed) < limit and (task := claim(project, annotator)) is not None:
        handed.append(task.prompt.pk)
        rank_in_import_order(task, annotator)
    return handed


@CLAIMS
def test_a_quarter_of_an_annotators_tasks_are_gold_spread_through_their_stream(db, claim):
    annotator = User.objects.create_user("solo")
    project = project_with_gold(gold_rate=0.25, gold=12, ordinary=60, wanted=1, annotators=[annotator])
    gold = gold_ids(project)

    handed = work_through(project, annotator, claim, limit=40)

    assert len(handed) == 40
    assert [position for position, prompt in enumerate(handed) if prompt in gold] == list(range(0, 40, 4))
    assert len(set(handed)) == 40  # no gold prompt (or any other) twice


@CLAIMS
def test_at_rate_zero_gold_prompts_are_ordinary_prompts(db, claim):
    first, second = User.objects.create_user("first"), User.objects.create_user("second")
    project = project_with_gold(gold_rate=0.0, gold=2, ordinary=2, wanted=1, annotators=[first, second])
    in_import_order = list(Prompt.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))

    handed = work_through(project, first, claim, limit=10)

    assert handed == in_import_order  # gold or not, in the ordinary queue's order
    assert claim(project, second) is None  # and capped at rankings_per_prompt like the others


@CLAIMS
def test_every_annotator_ranks_every_gold_prompt_and_ordinary_prompts_stay_capped(db, claim):
    annotators = [User.objects.create_user(f"annotator{i}") for i in range(3)]
    project = project_with_gold(gold_rate=0.5, gold=2, ordinary=6, wanted=1, annotators=annotators)
    gold = gold_ids(project)

    handed: dict[int, list[int]] = {annotator.pk: [] for annotator in annotators}
    working = list(annotators)
    while working:  # round robin, one task each, until the queue has nothing left for anyone
        for annotator in list(working):
            task = claim(project, annotator)
            if task is None:
                working.remove(annotator)
                continue
            handed[annotator.pk].append(task.prompt.pk)
            rank_in_import_order(task, annotator)

    for prompts in handed.values():
        assert set(prompts) & gold == gold
        assert len(prompts) == len(set(prompts))
    rankings = dict(Prompt.objects.filter(project=project).annotate(n=Count("rankings")).values_list("pk", "n"))
    assert {rankings[pk] for pk in gold} == {3}  # beyond rankings_per_prompt: one from everyone
    assert {n for pk, n in rankings.items() if pk not in gold} == {1}
    quality = annotator_quality(project=project)
    assert [row.gold_rankings for row in quality] == [2, 2, 2]
    assert all(row.gold_tau == 1.0 for row in quality)  # they ranked in the reference order


@CLAIMS
def test_at_rate_one_the_gold_prompts_come_first_then_the_ordinary_queue(db, claim):
    annotator = User.objects.create_user("solo")
    project = project_with_gold(gold_rate=1.0, gold=3, ordinary=2, wanted=1, annotators=[annotator])

    handed = work_through(project, annotator, claim, limit=10)

    assert len(handed) == 5
    assert set(handed[:3]) == gold_ids(project)


def test_no_gold_prompt_is_handed_out_when_the_ordinary_queue_is_empty(db):
    """Gold samples an annotator's work; it is no work of its own once the project's is done."""
    annotator, late = User.objects.create_user("early"), User.objects.create_user("late")
    project = project_with_gold(gold_rate=0.5, gold=2, ordinary=2, wanted=1, annotators=[annotator, late])

    assert len(work_through(project, annotator, claim_by_service, limit=10)) == 4  # gold, ord, gold, ord
    handed = work_through(project, late, claim_by_service, limit=10)

    assert len(handed) == 1 and handed[0] in gold_ids(project)  # due at once, then nothing ordinary left


def test_a_skipped_gold_task_counts_as_gold_and_does_not_come_back(db):
    annotator = User.objects.create_user("skipper")
    project = project_with_gold(gold_rate=0.5, gold=2, ordinary=4, wanted=1, annotators=[annotator])
    gold = gold_ids(project)

    task = claim_by_service(project, annotator)
    assert task.prompt.pk in gold
    assignment_skip(assignment_id=task.assignment.pk, annotator=annotator, reason="unsure")
    handed = work_through(project, annotator, claim_by_service, limit=3)

    assert handed[0] not in gold and handed[1] in gold - {task.prompt.pk} and handed[2] not in gold


def test_the_next_task_answer_of_a_gold_task_looks_like_any_other(annotator, annotator_client):
    project = project_with_gold(gold_rate=0.5, gold=1, ordinary=1, wanted=1, annotators=[annotator])
    answers = []
    for _ in range(2):
        answer = annotator_client.get(next_url(project)).json()
        answers.append(answer)
        annotator_client.post(submit_url(answer["assignment_id"]), {"order": best_first(answer)}, format="json")
    gold_answer, ordinary_answer = answers

    assert gold_answer["prompt"]["id"] in gold_ids(project)
    assert ordinary_answer["prompt"]["id"] not in gold_ids(project)
    assert gold_answer.keys() == ordinary_answer.keys()
    assert gold_answer["prompt"].keys() == ordinary_answer["prompt"].keys()
    assert [c.keys() for c in gold_answer["completions"]] == [c.keys() for c in ordinary_answer["completions"]]


def test_the_ranking_page_of_a_gold_task_looks_like_any_other(annotator, annotator_client):
    project = project_with_gold(gold_rate=0.5, gold=1, ordinary=1, wanted=1, annotators=[annotator])
    browser = Client()
    browser.force_login(annotator)
    pages = []
    for _ in range(2):
        response = browser.get(f"/projects/{project.pk}/rank/")
        task = page_data(response)["task"]
        pages.append((task, response.content.decode()))
        annotator_client.post(submit_url(task["assignment_id"]), {"order": best_first(task)}, format="json")
    (gold_task, gold_html), (ordinary_task, ordinary_html) = pages

    assert gold_task["prompt"]["id"] in gold_ids(project)
    assert ordinary_task["prompt"]["id"] not in gold_ids(project)
    assert without_page_data(gold_html) == without_page_data(ordinary_html)  # the same page around the task
    assert "gold" not in gold_html.lower()


def test_an_expired_gold_task_comes_back_to_its_annotator_on_the_same_row(db):
    annotator = User.objects.create_user("slow")
    project = project_with_gold(gold_rate=0.25, gold=2, ordinary=4, wanted=1, annotators=[annotator])
    for claim in (claim_by_service, claim_by_api_statement):
        task = claim(project, annotator)
        Assignment.objects.filter(pk=task.assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

        again = claim(project, annotator)  # expired tasks do not count: gold is due again, and this is the first

        assert (again.assignment.pk, again.prompt.pk) == (task.assignment.pk, task.prompt.pk)
        assert Assignment.objects.get(pk=task.assignment.pk).state == "open"
        prompt = Prompt.objects.get(pk=task.prompt.pk)
        assert (prompt.ranking_count, prompt.open_assignment_count) == (0, 1)
        assignment_skip(assignment_id=again.assignment.pk, annotator=annotator)


def test_under_a_gold_rate_gold_prompts_are_outside_the_projects_target(db):
    annotators = [User.objects.create_user(f"annotator{i}") for i in range(2)]
    project = project_with_gold(gold_rate=0.5, gold=2, ordinary=2, wanted=3, annotators=annotators)
    for annotator in annotators:
        work_through(project, annotator, claim_by_service, limit=10)  # 2 gold, 2 ordinary each

    pace, progress = project_pace(project=project), project_progress(project=project)
    assert (pace.prompts, pace.rankings_wanted, pace.rankings_done, pace.prompts_left) == (2, 6, 4, 2)
    assert (progress.prompts, progress.rankings_wanted, progress.rankings_done) == (2, 6, 4)
    assert progress.rankings == 8  # the gold rankings are rankings all the same
    assert project_rankings_left(project=project) == 2
    assert acquisition_overview(project=project)["prompts"] == 2  # what the ordinary queue still holds

    project.gold_rate = 0.0  # gold prompts are ordinary again, and short of their three rankings too
    project.save()
    pace = project_pace(project=project)
    assert (pace.prompts, pace.rankings_wanted, pace.rankings_done, pace.prompts_left) == (4, 12, 8, 4)
    assert acquisition_overview(project=project)["prompts"] == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the race needs PostgreSQL (set DATABASE_URL)")
def test_concurrent_annotators_get_their_gold_share_without_over_assigning():
    threads_count, wanted, rate = 8, 2, 0.25
    annotators = [User.objects.create_user(f"racer{i}") for i in range(threads_count)]
    project = project_with_gold(gold_rate=rate, gold=6, ordinary=40, wanted=wanted, annotators=annotators)
    gold = gold_ids(project)
    claimed: list[tuple[int, int]] = []  # (prompt, annotator)
    lock = threading.Lock()

    def work(annotator, number: int) -> None:
        claim = claim_by_service if number % 2 else claim_by_api_statement
        while (task := claim(project, annotator)) is not None:
            with lock:
                claimed.append((task.prompt.pk, annotator.pk))
            rank_in_import_order(task, annotator)

    race(annotators, work)

    assert max(Counter(claimed).values()) == 1  # nobody was handed a prompt twice
    rankings = dict(Prompt.objects.filter(project=project).annotate(n=Count("rankings")).values_list("pk", "n"))
    assert {n for pk, n in rankings.items() if pk not in gold} == {wanted}  # every ordinary prompt, none over
    assert len(claimed) == sum(rankings.values())
    for annotator in annotators:
        theirs = [prompt for prompt, who in claimed if who == annotator.pk]
        gold_share = sum(prompt in gold for prompt in theirs)
        # Never above the rate; below it by at most one: a gold task another annotator was locking at
        # that moment is made up for at the next claim, unless the ordinary queue ran out first.
        assert rate * len(theirs) - 1 <= gold_share < rate * len(theirs) + 1, (gold_share, len(theirs))
    for prompt in Prompt.objects.filter(project=project):
        assert (prompt.ranking_count, prompt.open_assignment_count) == (rankings[prompt.pk], 0)
