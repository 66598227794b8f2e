"""Import by upload: a file the admin drops on the import page, checked in full (a preview of what it
will create), then imported by a Celery worker while the page follows its progress.

    job = import_job_create(project=project, upload=request.FILES["file"], format=None, created_by=request.user)
    # a worker: import_job_check(job_id=job.pk)  -> state "checked", job.preview filled
    import_job_start(job=job)
    # a worker: import_job_run(job_id=job.pk)    -> state "done", job.result filled

The check and the import are ``annotate.services.imports.source_check`` and ``prompts_import``, the same
code the command line and the API run: same formats, same rules, the line and field of the first bad
record, nothing written on a bad file. The uploaded file waits under ``settings.IMPORT_UPLOAD_DIR`` and
is deleted once the job ends. Each step claims the job with a conditional update, so a task delivered
twice does its work once. Progress is written from a thread of its own (with its own database
connection), because the import writes in one transaction that the page must not wait for.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from annotate.importers.formats import PromptRow
from annotate.models import ImportJob, Project, Prompt
from annotate.services.imports import (
    FORMATS,
    CheckedSource,
    ImportFailed,
    order_comparisons,
    prompts_import,
    source_check,
)

logger = logging.getLogger(__name__)

PREVIEW_RECORDS = 5  # records shown on the preview
PREVIEW_CHARS = 600  # of each text shown there
PROGRESS_WRITE_SECONDS = 0.5
HEARTBEAT_SECONDS = 5  # the job's row is touched at least this often while a worker holds it
STALE_SECONDS = 120  # a held job not touched for this long lost its worker
T = TypeVar("T")


def import_job_create(
    *, project: Project, upload: UploadedFile, format: str | None, created_by: AbstractBaseUser | None
) -> ImportJob:
    """Keep the upload and queue its check. Raises ValidationError for a bad format or size."""
    if format and format not in FORMATS:
        raise ValidationError({"format": f"must be one of {', '.join(FORMATS)}"})
    if not upload.size:
        raise ValidationError({"file": "the file is empty"})
    if upload.size > settings.IMPORT_UPLOAD_MAX_BYTES:
        raise ValidationError(
            {"file": f"the file is {upload.size:,} bytes; the limit is {settings.IMPORT_UPLOAD_MAX_BYTES:,}"}
        )
    folder = Path(settings.IMPORT_UPLOAD_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}.upload"  # never the uploaded name: it is not a safe path
    with open(stored, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    job = ImportJob.objects.create(
        project=project,
        created_by=created_by,
        file_name=Path(upload.name or "upload").name[:255],
        file_size=upload.size,
        stored_path=str(stored),
        format=format or "",
        state=ImportJob.State.CHECKING,
        progress={"phase": "checking", "done": 0, "total": None, "fraction": 0.0},
    )
    _enqueue("import_job_check_task", job.pk)
    return job


def import_job_check(*, job_id: int) -> ImportJob | None:
    """Read and check the whole file, writing nothing; fill the preview (state ``checked``) or the
    error (``failed``). Returns None when the job was not waiting for its check (a second delivery)."""
    job = _claim(job_id, ImportJob.State.CHECKING)
    if job is None:
        return None
    checked = _on_upload(
        job,
        "checking",
        lambda file, progress: source_check(
            project=job.project, source=file, format=job.format or None, progress=progress
        ),
    )
    if checked is None:
        return job
    preview = import_preview(project=job.project, checked=checked)
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJob.State.CHECKED,
        format=checked.format,
        preview=preview,
        claimed_at=None,
        progress={"phase": "checking", "done": len(checked.rows), "total": len(checked.rows), "fraction": 1.0},
        updated_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


@transaction.atomic
def import_job_start(*, job: ImportJob) -> ImportJob:
    """The admin confirmed the preview: queue the import."""
    started = ImportJob.objects.filter(pk=job.pk, state=ImportJob.State.CHECKED).update(
        state=ImportJob.State.IMPORTING,
        progress={"phase": "writing", "done": 0, "total": job.preview.get("prompts_new"), "fraction": 0.0},
        updated_at=timezone.now(),
    )
    if not started:
        raise ValidationError(f"this import is {job.get_state_display().lower()}, not waiting to be started")
    _enqueue("import_job_run_task", job.pk)
    job.refresh_from_db()
    return job


@transaction.atomic
def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """Drop a checked (or failed) job and its file; a job being checked or imported cannot be cancelled."""
    cancelled = ImportJob.objects.filter(pk=job.pk, state__in=[ImportJob.State.CHECKED, ImportJob.State.FAILED]).update(
        state=ImportJob.State.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now()
    )
    if not cancelled:
        raise ValidationError(f"this import is {job.get_state_display().lower()}; it cannot be cancelled")
    job.refresh_from_db()
    _file_remove(job)
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Import the checked file in one transaction (state ``done`` with the result, or ``failed`` with
    nothing written). Returns None when the job was not waiting to be imported."""
    job = _claim(job_id, ImportJob.State.IMPORTING)
    if job is None:
        return None
    result = _on_upload(
        job,
        "writing",
        lambda file, progress: prompts_import(
            project=job.project, source=file, format=job.format or None, progress=progress
        ),
    )
    if result is None:  # the file changed since its check, or the project did
        return job
    total = result.prompts_created + result.prompts_existing
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJob.State.DONE,
        result={**result.as_dict(), "summary": result.summary()},
        progress={"phase": "writing", "done": total, "total": total, "fraction": 1.0},
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    job.refresh_from_db()
    _file_remove(job)
    return job


def import_job_is_stale(*, job: ImportJob) -> bool:
    """A worker holds the job but has not touched it for STALE_SECONDS: it probably died."""
    return bool(
        job.is_running and job.claimed_at and job.updated_at < timezone.now() - timedelta(seconds=STALE_SECONDS)
    )


def import_preview(*, project: Project, checked: CheckedSource, limit: int = PREVIEW_RECORDS) -> dict[str, Any]:
    """The first records as the project will get them, and the counts the import will create."""
    existing: set[str] = set()
    ids = [row.external_id for row in checked.rows]
    for start in range(0, len(ids), 5000):
        existing.update(
            Prompt.objects.filter(project=project, external_id__in=ids[start : start + 5000]).values_list(
                "external_id", flat=True
            )
        )
    new_rows = [row for row in checked.rows if row.external_id not in existing]
    ranked = [row.order for row in new_rows if row.order is not None]
    return {
        "format": checked.format,
        "records_checked": len(checked.rows),
        "prompts_new": len(new_rows),
        "prompts_existing": len(checked.rows) - len(new_rows),
        "completions": sum(len(row.completions) for row in new_rows),
        "rankings": len(ranked),
        "comparisons": sum(order_comparisons(order) for order in ranked),
        "identical_pairs_skipped": checked.result.identical_pairs_skipped,
        "empty_pairs_skipped": checked.result.empty_pairs_skipped,
        "completion_range_set": list(checked.completion_range) if checked.completion_range else None,
        "records": [
            _preview_record(row, line=line, exists=row.external_id in existing)
            for row, line in zip(checked.rows[:limit], checked.lines[:limit], strict=True)
        ],
    }


def _preview_record(row: PromptRow, *, line: int, exists: bool) -> dict[str, Any]:
    place = {position: rank for rank, group in enumerate(row.order or []) for position in group}
    return {
        "line": line,
        "exists": exists,
        "external_id": row.external_id,
        "text": row.text[:PREVIEW_CHARS],
        "context": [
            {"role": turn.get("role", ""), "text": turn.get("text", "")[:PREVIEW_CHARS]} for turn in row.context
        ],
        "completions": [
            {"text": completion.text[:PREVIEW_CHARS], "model_name": completion.model_name, "rank": place.get(position)}
            for position, completion in enumerate(row.completions)
        ],
        "ranked": row.order is not None,
    }


# --- the job's steps ----------------------------------------------------------------------------


def _enqueue(task_name: str, job_id: int) -> None:
    from annotate import tasks  # tasks import this module

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(job_id))


def _claim(job_id: int, state: str) -> ImportJob | None:
    """Take the job unless a live worker holds it. A worker that died mid-step (its transaction rolled
    back with its connection) stops beating; the task, acknowledged late, comes back and retakes it."""
    now = timezone.now()
    stale = now - timedelta(seconds=STALE_SECONDS)  # as import_job_is_stale
    claimed = (
        ImportJob.objects.filter(pk=job_id, state=state)
        .filter(Q(claimed_at__isnull=True) | Q(updated_at__lt=stale))
        .update(claimed_at=now, updated_at=now)
    )
    return ImportJob.objects.select_related("project").get(pk=job_id) if claimed else None


def _on_upload(job: ImportJob, phase: str, work: Callable[[IO[bytes], _ProgressWriter], T]) -> T | None:
    """``work(file, progress)`` on the job's upload; a bad file fails the job (None), and so does a crash
    (re-raised for the worker's log). Either way the import's transaction left nothing behind."""
    try:
        with _UploadReader(job) as upload, _ProgressWriter(job, phase, upload) as progress:
            return work(upload.file, progress)
    except ImportFailed as error:
        _fail(job, error)
        return None
    except Exception as error:
        _fail(job, ImportFailed(f"the {phase} stopped: {type(error).__name__}: {error}; nothing was imported"))
        raise


def _fail(job: ImportJob, error: ImportFailed) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportJob.State.FAILED,
        error=str(error),
        error_line=error.line,
        error_field=error.field or "",
        claimed_at=None,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    job.refresh_from_db()
    _file_remove(job)
    return job


def _file_remove(job: ImportJob) -> None:
    if job.stored_path:
        Path(job.stored_path).unlink(missing_ok=True)


class _UploadReader:
    """The stored upload, opened for the import service under the name it was uploaded with (which
    the format detection reads), and how far into it the reader is."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.file: IO[bytes]

    def __enter__(self) -> _UploadReader:
        try:
            self.file = open(self.job.stored_path, "rb")  # noqa: SIM115 - closed by __exit__
        except OSError as error:
            raise ImportFailed(f"the uploaded file is gone ({error.strerror}); upload it again", field="file") from None
        self.file.raw.name = self.job.file_name  # type: ignore[attr-defined]
        return self

    def fraction_read(self) -> float:
        try:
            return min(1.0, self.file.tell() / max(1, self.job.file_size))
        except (OSError, ValueError):
            return 0.0

    def __exit__(self, *exc: object) -> None:
        self.file.close()


class _ProgressWriter(threading.Thread):
    """The import service's ``progress`` callback; a thread writes the latest figures to the job's row
    every PROGRESS_WRITE_SECONDS on its own connection, outside the import's transaction (SQLite, which
    locks the whole database while the import writes, gets the figures after it)."""

    def __init__(self, job: ImportJob, phase: str, upload: _UploadReader) -> None:
        super().__init__(name=f"import-job-{job.pk}-progress", daemon=True)
        # Writes only while the job is still in this step: a write held up by a lock must not put old
        # figures on a job that has finished meanwhile.
        self.job_id, self.state, self.upload = job.pk, job.state, upload
        self.latest: dict[str, Any] = {"phase": phase, "done": 0, "total": None, "fraction": 0.0}
        self.written: dict[str, Any] | None = None
        self.stopped = threading.Event()

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        # While checking, the share of the file read says how far it is (the record count has no total).
        fraction = done / total if total else self.upload.fraction_read()
        self.latest = {"phase": phase, "done": done, "total": total, "fraction": round(fraction, 4)}

    def __enter__(self) -> _ProgressWriter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.join(timeout=5)

    def run(self) -> None:
        last_write = time.monotonic()
        try:
            while not self.stopped.wait(PROGRESS_WRITE_SECONDS):
                latest = self.latest
                if latest is self.written and time.monotonic() - last_write < HEARTBEAT_SECONDS:
                    continue
                try:
                    ImportJob.objects.filter(pk=self.job_id, state=self.state, claimed_at__isnull=False).update(
                        progress=latest, updated_at=timezone.now()
                    )
                    self.written, last_write = latest, time.monotonic()
                except Exception:  # SQLite locked by the import, or a busy database: the next tick retries
                    logger.debug("progress of import job %s not written", self.job_id, exc_info=True)
        finally:
            connection.close()
