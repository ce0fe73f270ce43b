"""Response bodies of the HTTP API (the seed guide's field names, plus a few more)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bookkeeper_jobs.jobs import Condition, Job, JobPhase, StatusFields


class JobStarted(BaseModel):
    job_id: str
    status: JobPhase = Field(
        description="`pending` for a new job; an Idempotency-Key replay answers the job's "
        "status now."
    )


class JobView(StatusFields[Condition]):
    """A job as the API shows it: the core status fields (``jobs.StatusFields``) with the
    phase named ``status``, as in the seed guide's contract, plus who and what it is for.
    OpenAPI shows ``result`` as the job type's result model (``api/openapi.py``)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: str
    type: str = Field(description="The job type: `POST /api/jobs/<type>` started it.")
    company_id: str
    tenant_id: str
    phase: JobPhase = Field(
        alias="status", description="pending, running, complete, failed or cancelled."
    )
    result: dict[str, Any] | None = Field(
        default=None, description="What the task returned; its model depends on `type`."
    )
    created_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobView:
        status = job.status
        fields = {name: getattr(status, name) for name in StatusFields.model_fields}
        return cls(
            id=job.id,
            type=job.spec.type,
            company_id=job.company_id,
            tenant_id=job.tenant_id,
            result=status.result,
            created_at=status.created_at,
            **fields,
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
    problems: list[str] = Field(default_factory=list, description="Why it is not ready.")
