"""Scoring with a project's active reward model, for the web process and ``serve_rewards`` alike.

Each serving process keeps the scorers it loaded, keyed by model version id, and loads them before any
caller has to wait (``SCORING_PRELOAD``, default "active"):

- **At start.** ``config/wsgi.py`` (every web worker under granian or gunicorn) and ``serve_rewards``
  call :func:`serving_warm_start`: the active models load before the process serves its first request.
- **On activation, in every process.** A background :class:`ModelWatcher` in each serving process looks
  every ``SCORING_WATCH_SECONDS`` (one small query on the active versions) for a version it does not
  hold, loads it in the background and then switches over; the process that activates a version wakes
  its own watcher at once. Until the new model is ready, requests are answered by the project's
  previous model, and every answer says which version answered (``model_version``).
- Without a watcher (``SCORING_PRELOAD=off``, a shell, a test), a request that finds its model missing
  loads it, as before.

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

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connections

from annotate.models import Project
from rewardtrain.models import ModelVersion

logger = logging.getLogger(__name__)

MAX_CACHED_SCORERS = 4  # one per project served by this process, the least recently used dropped


class NoActiveModel(Exception):
    """The project has no active model version yet."""


@dataclass(frozen=True)
class ServedVersion:
    """What answered a request: the version's id and number, and its loaded scorer (a MicroBatcher)."""

    id: int
    version: int
    project_id: int
    batcher: Any


class _ScorerCache:
    def __init__(self) -> None:
        self.scorers: OrderedDict[int, ServedVersion] = OrderedDict()  # version id -> loaded scorer
        self.served: dict[int, int] = {}  # project id -> the version id this process answers with
        self.loading = threading.Lock()  # held while an artifact loads
        self._lock = threading.Lock()  # held while the dicts change (requests and the watcher share them)

    def ready(self, version_id: int) -> ServedVersion | None:
        """The version's scorer if this process holds it (never loads)."""
        return self.scorers.get(version_id)

    def get(self, version: ModelVersion) -> ServedVersion:
        """The version's scorer, loaded on first use (once, even when requests arrive together)."""
        entry = self.scorers.get(version.pk)
        if entry is None:
            with self.loading:
                entry = self.scorers.get(version.pk)
                if entry is None:
                    from rewardtrain.core.scoring import MicroBatcher, RewardScorer

                    scorer = RewardScorer.load(
                        version.artifact_path, device=settings.SCORING_DEVICE, precision=settings.SCORING_PRECISION
                    )
                    batcher = MicroBatcher(
                        scorer,
                        max_sequences=settings.SCORING_BATCH_SEQUENCES,
                        gather_seconds=settings.SCORING_GATHER_MS / 1000,
                    )
                    entry = ServedVersion(version.pk, version.version, version.project_id, batcher)
                    with self._lock:
                        self.scorers[version.pk] = entry
                        while len(self.scorers) > MAX_CACHED_SCORERS:
                            self.scorers.popitem(last=False)
        with self._lock:
            if version.pk in self.scorers:
                self.scorers.move_to_end(version.pk, last=True)
        return entry

    def serving(self, project_id: int) -> ServedVersion | None:
        """The version this process answered the project with last, if it still holds it."""
        version_id = self.served.get(project_id)
        return self.scorers.get(version_id) if version_id is not None else None

    def serve(self, entry: ServedVersion) -> None:
        """Answer the project with ``entry`` from now on; its other versions are dropped."""
        if self.served.get(entry.project_id) == entry.id:
            return
        with self._lock:
            for version_id, other in list(self.scorers.items()):
                if other.project_id == entry.project_id and version_id != entry.id:
                    self.scorers.pop(version_id, None)
            self.served[entry.project_id] = entry.id

    def clear(self) -> None:
        with self._lock:
            self.scorers.clear()
            self.served.clear()


scorer_cache = _ScorerCache()


class ModelWatcher:
    """Keeps a serving process's active models loaded: :meth:`check` once, or every few seconds in a thread.

    One per process (``model_watcher``). The thread survives a fork (gunicorn ``--preload``): the child
    starts its own. A version that fails to load is logged once and not retried (requests then try and
    answer the error).
    """

    def __init__(self) -> None:
        self.projects: set[int] | None = None  # None: every project's active model
        self.interval = 2.0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._failed: dict[int, str] = {}  # version id -> error
        self._last_error = ""
        self._fork_hook = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def check(self) -> list[ServedVersion]:
        """Load the active versions this process does not hold yet, switch to them; return what it serves."""
        active = ModelVersion.objects.filter(is_active=True).only("id", "version", "artifact_path", "project_id")
        if self.projects is not None:
            active = active.filter(project_id__in=self.projects)
        served = []
        for version in active.order_by("project_id")[:MAX_CACHED_SCORERS]:
            entry = scorer_cache.ready(version.pk)
            if entry is None:
                if version.pk in self._failed:
                    continue
                try:
                    entry = scorer_cache.get(version)
                except Exception as error:
                    self._failed[version.pk] = str(error)
                    logger.warning("scoring: version %s of project %s did not load: %s", version.version,
                                   version.project_id, error)  # fmt: skip
                    continue
                logger.info("scoring: loaded version %s of project %s (pid %s)", version.version,
                            version.project_id, os.getpid())  # fmt: skip
            scorer_cache.serve(entry)
            served.append(entry)
        return served

    def start(self, *, projects: set[int] | None = None, interval: float | None = None) -> None:
        """Watch in a daemon thread (idempotent)."""
        self.projects = projects
        self.interval = settings.SCORING_WATCH_SECONDS if interval is None else interval
        if self.running:
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name="rewardtrain-model-watcher", daemon=True)
        self._thread.start()
        if not self._fork_hook:
            os.register_at_fork(after_in_child=self._restart_in_child)
            self._fork_hook = True

    def _restart_in_child(self) -> None:
        if self._thread is not None:  # the parent watched: so does the child (its thread did not survive)
            self._thread = None
            self.start(projects=self.projects, interval=self.interval)

    def poke(self) -> None:
        """Look now instead of at the next tick (after an activation in this process)."""
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                close_old_connections()
                self.check()
                self._last_error = ""
            except Exception as error:  # the database is away or not migrated yet: say so once, keep trying
                if str(error) != self._last_error:
                    logger.warning("scoring: cannot read the active models (%s); retrying", error)
                    self._last_error = str(error)


model_watcher = ModelWatcher()


def serving_warm_start(*, projects: set[int] | None = None, preload: str | None = None) -> list[ServedVersion]:
    """Load the active models now, before this process serves, and watch for activations.

    For ``config/wsgi.py`` and ``serve_rewards`` (which always preloads); ``preload`` defaults to
    ``SCORING_PRELOAD``, and "off" does nothing. Never raises for the database: one that is not there
    yet is retried by the watcher.
    """
    preload = settings.SCORING_PRELOAD if preload is None else preload
    if preload == "off":
        return []
    if preload != "active":
        raise ValueError(f"SCORING_PRELOAD must be 'active' or 'off', got {preload!r}")
    served: list[ServedVersion] = []
    model_watcher.projects = projects
    try:
        served = model_watcher.check()
    except Exception as error:
        logger.warning("scoring: could not load the active models at start (%s); the watcher retries", error)
    finally:
        connections.close_all()  # this thread serves no requests: do not keep its connection open
    model_watcher.start(projects=projects)
    return served


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


def _score(project: Project | int, call) -> tuple[Any, ServedVersion]:
    version = active_version(project=project)
    entry = scorer_cache.ready(version.pk)
    if entry is None:
        previous = scorer_cache.serving(version.project_id)
        if previous is not None and model_watcher.running:
            model_watcher.poke()  # the watcher loads the new version; the previous one answers meanwhile
            return call(previous.batcher), previous
        entry = scorer_cache.get(version)  # first use without a warm model: load it now
    scorer_cache.serve(entry)
    return call(entry.batcher), entry


def _check_size(count: int) -> None:
    if count == 0:
        raise ValidationError("nothing to score")
    if count > settings.SCORING_MAX_COMPLETIONS:
        raise ValidationError(
            f"{count} completions in one request; at most {settings.SCORING_MAX_COMPLETIONS} (split the request)"
        )


def rewards_score(
    *,
    project: Project | int,
    items: list[dict[str, Any]],
    with_uncertainty: bool = False,
    include_style: bool = False,
) -> dict[str, Any]:
    """Rewards for ``[{"prompt", "context"?, "completions": [...]}]`` from the active model.

    ``with_uncertainty``: also each reward's uncertainty (``uncertainties``, the same shape as ``rewards``:
    the spread of the model's bootstrap heads). ``include_style``: a style-controlled model's preference
    including style (``r + beta . s``) instead of the content reward it serves by default. Either asked of a
    model trained without it is a ValidationError that names the version.
    """
    _check_size(sum(len(item["completions"]) for item in items))

    def score(batcher: Any) -> Any:
        from rewardtrain.core.scoring import NotTrainedFor  # loaded with the batcher: no torch at import

        try:  # the batcher checks what is asked before it queues a forward
            return batcher.score(items, with_uncertainty=with_uncertainty, include_style=include_style)
        except NotTrainedFor as error:
            raise ValidationError(f"the active model cannot answer this: {error}") from error

    result, served = _score(project, score)
    if with_uncertainty:
        answer = {"rewards": result.rewards, "uncertainties": result.uncertainties}
    else:
        answer = {"rewards": result}
    return {**answer, "model_version": served.version, "model_version_id": served.id}


def rewards_for_texts(*, project: Project | int, texts: list[str]) -> dict[str, Any]:
    """OpenRLHF ``/get_reward``: one reward per full (prompt + response) text."""
    _check_size(len(texts))
    rewards, served = _score(project, lambda batcher: batcher.score_texts(texts))
    return {"rewards": rewards, "model_version": served.version, "model_version_id": served.id}
