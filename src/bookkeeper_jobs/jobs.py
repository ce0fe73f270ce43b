"""The job model: the job types (a spec model, a result model and a task each), one
status, shared by every backend.

The API's JSON, the embedded store's rows and the BookkeepingJob CRD all derive from these
models. Field names follow the seed guide's API contract (snake_case).

A job type is one registration (:func:`register_job_type`): its ``POST /api/jobs/<name>``
route, the CRD's ``spec.type`` enum and ``spec.parameters`` schema, the CLI's
``bkjobs submit <name>`` and the OpenAPI schema of its result all follow from it. The
built-in types are registered at the end of this module; others in the modules named by
``BKJOBS_JOB_TYPE_MODULES`` (``docs/adding-a-job-type.md`` shows one).
"""

from __future__ import annotations

import importlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import date as datetime_date
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SerializeAsAny,
    Strict,
    field_validator,
    model_validator,
)

from bookkeeper_jobs.errors import UnknownJobTypeError
from bookkeeper_jobs.results import (
    BulkApproveResult,
    CategorizeResult,
    ExportQboResult,
    OcrResult,
    UploadAndCategorizeResult,
)

MAX_TRANSACTION_IDS = 10_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    """``job-`` and 20 hex digits: valid as a Kubernetes object name and in a URL."""
    return f"job-{secrets.token_hex(10)}"


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


class JobSpecBase(BaseModel):
    """What every job's spec has. A job type's spec subclasses it with
    ``type: Literal["<name>"] = "<name>"`` and its own fields (the POST body's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: str
    company_id: CompanyId
    tenant_id: TenantId


@dataclass(frozen=True)
class JobTypeInfo:
    """One job type: what it takes, what it returns, which task runs it."""

    name: str
    """``POST /api/jobs/<name>``, ``spec.type`` of the resource, ``bkjobs submit <name>``."""
    spec: type[JobSpecBase]
    result: type[BaseModel]
    task: str
    """The task function as ``module:function`` (imported only where the task runs)."""
    summary: str
    """One sentence for the route's OpenAPI description and the CLI's help."""
    json_route: bool = True
    """``False`` for a type with a route of its own (the multipart upload)."""

    def __post_init__(self) -> None:
        field = self.spec.model_fields["type"]
        if get_args(field.annotation) != (self.name,) or field.default != self.name:
            raise ValueError(
                f"{self.spec.__name__}.type must be Literal[{self.name!r}] = {self.name!r}"
            )


_JOB_TYPES: dict[str, JobTypeInfo] = {}


def register_job_type(info: JobTypeInfo) -> JobTypeInfo:
    """Add a job type (registering the same one again is harmless)."""
    known = _JOB_TYPES.setdefault(info.name, info)
    if known != info:
        raise ValueError(f"job type {info.name!r} is already registered differently")
    return info


def unregister_job_type(name: str) -> None:
    """Forget a job type (a test that registered a toy type cleans up with this)."""
    _JOB_TYPES.pop(name, None)


def job_types() -> list[JobTypeInfo]:
    """Every registered job type, in registration order."""
    return list(_JOB_TYPES.values())


def job_type(name: str) -> JobTypeInfo:
    try:
        return _JOB_TYPES[name]
    except KeyError:
        raise UnknownJobTypeError(name, list(_JOB_TYPES)) from None


def load_job_type_modules(modules: Iterable[str]) -> None:
    """Import the modules that register more job types (``BKJOBS_JOB_TYPE_MODULES``)."""
    for module in modules:
        importlib.import_module(module)


def parse_spec(value: Any) -> JobSpecBase:
    """The registered spec model for ``value["type"]``, validated."""
    if isinstance(value, JobSpecBase):
        return value
    data = json.loads(value) if isinstance(value, str | bytes) else value
    if not isinstance(data, dict):
        raise ValueError("a job spec is an object")  # pydantic reports it as a ValidationError
    try:
        model = job_type(str(data.get("type"))).spec
    except UnknownJobTypeError as exc:
        raise ValueError(str(exc)) from exc
    return model.model_validate(data)


JobSpec = Annotated[SerializeAsAny[JobSpecBase], PlainValidator(parse_spec)]
"""Any registered job type's spec (validated by its ``type``)."""


class CategorizeSpec(JobSpecBase):
    type: Literal["categorize"] = "categorize"
    transaction_ids: list[TransactionId] | None = Field(
        default=None,
        max_length=MAX_TRANSACTION_IDS,
        description="Categorize exactly these; when absent, the next `limit` uncategorized",
    )
    limit: int = Field(
        default=100, ge=1, le=100_000, description="How many uncategorized at most (100)"
    )


class BulkApproveSpec(JobSpecBase):
    type: Literal["bulk-approve"] = "bulk-approve"
    transaction_ids: list[TransactionId] = Field(
        min_length=1, max_length=MAX_TRANSACTION_IDS, description="The transactions to approve"
    )


class UploadAndCategorizeSpec(JobSpecBase):
    type: Literal["upload-and-categorize"] = "upload-and-categorize"
    artifact_id: str = Field(pattern=r"^[a-f0-9]{32}$", description="The stored upload's id")
    filename: str = Field(max_length=255, description="The uploaded file's name, for messages")


RECEIPT_ID_PATTERN = r"^rcpt-[a-f0-9]{20}$"


class OcrSpec(JobSpecBase):
    type: Literal["ocr"] = "ocr"
    receipt_id: str = Field(
        pattern=RECEIPT_ID_PATTERN, description="The receipt to read (from `POST /api/receipts`)."
    )


MAX_EXPORT_DAYS = 366
SpecDate = Annotated[datetime_date, Strict(False)]
"""A date in a spec: ``YYYY-MM-DD`` in JSON (the specs are strict otherwise)."""


class ExportQboSpec(JobSpecBase):
    type: Literal["export-qbo"] = "export-qbo"
    start_date: SpecDate = Field(description="The first day exported (ISO 8601 date).")
    end_date: SpecDate = Field(description="The last day exported, at most 366 days later.")
    destination: Literal["quickbooks", "csv", "iif"] = Field(
        default="quickbooks",
        description="`quickbooks`: create the entries in the connected QuickBooks Online "
        "company (409 when not connected); `csv` (QuickBooks' bank transactions layout) or "
        "`iif`: write a file to import, downloadable from the result's `file`.",
    )
    bank_account: str = Field(
        default="Checking",
        min_length=1,
        max_length=100,
        description="The QuickBooks bank account the transactions went through (created as a "
        "Bank account when missing).",
    )

    @model_validator(mode="after")
    def _a_bounded_range(self) -> ExportQboSpec:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if (self.end_date - self.start_date).days >= MAX_EXPORT_DAYS:
            raise ValueError(f"the range is longer than {MAX_EXPORT_DAYS} days: split it")
        return self


CATEGORIZE = register_job_type(
    JobTypeInfo(
        name="categorize",
        spec=CategorizeSpec,
        result=CategorizeResult,
        task="bookkeeper_jobs.tasks.categorize:categorize",
        summary="Categorize the given transactions, or the next `limit` uncategorized ones.",
    )
)
BULK_APPROVE = register_job_type(
    JobTypeInfo(
        name="bulk-approve",
        spec=BulkApproveSpec,
        result=BulkApproveResult,
        task="bookkeeper_jobs.tasks.approve:bulk_approve",
        summary="Approve the given transactions of the company (others' ids are reported, "
        "untouched).",
    )
)
UPLOAD_AND_CATEGORIZE = register_job_type(
    JobTypeInfo(
        name="upload-and-categorize",
        spec=UploadAndCategorizeSpec,
        result=UploadAndCategorizeResult,
        task="bookkeeper_jobs.tasks.upload:upload_and_categorize",
        summary="Import a bank statement into the ledger, then categorize its transactions.",
        json_route=False,
    )
)
OCR = register_job_type(
    JobTypeInfo(
        name="ocr",
        spec=OcrSpec,
        result=OcrResult,
        task="bookkeeper_jobs.tasks.ocr:read_receipt",
        summary="Read an uploaded receipt (vendor, date, total, tax) with OCR, then match it to "
        "a transaction of the company.",
        json_route=False,
    )
)
EXPORT_QBO = register_job_type(
    JobTypeInfo(
        name="export-qbo",
        spec=ExportQboSpec,
        result=ExportQboResult,
        task="bookkeeper_jobs.tasks.export_qbo:export_qbo",
        summary="Export the company's approved transactions of a date range to QuickBooks "
        "Online (each exactly once), or to a file QuickBooks imports.",
        json_route=False,
    )
)


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
