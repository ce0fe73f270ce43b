"""``POST /api/jobs/<type>``: one endpoint per job type; each answers 202 with the job id.

The JSON endpoints are made from the job type registry (:func:`build_router`): a registered
type gets ``POST /api/jobs/<name>`` taking its spec model as the body. The upload, which is
multipart, has a route of its own. Every POST takes an optional ``Idempotency-Key`` header:
the same key and body return the same job; the same key with another body is a 409.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, HTTPException, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from bookkeeper_jobs.api.deps import (
    CurrentPrincipal,
    Ledger,
    Services,
    ServicesDep,
    require_company,
)
from bookkeeper_jobs.api.problems import problem, quoted
from bookkeeper_jobs.api.schemas import JobStarted
from bookkeeper_jobs.api.store.protocol import Submission, queues_submissions
from bookkeeper_jobs.artifacts import ArtifactTooLargeError
from bookkeeper_jobs.errors import IdempotencyConflictError
from bookkeeper_jobs.jobs import (
    EXPORT_QBO,
    OCR,
    UPLOAD_AND_CATEGORIZE,
    ExportQboSpec,
    JobSpecBase,
    JobTypeInfo,
    OcrSpec,
    UploadAndCategorizeSpec,
    job_types,
)
from bookkeeper_jobs.tasks.statements import StatementFormatError, sniff_statement

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retry-safe submission: the same key and body return the same job.",
    ),
]
FormId = Annotated[str, Form(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
ACCEPTED: dict[int | str, dict[str, Any]] = {
    status.HTTP_202_ACCEPTED: {"description": "The job was queued."}
}


def submit(
    services: Services, response: Response, spec: JobSpecBase, key: str | None, fingerprint: str
) -> Submission:
    """For the routes that run in a thread (they read the ledger first)."""
    began = time.perf_counter()
    try:
        submission = services.store.submit(
            spec, idempotency_key=key, request_fingerprint=fingerprint
        )
    except IdempotencyConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return submitted(services, response, spec, submission, began)


async def submit_async(
    services: Services, response: Response, spec: JobSpecBase, key: str | None, fingerprint: str
) -> Submission:
    """:func:`submit` for ``async`` routes: the embedded store's group commit is awaited (no
    thread of the pool waits for an fsync); another store's submit runs in the pool."""
    began = time.perf_counter()
    store = services.store
    try:
        if queues_submissions(store):
            submission = await asyncio.wrap_future(store.submit_later(spec, key, fingerprint))
        else:
            submission = await run_in_threadpool(
                store.submit, spec, idempotency_key=key, request_fingerprint=fingerprint
            )
    except IdempotencyConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return submitted(services, response, spec, submission, began)


def submitted(
    services: Services,
    response: Response,
    spec: JobSpecBase,
    submission: Submission,
    began: float,
) -> Submission:
    record_submission(services, spec, submission, began)
    response.headers["Location"] = f"/api/jobs/{submission.job.id}"
    return submission


def record_submission(
    services: Services, spec: JobSpecBase, submission: Submission, began: float
) -> None:
    if services.metrics is not None and submission.created:
        services.metrics.submitted.labels(spec.type).inc()
        services.metrics.submit_seconds.labels(spec.type).observe(time.perf_counter() - began)


def start(
    services: Services, response: Response, spec: JobSpecBase, key: str | None, fingerprint: str
) -> JobStarted:
    job = submit(services, response, spec, key, fingerprint).job
    return JobStarted(job_id=job.id, status=job.status.phase)


def fingerprint_of(spec: JobSpecBase) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def build_router() -> APIRouter:
    """One ``POST /api/jobs/<name>`` per registered job type (the registry as it is now)."""
    router = APIRouter(prefix="/api/jobs", tags=["start jobs"])
    for info in job_types():
        if info.json_route:
            router.add_api_route(
                f"/{info.name}",
                json_endpoint(info),
                methods=["POST"],
                status_code=status.HTTP_202_ACCEPTED,
                responses=ACCEPTED,
                summary=f"Start a {info.name} job",
                description=info.summary,
            )
    router.add_api_route(
        f"/{UPLOAD_AND_CATEGORIZE.name}",
        start_upload_and_categorize,
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        responses={
            **ACCEPTED,
            413: {"description": "The file is larger than the configured limit."},
            422: {"description": "A field is missing or the file is not a bank statement."},
        },
        summary=f"Start an {UPLOAD_AND_CATEGORIZE.name} job",
        description=UPLOAD_AND_CATEGORIZE.summary,
    )
    router.add_api_route(
        f"/{OCR.name}",
        start_ocr,
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        responses={
            **ACCEPTED,
            400: problem("`file_path` names a file: upload the receipt first."),
            404: problem("No such receipt in the company (or not yours)."),
        },
        summary=f"Start an {OCR.name} job",
        description=OCR.summary,
    )
    router.add_api_route(
        f"/{EXPORT_QBO.name}",
        start_export_qbo,
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        responses={
            **ACCEPTED,
            409: problem(
                "The company is not connected to QuickBooks Online (or an Idempotency-Key "
                "was reused with another body)."
            ),
        },
        summary=f"Start an {EXPORT_QBO.name} job",
        description=EXPORT_QBO.summary,
    )
    return router


def json_endpoint(info: JobTypeInfo) -> Callable[..., Awaitable[JobStarted]]:
    """The endpoint of a JSON job type: its spec model is the request body."""

    async def start_job(
        spec: JobSpecBase,
        principal: CurrentPrincipal,
        services: ServicesDep,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> JobStarted:
        require_company(principal, spec.tenant_id, spec.company_id)
        key, fingerprint = idempotency_key, fingerprint_of(spec)
        job = (await submit_async(services, response, spec, key, fingerprint)).job
        return JobStarted(job_id=job.id, status=job.status.phase)

    # FastAPI reads the body's model from the signature: give it this type's spec model.
    signature = inspect.signature(start_job, eval_str=True)
    parameters = [
        p.replace(annotation=info.spec) if p.name == "spec" else p
        for p in signature.parameters.values()
    ]
    start_job.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    start_job.__name__ = f"start_{info.name.replace('-', '_')}"
    return start_job


async def start_upload_and_categorize(
    file: Annotated[UploadFile, File(description="A bank statement: CSV, OFX or QFX.")],
    company_id: FormId,
    tenant_id: FormId,
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobStarted:
    """Import a bank statement into the ledger, then categorize its transactions."""
    require_company(principal, tenant_id, company_id)
    filename = (file.filename or "statement.csv")[-255:]
    try:
        sniff_statement(await file.read(SNIFF_BYTES), filename)
    except StatementFormatError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"file: {exc}") from exc
    await file.seek(0)
    digest = hashlib.sha256()
    try:
        artifact_id = await services.artifacts.save_stream(
            _chunks(file, digest), max_bytes=services.settings.max_upload_bytes
        )
    except ArtifactTooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"file: {exc}") from exc
    spec = UploadAndCategorizeSpec(
        company_id=company_id, tenant_id=tenant_id, artifact_id=artifact_id, filename=filename
    )
    fingerprint = hashlib.sha256(
        f"{tenant_id}|{company_id}|{filename}|{digest.hexdigest()}".encode()
    ).hexdigest()
    try:
        submission = await submit_async(services, response, spec, idempotency_key, fingerprint)
    except BaseException:
        services.artifacts.delete(artifact_id)
        raise
    if not submission.created:  # a replay: the first request's upload is the one in use
        services.artifacts.delete(artifact_id)
    return JobStarted(job_id=submission.job.id, status=submission.job.status.phase)


async def _chunks(file: UploadFile, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    while chunk := await file.read(CHUNK_BYTES):
        digest.update(chunk)
        yield chunk


class OcrRequest(OcrSpec):
    """The ``ocr`` body: the spec, plus the seed's ``file_path``, which is never opened."""

    file_path: str | None = Field(
        default=None,
        max_length=1024,
        json_schema_extra={"deprecated": True},  # documented so; reading it warns nothing
        description="From the seed's contract; never read. Receipts are uploaded with "
        "`POST /api/receipts` and named by `receipt_id`; `file_path` may only repeat that "
        "receipt as `receipts/<receipt_id>`. Anything else (a server path, `../`, another "
        "receipt) is a 400.",
    )


def start_ocr(
    body: OcrRequest,
    principal: CurrentPrincipal,
    services: ServicesDep,
    ledger: Ledger,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobStarted:
    """Read an uploaded receipt with OCR, then match it to a transaction of the company."""
    require_company(principal, body.tenant_id, body.company_id)
    if body.file_path is not None and body.file_path != f"receipts/{body.receipt_id}":
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail="file_path: receipts are never read from a path; upload the receipt with"
            " POST /api/receipts first and pass its receipt_id",
        )
    with ledger.use() as book:
        receipt = book.receipts.get(body.receipt_id)
    if receipt is None or (receipt.tenant_id, receipt.company_id) != (
        body.tenant_id,
        body.company_id,
    ):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"receipt_id: receipt {quoted(body.receipt_id)} not found in company"
            f" {quoted(body.company_id)}",
        )
    spec = OcrSpec.model_validate(body.model_dump(exclude={"file_path"}))
    return start(services, response, spec, idempotency_key, fingerprint_of(spec))


def start_export_qbo(
    spec: ExportQboSpec,
    principal: CurrentPrincipal,
    services: ServicesDep,
    ledger: Ledger,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobStarted:
    """Export the company's approved transactions of a range to QuickBooks Online (or a
    file); a 409 when it is to go to QuickBooks and the company is not connected."""
    require_company(principal, spec.tenant_id, spec.company_id)
    if spec.destination == "quickbooks":
        with ledger.use() as book:
            owner = book.company_tenant(spec.company_id)
            connected = book.quickbooks.connection(spec.company_id) is not None
        if not connected or owner != spec.tenant_id:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"company_id: company {quoted(spec.company_id)} is not connected to"
                " QuickBooks Online; connect it (GET /api/companies/{company_id}/quickbooks/"
                "connect, or PUT) or export a file with destination csv or iif",
            )
    return start(services, response, spec, idempotency_key, fingerprint_of(spec))
