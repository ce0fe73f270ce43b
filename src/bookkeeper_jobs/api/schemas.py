"""Response bodies of the HTTP API (the seed guide's field names, plus a few more)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bookkeeper_jobs.jobs import Condition, Job, JobPhase, StatusFields
from bookkeeper_jobs.ledger.receipts import StoredReceipt
from bookkeeper_jobs.receipts.matching import ReceiptMatch
from bookkeeper_jobs.receipts.model import ReceiptExtraction


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
    degraded: list[str] = Field(
        default_factory=list,
        description="Features that cannot work here now, while the rest does (OCR without "
        "tesseract).",
    )


class ReceiptUploaded(BaseModel):
    receipt_id: str = Field(description="Pass to `POST /api/jobs/ocr` to read the receipt.")
    filename: str = Field(description="The uploaded file's name (data, never a path).")
    content_type: str = Field(description="image/jpeg, image/png, image/tiff or application/pdf.")
    pages: int = Field(description="Pages (PDF) or frames (TIFF); 1 for an image.")
    size_bytes: int
    duplicate: bool = Field(
        default=False,
        description="True when the company already had this very file: its receipt (and its "
        "first name) is answered, with 200 instead of 201.",
    )


class ReceiptSummary(BaseModel):
    """A receipt in a listing: what was read and matched, without the full text."""

    receipt_id: str
    company_id: str
    filename: str
    content_type: str
    size_bytes: int
    uploaded_at: datetime
    status: Literal["uploaded", "read"] = Field(
        description="`uploaded` until an `ocr` job has read it, then `read`."
    )
    vendor: str | None = None
    date: dt.date | None = None
    total: Decimal | None = None
    currency: str | None = None
    tax: Decimal | None = None
    match_status: Literal["matched", "ambiguous", "unmatched"] | None = Field(
        default=None, description="Absent until the receipt was read."
    )
    matched_transaction_id: str | None = None
    file: str = Field(description="Where to download the original file.")

    @classmethod
    def fields_of(cls, receipt: StoredReceipt) -> dict[str, Any]:
        extraction, match = receipt.extraction, receipt.match
        return {
            "receipt_id": receipt.id,
            "company_id": receipt.company_id,
            "filename": receipt.filename,
            "content_type": receipt.content_type,
            "size_bytes": receipt.size_bytes,
            "uploaded_at": receipt.created_at,
            "status": "read" if extraction is not None else "uploaded",
            "vendor": extraction.company if extraction else None,
            "date": extraction.date if extraction else None,
            "total": extraction.total if extraction else None,
            "currency": extraction.currency if extraction else None,
            "tax": extraction.tax if extraction else None,
            "match_status": match.status if match else None,
            "matched_transaction_id": match.transaction_id if match else None,
            "file": f"/api/receipts/{receipt.id}/file",
        }

    @classmethod
    def of(cls, receipt: StoredReceipt) -> ReceiptSummary:
        return cls(**cls.fields_of(receipt))


class ReceiptView(ReceiptSummary):
    """A receipt with everything OCR read (confidences, full text) and the match with its
    candidates."""

    extraction: ReceiptExtraction | None = Field(
        default=None, description="What the last `ocr` job read; absent until then."
    )
    extracted_at: datetime | None = None
    ocr_job_id: str | None = Field(default=None, description="The job that read it.")
    match: ReceiptMatch | None = Field(
        default=None, description="The matched transaction (or best candidate) and runner-up."
    )

    @classmethod
    def of(cls, receipt: StoredReceipt) -> ReceiptView:
        return cls(
            **cls.fields_of(receipt),
            extraction=receipt.extraction,
            extracted_at=receipt.extracted_at,
            ocr_job_id=receipt.ocr_job_id,
            match=receipt.match,
        )


class CompanyReceipts(BaseModel):
    company_id: str
    receipts: list[ReceiptSummary]
    count: int = Field(description="How many receipts this page holds.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )
