"""The ``ranking_submitted`` hook: get each submitted ranking expanded into comparisons.

    ranking_expansion_request(ranking_id=ranking.pk)   # from the hook, after the ranking committed

Without a broker (no ``REDIS_URL``: Celery runs tasks eagerly) the expansion runs at once, in
the caller. With a broker the caller only enqueues, and in batches: each process collects the
ranking ids submitted in ``FLUSH_SECONDS`` and sends them as one ``comparisons_expand_rankings``
message from a timer thread. Publishing a Celery message costs about a millisecond of CPU,
as much as the rest of a submit request; batched, the annotator loop pays it once per batch.

Nothing is lost for good if a process dies before its timer fires, or the broker is down: the
ids are only a hint, and beat's ``comparisons_expand_all`` (every 2 minutes) expands every
ranking that has no comparisons yet.
"""

from __future__ import annotations

import atexit
import logging
import threading

from celery import current_app

FLUSH_SECONDS = 0.5

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_pending: list[int] = []
_timer: threading.Timer | None = None


def ranking_expansion_request(*, ranking_id: int) -> None:
    """Expand ``ranking_id`` now (no broker) or enqueue it with this process's next batch."""
    from rewardtrain.tasks import comparisons_expand_ranking

    global _timer
    if current_app.conf.task_always_eager:
        comparisons_expand_ranking.delay(ranking_id)
        return
    with _lock:
        _pending.append(ranking_id)
        if _timer is None:
            _timer = threading.Timer(FLUSH_SECONDS, ranking_expansion_flush)
            _timer.daemon = True
            _timer.start()


def ranking_expansion_flush() -> int:
    """Send the pending ids as one message; returns how many. Called by the timer and at exit."""
    from rewardtrain.tasks import comparisons_expand_rankings

    global _timer
    with _lock:
        ranking_ids = list(_pending)
        _pending.clear()
        _timer = None
    if ranking_ids:
        try:
            comparisons_expand_rankings.delay(ranking_ids)
        except Exception:  # the broker is down: beat's comparisons_expand_all catches up
            logger.exception("could not enqueue the expansion of %d rankings", len(ranking_ids))
    return len(ranking_ids)


atexit.register(ranking_expansion_flush)
