"""Response bodies of the HTTP API (the seed guide's field names, plus a few more)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from bookkeeper_jobs.jobs import Condition, Job, JobPhase, JobType


class JobStarted(BaseModel):
    job_id: str
    status: JobPhase = Field(description="`pending` for a new job.")


class JobView(BaseModel):
    id: str
    type: JobType
    company_id: str
    tenant_id: str
    status: JobPhase
    progress: int = Field(ge=0, le=100)
    message: str
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    conditions: list[Condition]

    @classmethod
    def of(cls, job: Job) -> JobView:
        status = job.status
        return cls(
            id=job.id,
            type=job.spec.type,
            company_id=job.company_id,
            tenant_id=job.tenant_id,
            status=status.phase,
            progress=status.progress,
            message=status.message,
            result=status.result,
            error=status.error,
            created_at=status.created_at,
            started_at=status.started_at,
            finished_at=status.finished_at,
            attempts=status.attempts,
            conditions=status.conditions,
        )


class CompanyJobs(BaseModel):
    company_id: str
    jobs: list[JobView]
    count: int = Field(description="How many jobs this page holds.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class Health(BaseModel):
    status: str
