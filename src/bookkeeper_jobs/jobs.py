"""The job model: one spec per job type and one status, shared by every backend.

The API's JSON, the embedded store's rows and (later) the BookkeepingJob CRD all derive
from these models. Field names follow the seed guide's API contract (snake_case).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

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


class JobStatus(BaseModel):
    phase: JobPhase = JobPhase.PENDING
    progress: int = Field(default=0, ge=0, le=100)
    message: str = ""
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = Field(default=0, ge=0)
    conditions: list[Condition] = Field(default_factory=list)

    @field_validator("created_at", "started_at", "finished_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


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


def initial_conditions(now: datetime) -> list[Condition]:
    """Every condition ``Unknown`` until the job runs (set on the first reconcile)."""
    return [
        Condition(type=kind, status="Unknown", reason="Pending", last_transition_time=now)
        for kind in ConditionType
    ]


def transition_conditions(
    conditions: list[Condition], phase: JobPhase, reason: str, message: str, now: datetime
) -> list[Condition]:
    """The conditions after entering ``phase``; unchanged ones keep their transition time."""
    wanted: dict[ConditionType, Literal["True", "False", "Unknown"]] = {
        ConditionType.RUNNING: "True" if phase is JobPhase.RUNNING else "False",
        ConditionType.SUCCEEDED: "True" if phase is JobPhase.COMPLETE else "False",
        ConditionType.FAILED: "True" if phase is JobPhase.FAILED else "False",
        ConditionType.CANCELLED: "True" if phase is JobPhase.CANCELLED else "False",
    }
    if phase is JobPhase.PENDING:
        wanted = dict.fromkeys(ConditionType, "Unknown")
    current = {c.type: c for c in conditions}
    updated = []
    for kind in ConditionType:
        old = current.get(kind)
        status = wanted[kind]
        if old is not None and old.status == status:
            updated.append(old)
            continue
        updated.append(
            Condition(
                type=kind,
                status=status,
                reason=reason,
                message=message if status == "True" else "",
                last_transition_time=now,
            )
        )
    return updated
