"""Receipts: upload a receipt file, then read what an ``ocr`` job extracted and matched.

A receipt's type is judged from its content (JPEG, PNG, TIFF or PDF; anything else is a
415), and its pages and pixels are checked from the headers before it is stored, so a PDF
with thousands of pages or a 20,000 x 20,000 image is refused at upload. Another tenant's
receipt is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Response, UploadFile
from fastapi import status as http
from fastapi.responses import FileResponse

from bookkeeper_jobs.api.deps import CurrentPrincipal, Ledger, ServicesDep, require_company
from bookkeeper_jobs.api.downloads import artifact_response
from bookkeeper_jobs.api.problems import problem, quoted
from bookkeeper_jobs.api.schemas import (
    CompanyReceipts,
    ReceiptSummary,
    ReceiptUploaded,
    ReceiptView,
)
from bookkeeper_jobs.api.store.protocol import decode_cursor, encode_cursor
from bookkeeper_jobs.errors import (
    FatalTaskError,
    InvalidCursorError,
    ReceiptFileError,
    UnsupportedReceiptTypeError,
)
from bookkeeper_jobs.ledger.receipts import NewReceipt, StoredReceipt
from bookkeeper_jobs.receipts import ACCEPTED_TYPES, inspect_receipt

router = APIRouter(tags=["receipts"])

Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: problem("No such receipt, or not one of yours.")}
FormId = Annotated[str, Form(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
DEFAULT_FILENAME = "receipt"
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Controls (C0, C1), format characters (bidi overrides, zero-width) and line separators:
nothing a file name needs, and each could disguise it in a client."""


def visible_receipt(receipt_id: str, principal: CurrentPrincipal, ledger: Ledger) -> StoredReceipt:
    """The receipt, if the caller may see it; otherwise 404, as for a missing one."""
    with ledger.use() as book:
        receipt = book.receipts.get(receipt_id)
    if receipt is None or not principal.may_access(receipt.tenant_id, receipt.company_id):
        raise HTTPException(
            http.HTTP_404_NOT_FOUND, detail=f"receipt {quoted(receipt_id)} not found"
        )
    return receipt


VisibleReceipt = Annotated[StoredReceipt, Depends(visible_receipt)]


@router.post(
    "/api/receipts",
    status_code=http.HTTP_201_CREATED,
    responses={
        200: {"description": "This file was uploaded to the company before: its receipt."},
        201: {"description": "Stored; start an `ocr` job with the `receipt_id` to read it."},
        403: problem("The company is not in your grant."),
        413: problem("The file is larger than the configured limit."),
        415: problem(f"The file is not a receipt: its content is none of {ACCEPTED_TYPES}."),
        422: {
            "description": "A field is missing, or the file is empty, damaged or over the page"
            " and pixel limits."
        },
    },
)
def upload_receipt(
    file: Annotated[UploadFile, File(description=f"The receipt: {ACCEPTED_TYPES}.")],
    company_id: FormId,
    tenant_id: FormId,
    principal: CurrentPrincipal,
    services: ServicesDep,
    ledger: Ledger,
    response: Response,
) -> ReceiptUploaded:
    """Store a receipt (a scan, a photo or a PDF) of the company, to read with `ocr`. The
    same file again (byte for byte) is the same receipt: 200 with `duplicate: true`."""
    require_company(principal, tenant_id, company_id)
    data = file.file.read()  # bounded: the size limit refused a larger body before this
    try:
        info = inspect_receipt(data)
    except UnsupportedReceiptTypeError as exc:
        raise HTTPException(http.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=f"file: {exc}") from exc
    except ReceiptFileError as exc:
        raise HTTPException(http.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"file: {exc}") from exc
    files = services.artifacts.receipts
    artifact_id = files.save_bytes(data)
    new = NewReceipt(
        company_id=company_id,
        filename=display_name(file.filename),
        content_type=info.content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        artifact_id=artifact_id,
    )
    try:
        with ledger.use() as book:
            book.ensure_company(company_id, tenant_id)
            receipt, created = book.receipts.add(new)
    except FatalTaskError as exc:  # the company id is another tenant's
        files.delete(artifact_id)
        raise HTTPException(http.HTTP_403_FORBIDDEN, detail=f"company_id: {exc}") from exc
    except BaseException:
        files.delete(artifact_id)
        raise
    if not created:  # the same file again: the receipt it already is keeps its own copy
        files.delete(artifact_id)
        response.status_code = http.HTTP_200_OK
    response.headers["Location"] = f"/api/receipts/{receipt.id}"
    return ReceiptUploaded(
        receipt_id=receipt.id,
        filename=receipt.filename,
        content_type=receipt.content_type,
        pages=info.pages,
        size_bytes=receipt.size_bytes,
        duplicate=not created,
    )


@router.get("/api/receipts/{receipt_id}", responses=NOT_FOUND)
def get_receipt(receipt: VisibleReceipt) -> ReceiptView:
    """The receipt with what OCR read (fields, confidences, full text) and its match."""
    return ReceiptView.of(receipt)


@router.get(
    "/api/receipts/{receipt_id}/file",
    response_class=FileResponse,
    responses={
        **NOT_FOUND,
        200: {
            "content": {
                "image/jpeg": {},
                "image/png": {},
                "image/tiff": {},
                "application/pdf": {},
            },
            "description": "The file as uploaded, as an attachment.",
        },
    },
)
def download_receipt(receipt: VisibleReceipt, services: ServicesDep) -> Response:
    """The original file, as uploaded."""
    return artifact_response(
        services.artifacts.receipts,
        receipt.artifact_id,
        media_type=receipt.content_type,
        filename=receipt.filename,  # percent-encoded when anything is unusual
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        missing=HTTPException(
            http.HTTP_404_NOT_FOUND, detail=f"receipt {receipt.id}: the file is no longer stored"
        ),
    )


@router.get(
    "/api/companies/{company_id}/receipts",
    responses={
        400: problem("The cursor is not one this listing gave out."),
        403: problem("The company is not in your grant."),
    },
)
def list_company_receipts(
    company_id: str,
    principal: CurrentPrincipal,
    ledger: Ledger,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> CompanyReceipts:
    """The company's receipts, newest first; follow `next_cursor` for older ones."""
    require_company(principal, principal.tenant_id, company_id)
    with ledger.use() as book:
        after = _cursor_receipt(book.receipts.get, cursor, company_id) if cursor else None
        found = book.receipts.page(company_id, limit=limit + 1, after=after)
    page = [ReceiptSummary.of(receipt) for receipt in found[:limit]]
    next_cursor = encode_cursor(page[-1].receipt_id) if len(found) > limit else None
    return CompanyReceipts(
        company_id=company_id, receipts=page, count=len(page), next_cursor=next_cursor
    )


def _cursor_receipt(get: Any, cursor: str, company_id: str) -> StoredReceipt:
    """The receipt a cursor names, which must be of this company (else the same 400 for
    any cursor, so a cursor reveals nothing of others)."""
    try:
        receipt: StoredReceipt | None = get(decode_cursor(cursor))
    except InvalidCursorError:
        receipt = None
    if receipt is None or receipt.company_id != company_id:
        raise HTTPException(
            http.HTTP_400_BAD_REQUEST, detail="cursor: not a cursor of this listing"
        )
    return receipt


def display_name(filename: str | None) -> str:
    """The uploaded file's own name, as data: no directories, no control characters."""
    base = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(c for c in base if unicodedata.category(c) not in _INVISIBLE_CATEGORIES)
    return name.strip()[-255:] or DEFAULT_FILENAME
