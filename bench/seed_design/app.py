"""The seed's API over RQ + Redis (``SEED_REDIS_URL``, ``SEED_API_KEY``), as its guide shows it:
``async def`` routes calling the synchronous RQ client, a submission is ``queue.enqueue`` with
the company in ``meta`` plus the job id in the company's sorted set, a status read is
``Job.fetch`` (progress and message from ``job.meta``, the result from the latest result),
and a company listing is the sorted set's newest ids then one ``Job.fetch`` per job.

    uvicorn --app-dir bench seed_design.app:app

Authentication is one static bearer key (the seed's ``get_current_user``); the seed checked
no tenancy on reads, so neither does this.
"""

from __future__ import annotations

import hmac
import os
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from seed_design.tasks import categorize_transactions_task

JOB_TIMEOUT = 600
JOB_TTL = 86400
STATUS_NAMES = {
    JobStatus.QUEUED: "pending",
    JobStatus.DEFERRED: "pending",
    JobStatus.SCHEDULED: "pending",
    JobStatus.STARTED: "running",
    JobStatus.FINISHED: "complete",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "failed",
    JobStatus.CANCELED: "cancelled",
}

redis_conn = Redis.from_url(os.environ.get("SEED_REDIS_URL", "redis://127.0.0.1:6379/0"))
queue = Queue("default", connection=redis_conn)
app = FastAPI(title="seed design (RQ + Redis)")
bearer = HTTPBearer()


def company_key(company_id: str) -> str:
    return f"company_jobs:{company_id}"


async def get_current_user(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
) -> str:
    expected = os.environ.get("SEED_API_KEY", "")
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="invalid token")
    return "bench-user"


CurrentUser = Annotated[str, Depends(get_current_user)]


class CategorizeRequest(BaseModel):
    company_id: str
    tenant_id: str
    transaction_ids: list[str] | None = None
    limit: int = 100


def enqueue_job(
    func: Any, kwargs: dict[str, Any], meta: dict[str, Any], pipeline: Any = None
) -> str:
    """The seed's ``enqueue_job``: queue it, and index it under its company."""
    job = queue.enqueue(
        func,
        kwargs=kwargs,
        meta={**meta, "progress": 0, "message": "Queued"},
        job_timeout=JOB_TIMEOUT,
        result_ttl=JOB_TTL,
        failure_ttl=JOB_TTL,
        pipeline=pipeline,
    )
    (pipeline or redis_conn).zadd(company_key(meta["company_id"]), {job.id: time.time()})
    return str(job.id)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def get_job_status(job_id: str) -> dict[str, Any] | None:
    """The seed's job view: the RQ job's status, its meta's progress and message."""
    try:
        job = Job.fetch(job_id, connection=redis_conn)
    except NoSuchJobError:
        return None
    state = STATUS_NAMES.get(job.get_status(refresh=False), "pending")
    meta = job.meta
    failure = job.latest_result() if state == "failed" else None
    return {
        "id": job.id,
        "status": state,
        "progress": meta.get("progress", 0),
        "message": meta.get("message", ""),
        "result": job.return_value() if state == "complete" else None,
        "error": failure.exc_string if failure is not None else None,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.ended_at),
    }


@app.post("/api/jobs/categorize", status_code=status.HTTP_202_ACCEPTED)
async def start_categorize(body: CategorizeRequest, user: CurrentUser) -> dict[str, str]:
    del user
    job_id = enqueue_job(
        categorize_transactions_task,
        kwargs=body.model_dump(),
        meta={"company_id": body.company_id, "operation": "categorize"},
    )
    return {"job_id": job_id, "status": "pending"}


@app.get("/api/jobs/company/{company_id}")
async def list_company_jobs(
    company_id: str, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    del user
    ids = redis_conn.zrevrange(company_key(company_id), 0, limit - 1)
    jobs = [job for job_id in ids if (job := get_job_status(job_id.decode())) is not None]
    return {"company_id": company_id, "jobs": jobs, "count": len(jobs)}


@app.get("/api/jobs/{job_id}")
async def read_job(job_id: str, user: CurrentUser) -> dict[str, Any]:
    del user
    job = get_job_status(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Job not found")
    return job
