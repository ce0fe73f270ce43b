"""The job model: one spec per job type and one status, shared by every backend.

The API's JSON, the embedded store's rows and (later) the BookkeepingJob CRD all derive
from these models. Field names follow the seed guide's API contract (snake_case).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TRANSACTION_IDS = 10_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    """``job-`` and 20 hex digits: valid as a Kubernetes object name and in a URL."""
    return f"job-{secrets.token_hex(10)}"


class JobType(StrEnum):
    CATEGORIZE = "categorize"
    BULK_APPROVE = "bulk-approve"
    UPLOAD_AND_CATEGORIZE = "upload-and-categorize"


class JobPhase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_PHASES


TERMINAL_PHASES = frozenset({JobPhase.COMPLETE, JobPhase.FAILED, JobPhase.CANCELLED})

CompanyId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
TenantId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
TransactionId = Annotated[str, Field(min_length=1, max_length=64)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    company_id: CompanyId
    tenant_id: TenantId


class CategorizeSpec(_Spec):
    type: Literal[JobType.CATEGORIZE] = JobType.CATEGORIZE
    transaction_ids: list[TransactionId] | None = Field(
        default=None,
        max_length=MAX_TRANSACTION_IDS,
        description="Categorize exactly these; when absent, the next `limit` uncategorized.",
    )
    limit: int = Field(default=100, ge=1, le=100_000)


class BulkApproveSpec(_Spec):
    type: Literal[JobType.BULK_APPROVE] = JobType.BULK_APPROVE
    transaction_ids: list[TransactionId] = Field(min_length=1, max_length=MAX_TRANSACTION_IDS)


class UploadAndCategorizeSpec(_Spec):
    type: Literal[JobType.UPLOAD_AND_CATEGORIZE] = JobType.UPLOAD_AND_CATEGORIZE
    artifact_id: str = Field(pattern=r"^[a-f0-9]{32}$", description="The stored upload.")
    filename: str = Field(max_length=255, description="The uploaded file's name, for messages.")


JobSpec = Annotated[
    CategorizeSpec | BulkApproveSpec | UploadAndCategorizeSpec, Field(discriminator="type")
]


class ConditionType(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class Condition(BaseModel):
    """A Kubernetes-style condition (``type`` is the key of the list)."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    message: str = ""
    last_transition_time: datetime


ConditionT = TypeVar("ConditionT", bound=Condition)


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class StatusFields(BaseModel, Generic[ConditionT]):
    """How a job's run stands, the same in every representation: the job stores' status
    (:class:`JobStatus`), the BookkeepingJob's ``status`` (``resource.py``) and the API's
    view (``api/schemas.py``) all derive from this model, so a new status field is one
    edit here (then ``make crds``). ``result`` and ``created_at`` are declared by each
    representation: stored JSON, a typed model in the API, metadata in a cluster."""

    phase: JobPhase = Field(default=JobPhase.PENDING, description="Where the job is now.")
    progress: int = Field(default=0, ge=0, le=100, description="Percent done; never goes back.")
    message: str = Field(default="", description="What the job is doing, for people.")
    error: str | None = Field(
        default=None, description="Why the job failed (or why the last attempt did)."
    )
    started_at: datetime | None = Field(default=None, description="When the first attempt began.")
    finished_at: datetime | None = Field(default=None, description="When the job ended.")
    attempts: int = Field(default=0, ge=0, description="Attempts started so far.")
    conditions: list[ConditionT] = Field(
        default_factory=list,
        description="Kubernetes-style conditions: Running, Succeeded, Failed, Cancelled.",
    )

    _utc_times = field_validator("started_at", "finished_at")(_utc)


class JobStatus(StatusFields[Condition]):
    """A job's status as a job store holds it."""

    result: dict[str, Any] | None = None
    created_at: datetime

    _utc_created = field_validator("created_at")(_utc)


class Job(BaseModel):
    """A job as a backend holds it: identity, what was asked, what happened."""

    id: str
    spec: JobSpec
    status: JobStatus
    version: int = Field(default=1, description="Bumps on every change; the ETag.")

    @property
    def company_id(self) -> str:
        return self.spec.company_id

    @property
    def tenant_id(self) -> str:
        return self.spec.tenant_id
