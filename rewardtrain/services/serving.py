"""Scoring with a project's active reward model, for the web process and ``serve_rewards`` alike.

Each process keeps the scorers it loaded, keyed by model version id. Every request makes one cheap
query for the project's active version id; when it differs from the one this process served last (a
promotion, a rollback), the new artifact is loaded once and the project's other scorers dropped.
Requests are tokenized in their own threads, then go through the scorer's
:class:`~rewardtrain.core.scoring.MicroBatcher`: one forward at a time (on a CPU, concurrent forwards
only fight over the same cores), and the completions of requests that arrive while one runs are scored
together in the next (up to ``SCORING_BATCH_SEQUENCES``). The model runs at the artifact's inference
precision (``SCORING_PRECISION``, default auto: bf16 weights where the device supports it).

Example::

    from rewardtrain.services.serving import rewards_score

    rewards_score(project=project, items=[{"prompt": "2+2?", "completions": ["4", "5"]}])
    # {"rewards": [[1.3, -0.9]], "model_version": 3, "model_version_id": 17}
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from annotate.models import Project
from rewardtrain.models import ModelVersion

MAX_CACHED_SCORERS = 4  # one per project served by this process, the least recently used dropped


class NoActiveModel(Exception):
    """The project has no active model version yet."""


class _ScorerCache:
    def __init__(self) -> None:
        self.scorers: OrderedDict[int, Any] = OrderedDict()  # version id -> MicroBatcher
        self.served: dict[int, int] = {}  # project id -> the version id its last request used
        self.loading = threading.Lock()

    def get(self, version_id: int, artifact_path: str) -> Any:
        """The version's MicroBatcher (loaded on first use)."""
        entry = self.scorers.get(version_id)
        if entry is None:
            with self.loading:  # load each artifact once, even when requests arrive together
                entry = self.scorers.get(version_id)
                if entry is None:
                    from rewardtrain.core.scoring import MicroBatcher, RewardScorer

                    scorer = RewardScorer.load(
                        artifact_path, device=settings.SCORING_DEVICE, precision=settings.SCORING_PRECISION
                    )
                    entry = MicroBatcher(
                        scorer,
                        max_sequences=settings.SCORING_BATCH_SEQUENCES,
                        gather_seconds=settings.SCORING_GATHER_MS / 1000,
                    )
                    self.scorers[version_id] = entry
                    while len(self.scorers) > MAX_CACHED_SCORERS:
                        self.scorers.popitem(last=False)
        self.scorers.move_to_end(version_id, last=True)
        return entry

    def drop_others(self, project_versions: set[int], keep: int) -> None:
        for version_id in list(self.scorers):
            if version_id in project_versions and version_id != keep:
                self.scorers.pop(version_id, None)

    def clear(self) -> None:
        self.scorers.clear()
        self.served.clear()


scorer_cache = _ScorerCache()


def active_version(*, project: Project | int) -> ModelVersion:
    """The project's active version (id, number, artifact path only); NoActiveModel if none."""
    project_id = project if isinstance(project, int) else project.pk
    version = (
        ModelVersion.objects.filter(project_id=project_id, is_active=True)
        .only("id", "version", "artifact_path", "project_id")
        .first()
    )
    if version is None:
        raise NoActiveModel(
            "this project has no active reward model yet: train one (POST /api/v1/projects/{id}/training-runs) "
            "or activate a version"
        )
    return version


def _score(project: Project | int, call) -> tuple[Any, ModelVersion]:
    version = active_version(project=project)
    batcher = scorer_cache.get(version.pk, version.artifact_path)
    if scorer_cache.served.get(version.project_id) != version.pk:  # first request, or the active one changed
        stale = set(ModelVersion.objects.filter(project_id=version.project_id).values_list("id", flat=True))
        scorer_cache.drop_others(stale, keep=version.pk)
        scorer_cache.served[version.project_id] = version.pk
    return call(batcher), version


def _check_size(count: int) -> None:
    if count == 0:
        raise ValidationError("nothing to score")
    if count > settings.SCORING_MAX_COMPLETIONS:
        raise ValidationError(
            f"{count} completions in one request; at most {settings.SCORING_MAX_COMPLETIONS} (split the request)"
        )


def rewards_score(*, project: Project | int, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Rewards for ``[{"prompt", "context"?, "completions": [...]}]`` from the active model."""
    _check_size(sum(len(item["completions"]) for item in items))
    rewards, version = _score(project, lambda batcher: batcher.score(items))
    return {"rewards": rewards, "model_version": version.version, "model_version_id": version.pk}


def rewards_for_texts(*, project: Project | int, texts: list[str]) -> dict[str, Any]:
    """OpenRLHF ``/get_reward``: one reward per full (prompt + response) text."""
    _check_size(len(texts))
    rewards, version = _score(project, lambda batcher: batcher.score_texts(texts))
    return {"rewards": rewards, "model_version": version.version, "model_version_id": version.pk}
