"""Active learning: a model activation scores the prompts still wanting rankings and re-orders the queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Completion, Project, Prompt
from annotate.services.projects import project_update
from annotate.services.tasks import assignment_claim, assignment_skip
from rewardtrain.core.acquisition import order_uncertainty
from rewardtrain.models import ModelVersion
from rewardtrain.services import registry
from rewardtrain.services.acquisition import acquisition_priorities_apply, acquisition_scores_refresh
from tests.rewardtrain.ranking_factory import annotators, rank
from tests.rewardtrain.training_helpers import TINY_CONFIG, add_rankings, build_tiny_encoder


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory) -> Path:
    """A tiny random encoder trained a step on learnable rankings: an artifact RewardScorer.load reads."""
    from rewardtrain.core.config import TrainConfig
    from rewardtrain.core.data import RankedRecord
    from rewardtrain.core.train import train

    root = tmp_path_factory.mktemp("acquisition")
    model = build_tiny_encoder(root / "encoder")
    records = [
        RankedRecord(prompt=f"p{n}", completions=["great great", "awful", "great awful"], order=[[0], [2], [1]])
        for n in range(8)
    ]
    train(TrainConfig(model=str(model), **TINY_CONFIG), records, out_dir=root / "rm")
    return root / "rm"


def unranked(project: Project, count: int, *, k: int = 3) -> list[Prompt]:
    prompts = []
    for n in range(count):
        prompt = Prompt.objects.create(project=project, text=f"open prompt {n}")
        Completion.objects.bulk_create(
            Completion(prompt=prompt, position=i, text=" ".join(["great"] * (i * n % 4) + ["awful"] * i))
            for i in range(k)
        )
        prompts.append(prompt)
    return prompts


def version_of(project: Project, artifact: Path) -> ModelVersion:
    return ModelVersion.objects.create(project=project, version=1, artifact_path=str(artifact))


def test_an_activation_scores_every_prompt_still_wanting_rankings_and_the_claim_follows(
    db, annotator, tiny_artifact, django_capture_on_commit_callbacks, celery_eager
):
    project = Project.objects.create(
        name="AL", rankings_per_prompt=1, acquisition_strategy="uncertainty", acquisition_exploration=0.0
    )
    project.annotators.add(annotator)
    done = [ranking.prompt for ranking in add_rankings(project, annotator, 2, k=3)]
    open_prompts = unranked(project, 6)
    with django_capture_on_commit_callbacks(execute=True):
        registry.model_version_activate(version=version_of(project, tiny_artifact))

    from rewardtrain.core.scoring import RewardScorer

    scorer = RewardScorer.load(tiny_artifact)
    expected = {}
    for prompt in open_prompts:
        prompt.refresh_from_db()
        texts = list(prompt.completions.order_by("position").values_list("text", flat=True))
        expected[prompt.pk] = order_uncertainty(scorer.score([{"prompt": prompt.text, "completions": texts}])[0])
        assert prompt.model_uncertainty == pytest.approx(expected[prompt.pk], abs=1e-4)
    for prompt in done:
        prompt.refresh_from_db()
        assert (prompt.model_uncertainty, prompt.claim_priority) == (None, None)
    by_priority = list(
        Prompt.objects.filter(claim_priority__isnull=False).order_by("-claim_priority").values_list("pk", flat=True)
    )
    assert by_priority == sorted(expected, key=lambda pk: -expected[pk])
    assert assignment_claim(project=project, annotator=annotator).prompt.pk == by_priority[0]


def test_disagreement_sends_the_next_ranking_where_annotators_disagree_once_every_prompt_has_as_many(db, annotator):
    project = Project.objects.create(
        name="Disagree", rankings_per_prompt=3, acquisition_strategy="disagreement", acquisition_exploration=0.0
    )
    first, second, newcomer = annotators(3)
    project.annotators.add(annotator, first, second)
    agreed, disputed = unranked(project, 2)
    for prompt, reverse in ((agreed, False), (disputed, True)):
        rank(prompt, first, [[0], [1], [2]])
        rank(prompt, second, [[2], [1], [0]] if reverse else [[0], [1], [2]])
    fresh = unranked(project, 1)[0]

    summary = acquisition_scores_refresh(project_id=project.pk)
    assert (summary.model_version, summary.scored, summary.with_disagreement) == (None, 0, 2)
    for prompt in (agreed, disputed, fresh):
        prompt.refresh_from_db()
    assert (agreed.annotator_disagreement, disputed.annotator_disagreement, fresh.annotator_disagreement) == (
        0.0,
        1.0,
        None,
    )
    assert disputed.claim_priority > agreed.claim_priority
    # The prompt with fewer rankings still comes first; then the disputed one before the agreed one.
    task = assignment_claim(project=project, annotator=newcomer)
    assert task.prompt.pk == fresh.pk
    assignment_skip(assignment_id=task.assignment.pk, annotator=newcomer)
    assert assignment_claim(project=project, annotator=newcomer).prompt.pk == disputed.pk


def test_coverage_orders_by_nothing_but_counts_and_a_change_of_strategy_reorders_the_queue(
    db, annotator, django_capture_on_commit_callbacks, celery_eager
):
    project = Project.objects.create(name="Switch", rankings_per_prompt=1, acquisition_exploration=0.0)
    prompts = unranked(project, 4)
    for n, prompt in enumerate(prompts):  # figures as a refresh leaves them: the last prompt the least sure
        Prompt.objects.filter(pk=prompt.pk).update(model_uncertainty=0.1 * n)
    assert acquisition_priorities_apply(project_id=project.pk) == 0
    assert not Prompt.objects.filter(claim_priority__isnull=False).exists()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        project_update(project=project, acquisition_strategy="uncertainty")
    assert len(callbacks) == 2  # the signal, then the task it enqueues
    order = list(Prompt.objects.order_by("-claim_priority").values_list("pk", flat=True))
    assert order == [prompt.pk for prompt in reversed(prompts)]

    with django_capture_on_commit_callbacks(execute=True):
        project_update(project=project, acquisition_strategy="coverage")
    assert not Prompt.objects.filter(claim_priority__isnull=False).exists()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        project_update(project=project, name="Renamed")
    assert callbacks == []  # nothing about the queue changed


def test_a_scored_strategy_without_any_evidence_keeps_coverage_order(db, annotator):
    project = Project.objects.create(name="No model", rankings_per_prompt=1, acquisition_strategy="mixed")
    project.annotators.add(annotator)
    prompts = unranked(project, 3)
    summary = acquisition_scores_refresh(project_id=project.pk)
    assert (summary.scored, summary.prioritised) == (0, 0)
    assert assignment_claim(project=project, annotator=annotator).prompt.pk == prompts[0].pk


def test_an_unreadable_artifact_leaves_the_uncertainty_unmeasured_instead_of_failing(db, tmp_path):
    project = Project.objects.create(name="Broken", rankings_per_prompt=2, acquisition_strategy="uncertainty")
    unranked(project, 2)
    version = version_of(project, tmp_path / "missing")
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
    summary = acquisition_scores_refresh(project_id=project.pk)
    assert (summary.model_version, summary.scored, summary.prompts) == (None, 0, 2)


def test_the_mixed_strategy_explores_the_given_share_of_the_queue(db):
    project = Project.objects.create(
        name="Explore", rankings_per_prompt=1, acquisition_strategy="mixed", acquisition_exploration=0.5
    )
    prompts = [Prompt(project=project, text=f"p{n}", model_uncertainty=n / 400) for n in range(400)]
    Prompt.objects.bulk_create(prompts)
    assert acquisition_priorities_apply(project_id=project.pk) == 400
    head = list(Prompt.objects.order_by("-claim_priority").values_list("model_uncertainty", flat=True)[:100])
    explored = sum(1 for value in head if value < 0.75)  # outside the 100 most uncertain
    assert 25 <= explored <= 75


def test_the_command_refreshes_a_project_by_name(db, capsys):
    project = Project.objects.create(name="Cmd", acquisition_strategy="disagreement")
    unranked(project, 2)
    call_command("acquisition_refresh", "--project", "Cmd")
    assert json.loads(capsys.readouterr().out)["prompts"] == 2
    call_command("acquisition_refresh", "--project", "Cmd", "--no-rescore")
    assert json.loads(capsys.readouterr().out)["prioritised"] == 0
    with pytest.raises(CommandError, match="no project named 'Nope'"):
        call_command("acquisition_refresh", "--project", "Nope")
