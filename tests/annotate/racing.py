"""Annotators working at once, each in a thread with its own database connection (PostgreSQL races).

race(annotators, lambda annotator, number: ...)   # raises if any of them failed
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections


def race(annotators: Sequence[Any], work: Callable[[Any, int], None], *, timeout: float = 120) -> None:
    """Run ``work(annotator, number)`` for every annotator at once (a barrier releases them together);
    fail with every error they met."""
    start = threading.Barrier(len(annotators))
    errors: list[BaseException] = []

    def run(annotator: Any, number: int) -> None:
        try:
            start.wait()
            work(annotator, number)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()  # each thread had its own connection

    threads = [threading.Thread(target=run, args=(annotator, i)) for i, annotator in enumerate(annotators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not errors, errors
