"""Celery tasks of annotate: each takes an import job's id and calls one service."""

from __future__ import annotations

from celery import shared_task

from annotate.services import import_jobs


@shared_task(ignore_result=True, acks_late=True)
def import_job_check_task(job_id: int) -> str | None:
    """Read and check an uploaded file in full; fill the job's preview (a duplicate delivery does nothing)."""
    job = import_jobs.import_job_check(job_id=job_id)
    return None if job is None else job.state


@shared_task(ignore_result=True, acks_late=True)
def import_job_run_task(job_id: int) -> str | None:
    """Import a checked file in one transaction, writing progress as it goes."""
    job = import_jobs.import_job_run(job_id=job_id)
    return None if job is None else job.state
