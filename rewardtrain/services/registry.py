"""The model registry: register a succeeded run's artifact, promote it if it is better, pin, roll back.

Promotion compares like with like: the new version and the active one are both scored on the new
run's held-out prompts, and the new one becomes active only if its ``TRAINING_PROMOTION_METRIC``
(default pairwise accuracy) is strictly better and, with ``TRAINING_PROMOTION_REQUIRE_LENGTH_BALANCED``
(the default), its length-balanced accuracy is not lower than the active one's. A pinned active
version is never replaced automatically. Every switch happens in one transaction that locks the
project row, deactivates the old version and activates the new one (a partial unique index allows one
active version per project), and writes a ModelActivation row, so the history can be read back and rolled back.

Example::

    from rewardtrain.services.registry import model_version_activate, model_version_rollback

    model_version_activate(version=older, user=admin, pinned=True)   # pin an older version
    model_version_rollback(project=project, user=admin)              # back to the one before
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from annotate.models import Project
from rewardtrain.models import ModelActivation, ModelVersion, TrainingRun
from rewardtrain.services.acquisition import acquisition_refresh_enqueue
from rewardtrain.services.serving import model_watcher

logger = logging.getLogger(__name__)


class RegistryConflict(Exception):
    """The requested switch is not possible (e.g. nothing to roll back to)."""


def held_out_metrics(artifact_path: str, eval_records: list[Any]) -> dict[str, Any]:
    """Metrics (calibration bins included) of the artifact on ``eval_records``, scored the way serving scores."""
    from rewardtrain.core.evaluate import metrics_from_scores
    from rewardtrain.core.scoring import RewardScorer

    scorer = RewardScorer.load(artifact_path, device="cpu")
    scores = scorer.score(eval_records)
    return metrics_from_scores(eval_records, scores)


def is_better(new: float | None, old: float | None, *, metric: str) -> bool:
    if new is None:
        return False
    if old is None:
        return True
    return new < old if metric in settings.TRAINING_LOWER_IS_BETTER else new > old


LENGTH_BALANCED = "length_balanced_accuracy"


def length_balanced_refusal(new: dict[str, Any], active: dict[str, Any], decision: dict[str, Any]) -> str | None:
    """Why the new version may not replace the active one on length-balanced accuracy, or None.

    Only when the setting asks for it and both values exist (held-out data where the preferred reply is
    always the longer, or always the shorter, leaves the metric undefined). Records both in ``decision``.
    """
    if not settings.TRAINING_PROMOTION_REQUIRE_LENGTH_BALANCED:
        return None
    new_value, active_value = new.get(LENGTH_BALANCED), active.get(LENGTH_BALANCED)
    decision["length_balanced"] = {"new": new_value, "active": active_value}
    if new_value is None or active_value is None or new_value >= active_value:
        return None
    return f"{LENGTH_BALANCED} {new_value:.4f} is worse than the active version's {active_value:.4f}"


def model_version_register(
    *, run: TrainingRun, eval_records: list[Any], finish_run: Callable[[], bool] | None = None
) -> ModelVersion | None:
    """Register ``run``'s artifact as the project's next version; promote it if it beats the active one.

    Both models are scored first (slow, outside any transaction). Then one transaction calls
    ``finish_run`` (the run's conditional running -> succeeded update), creates the version and
    switches the active one: a run is never seen succeeded without its version. If ``finish_run``
    returns False (the run was reaped or cancelled meanwhile), nothing is registered and None returned.
    """
    metric = settings.TRAINING_PROMOTION_METRIC
    new_metrics = held_out_metrics(run.artifact_path, eval_records) if eval_records else {}
    active = ModelVersion.objects.filter(project_id=run.project_id, is_active=True).first()
    decision: dict[str, Any] = {"metric": metric, "eval_records": len(eval_records), "new": new_metrics.get(metric)}
    active_metrics: dict[str, Any] = {}
    if active is not None and eval_records:
        try:
            decision["active_version"] = active.version
            active_metrics = held_out_metrics(active.artifact_path, eval_records)
            decision["active"] = active_metrics.get(metric)
        except Exception as error:  # the active artifact is gone or unreadable: it cannot defend its place
            logger.warning("could not score active version %s: %s", active.pk, error)
            decision["active"] = None
            decision["active_error"] = str(error)[:500]
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=run.project_id)
        if finish_run is not None and not finish_run():
            return None
        number = (ModelVersion.objects.filter(project_id=run.project_id).aggregate(top=Max("version"))["top"] or 0) + 1
        version = ModelVersion.objects.create(
            project_id=run.project_id,
            run=run,
            version=number,
            artifact_path=run.artifact_path,
            base_model=run.config.get("model", ""),
            metrics=new_metrics,
        )
        current = ModelVersion.objects.filter(project_id=run.project_id, is_active=True).first()
        if current is None:
            promote, reason = True, "no active version"
        elif current.pinned:
            promote, reason = False, f"active version {current.version} is pinned"
        elif active is None or current.pk != active.pk:
            promote, reason = False, "the active version changed while this one was evaluated"
        elif not eval_records:
            promote, reason = False, "no held-out prompts to compare on"
        elif refusal := length_balanced_refusal(new_metrics, active_metrics, decision):
            promote, reason = False, refusal
        elif is_better(decision["new"], decision.get("active"), metric=metric):
            promote, reason = True, f"{metric} {decision['new']:.4f} beats {_format(decision.get('active'))}"
        else:
            promote = False
            reason = f"{metric} {_format(decision['new'])} does not beat {_format(decision.get('active'))}"
        decision.update(promoted=promote, reason=reason)
        version.promotion = decision
        version.save(update_fields=["promotion"])
        if promote:
            _switch(project_id=run.project_id, to=version, reason=ModelActivation.Reason.PROMOTED, note=reason)
    version.refresh_from_db()
    return version


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _switch(*, project_id: int, to: ModelVersion, reason: str, user=None, note: str = "", pinned: bool = False) -> None:
    """Deactivate the project's active version and activate ``to``; the caller holds the project lock."""
    previous = ModelVersion.objects.filter(project_id=project_id, is_active=True).exclude(pk=to.pk).first()
    # Deactivate first: the partial unique index admits one active row at every statement.
    ModelVersion.objects.filter(project_id=project_id, is_active=True).exclude(pk=to.pk).update(
        is_active=False, pinned=False
    )
    ModelVersion.objects.filter(pk=to.pk).update(is_active=True, pinned=pinned)
    from rewardtrain.services.quality import completion_scores_dispatch

    # Model agreement (annotator quality) reads the active version's scores of the ranked completions.
    transaction.on_commit(lambda: completion_scores_dispatch(version_id=to.pk))
    ModelActivation.objects.create(
        project_id=project_id,
        version=to,
        previous=previous,
        reason=reason,
        activated_by=user if getattr(user, "is_authenticated", False) else None,
        note=note,
    )
    # This process's serving watcher loads the new version at once; the others see it at their next look.
    transaction.on_commit(model_watcher.poke)
    # The new model re-orders the annotation queue (active learning), once the switch is committed.
    acquisition_refresh_enqueue(project_id=project_id, rescore=True)


def model_version_activate(*, version: ModelVersion, user=None, pinned: bool | None = None) -> ModelVersion:
    """Make ``version`` the active one (a rollback when it is older than the active one).

    ``pinned=True`` keeps it active whatever later runs score; ``pinned=False`` lets promotion
    replace it again; None keeps the current pin (pinned when switching manually).
    """
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=version.project_id)
        version.refresh_from_db()
        if version.is_active:
            if pinned is not None and pinned != version.pinned:
                ModelVersion.objects.filter(pk=version.pk).update(pinned=pinned)
        else:
            current = ModelVersion.objects.filter(project_id=version.project_id, is_active=True).first()
            reason = (
                ModelActivation.Reason.ROLLBACK
                if current is not None and version.version < current.version
                else ModelActivation.Reason.MANUAL
            )
            # A manual choice sticks unless the admin says otherwise: automatic promotion won't undo it.
            _switch(
                project_id=version.project_id,
                to=version,
                reason=reason,
                user=user,
                pinned=True if pinned is None else pinned,
            )
    version.refresh_from_db()
    return version


def model_version_rollback(*, project: Project, user=None) -> ModelVersion:
    """Activate the version that was active before the current one (from the activation history)."""
    last = ModelActivation.objects.filter(project=project, previous__isnull=False).select_related("previous").first()
    if last is None:
        raise RegistryConflict("no earlier active version to roll back to")
    return model_version_activate(version=last.previous, user=user)
