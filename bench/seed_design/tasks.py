"""The seed's background task and its progress helper, as the seed guide shows them: the task
finds its RQ job with ``get_current_job()`` and reports progress through ``job.meta`` +
``save_meta()`` (``update_job_progress``), then returns a result dict."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job


def update_job_progress(connection: Redis, job_id: str, progress: int, message: str) -> None:
    """The seed's ``update_job_progress``: fetch the job, set its meta, save the meta."""
    job = Job.fetch(job_id, connection=connection)
    job.meta["progress"] = progress
    job.meta["message"] = message
    job.save_meta()


def nothing_to_categorize(company_id: str) -> dict[str, Any]:
    """What a categorize run answers for a company with nothing to categorize (both sides of
    the benchmark store this result, so their bodies are the same size)."""
    return {
        "company_id": company_id,
        "requested": 0,
        "processed": 0,
        "categorized": 0,
        "skipped": 0,
        "unknown_count": 0,
        "unknown_ids": [],
        "cancelled": False,
    }


def categorize_transactions_task(
    company_id: str,
    tenant_id: str,
    transaction_ids: list[str] | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """The benchmark's categorize: no ledger, only the seed's progress reporting."""
    del tenant_id, transaction_ids, limit
    job = get_current_job()
    if job is not None:
        update_job_progress(job.connection, job.id, 10, "Loading transactions...")
        update_job_progress(job.connection, job.id, 100, "Complete!")
    return nothing_to_categorize(company_id)
