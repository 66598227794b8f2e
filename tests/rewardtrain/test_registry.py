"""The model registry: versions, promotion on the same held-out prompts, pin and rollback."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from annotate.models import Project
from rewardtrain.models import ModelActivation, ModelVersion, TrainingRun
from rewardtrain.services import registry


@pytest.fixture
def project(db) -> Project:
    return Project.objects.create(name="Registry")


@pytest.fixture
def scores(monkeypatch) -> dict[str, float]:
    """Held-out accuracy by artifact path: the tests decide how good each model is."""
    table: dict[str, float] = {}
    monkeypatch.setattr(
        registry, "held_out_metrics", lambda path, records: {"pairwise_accuracy": table[path], "calibration_bins": []}
    )
    return table


def succeeded_run(project: Project, artifact: str) -> TrainingRun:
    return TrainingRun.objects.create(
        project=project, state=TrainingRun.State.SUCCEEDED, artifact_path=artifact, config={"model": "m"}
    )


EVAL = ["one held-out record"]


def test_the_first_version_becomes_active(project, scores):
    scores["a"] = 0.6
    version = registry.model_version_register(run=succeeded_run(project, "a"), eval_records=EVAL)
    assert version.version == 1 and version.is_active
    assert ModelActivation.objects.get().reason == ModelActivation.Reason.PROMOTED


def test_a_better_version_replaces_the_active_one_atomically(project, scores):
    scores.update(a=0.6, b=0.7)
    first = registry.model_version_register(run=succeeded_run(project, "a"), eval_records=EVAL)
    second = registry.model_version_register(run=succeeded_run(project, "b"), eval_records=EVAL)
    first.refresh_from_db()
    assert second.is_active and not first.is_active
    assert second.promotion["active"] == 0.6 and second.promotion["new"] == 0.7
    assert ModelActivation.objects.first().previous == first


def test_promotion_is_refused_for_a_worse_or_equal_model(project, scores):
    scores.update(a=0.7, b=0.6, c=0.7)
    first = registry.model_version_register(run=succeeded_run(project, "a"), eval_records=EVAL)
    worse = registry.model_version_register(run=succeeded_run(project, "b"), eval_records=EVAL)
    equal = registry.model_version_register(run=succeeded_run(project, "c"), eval_records=EVAL)
    first.refresh_from_db()
    assert first.is_active and not worse.is_active and not equal.is_active
    assert worse.promotion["promoted"] is False and "does not beat" in worse.promotion["reason"]
    assert (worse.version, equal.version) == (2, 3)


def test_lower_is_better_metrics_are_compared_downwards(project, monkeypatch, settings):
    settings.TRAINING_PROMOTION_METRIC = "log_loss"
    table = {"a": 0.6, "b": 0.5}
    monkeypatch.setattr(registry, "held_out_metrics", lambda path, records: {"log_loss": table[path]})
    registry.model_version_register(run=succeeded_run(project, "a"), eval_records=EVAL)
    assert registry.model_version_register(run=succeeded_run(project, "b"), eval_records=EVAL).is_active


def test_a_pinned_version_stays_active_whatever_a_new_run_scores(project, scores):
    scores.update(a=0.5, b=0.9)
    first = registry.model_version_register(run=succeeded_run(project, "a"), eval_records=EVAL)
    registry.model_version_activate(version=first, pinned=True)
    better = registry.model_version_register(run=succeeded_run(project, "b"), eval_records=EVAL)
    assert not better.is_active and "pinned" in better.promotion["reason"]


def test_activating_an_older_version_is_a_rollback_and_rollback_returns_to_the_previous(project, scores, admin_user):
    scores.update(a=0.5, b=0.6)
    first = registry.model_version_register(run=succeeded_run(project, "a"), eval_records=EVAL)
    second = registry.model_version_register(run=succeeded_run(project, "b"), eval_records=EVAL)
    rolled = registry.model_version_rollback(project=project, user=admin_user)
    assert rolled == first and rolled.is_active and rolled.pinned
    activation = ModelActivation.objects.first()
    assert activation.reason == ModelActivation.Reason.ROLLBACK and activation.activated_by == admin_user
    second.refresh_from_db()
    assert not second.is_active
    registry.model_version_activate(version=second, pinned=False)
    assert ModelVersion.objects.get(is_active=True) == second
    assert ModelActivation.objects.count() == 4  # promoted, promoted, rollback, manual: history is kept


def test_rollback_without_history_is_refused(project):
    with pytest.raises(registry.RegistryConflict):
        registry.model_version_rollback(project=project)


def test_the_database_allows_one_active_version_per_project(project):
    ModelVersion.objects.create(project=project, version=1, artifact_path="a", is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(project=project, version=2, artifact_path="b", is_active=True)


@pytest.fixture
def length_scores(monkeypatch) -> dict[str, tuple[float, float | None]]:
    """(accuracy, length-balanced accuracy) by artifact path."""
    table: dict[str, tuple[float, float | None]] = {}
    monkeypatch.setattr(
        registry,
        "held_out_metrics",
        lambda path, records: {"pairwise_accuracy": table[path][0], "length_balanced_accuracy": table[path][1]},
    )
    return table


def test_a_more_accurate_version_that_is_worse_length_balanced_is_not_promoted(project, length_scores):
    length_scores.update(a=(0.60, 0.58), b=(0.70, 0.52), c=(0.65, 0.58))
    first = registry.model_version_register(run=succeeded_run(project, "a"), eval_records=EVAL)
    length_detector = registry.model_version_register(run=succeeded_run(project, "b"), eval_records=EVAL)
    assert not length_detector.is_active
    assert "length_balanced_accuracy 0.5200 is worse" in length_detector.promotion["reason"]
    assert length_detector.promotion["length_balanced"] == {"new": 0.52, "active": 0.58}
    level = registry.model_version_register(run=succeeded_run(project, "c"), eval_records=EVAL)
    first.refresh_from_db()
    assert level.is_active and not first.is_active  # as good length-balanced, more accurate


def test_the_length_balanced_requirement_can_be_switched_off_and_needs_both_values(project, length_scores, settings):
    length_scores.update(a=(0.60, 0.58), b=(0.70, None), c=(0.75, 0.40))
    registry.model_version_register(run=succeeded_run(project, "a"), eval_records=EVAL)
    assert registry.model_version_register(run=succeeded_run(project, "b"), eval_records=EVAL).is_active
    settings.TRAINING_PROMOTION_REQUIRE_LENGTH_BALANCED = False
    assert registry.model_version_register(run=succeeded_run(project, "c"), eval_records=EVAL).is_active
