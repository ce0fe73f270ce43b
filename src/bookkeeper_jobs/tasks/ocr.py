"""The ``ocr`` task: read an uploaded receipt with tesseract, then match it to a transaction.

Progress a user can read: loading (0-5), preparing the pages (5-15), recognising each page
(15-60), reading each again when a field is missing or doubtful (60-85), extracting the
fields (85-90), matching (90-100). A cancel request is honoured between
steps. The extraction and the match are stored on the receipt together, in one database
transaction, so a receipt never shows one without the other. The receipt's file comes from
the artifact store by id (a cluster's task pod mounts the same store); no path from a request
is ever opened.
"""

from __future__ import annotations

from bookkeeper_jobs.errors import (
    FatalTaskError,
    OcrFailedError,
    OcrUnavailableError,
    ReceiptFileError,
)
from bookkeeper_jobs.jobs import OcrSpec
from bookkeeper_jobs.ledger import task_errors
from bookkeeper_jobs.ledger.receipts import StoredReceipt
from bookkeeper_jobs.receipts import ReceiptExtraction, Step, StepCallback, extract_receipt
from bookkeeper_jobs.receipts.matching import (
    ReceiptMatch,
    amount_tolerance,
    match_receipt,
    search_window,
)
from bookkeeper_jobs.results import OcrResult
from bookkeeper_jobs.tasks.context import TaskContext
from bookkeeper_jobs.tasks.reporter import ProgressReporter

LOADED = 5.0
RECOGNISED = 85.0
EXTRACTED = 90.0
_STEP_RANGE: dict[Step, tuple[float, float]] = {
    # The extraction prepares every page, then recognises every page, then (when a field is
    # missing or doubtful) reads every page again: each step spreads over its pages.
    "preprocessing": (LOADED, 15.0),
    "recognising": (15.0, 60.0),
    "rereading": (60.0, RECOGNISED),
}


class Cancelled(Exception):
    """Raised from the step callback to stop the extraction between steps."""


def read_receipt(context: TaskContext[OcrSpec]) -> OcrResult:
    spec, reporter = context.spec, context.reporter
    reporter.update(0, "Loading the receipt")
    receipt = _load_receipt(context)
    data = _read_file(context, receipt)
    try:
        extraction = extract_receipt(
            data, filename=receipt.filename, on_step=_step_reporter(reporter)
        )
    except Cancelled:
        return OcrResult(receipt_id=spec.receipt_id, receipt=_link(spec), cancelled=True)
    except ReceiptFileError as exc:
        raise FatalTaskError(f"{receipt.filename}: {exc}") from exc
    except OcrUnavailableError as exc:
        raise FatalTaskError(str(exc)) from exc
    except OcrFailedError as exc:
        raise FatalTaskError(f"{receipt.filename}: {exc}") from exc
    reporter.update(EXTRACTED, "Matching the receipt to the company's transactions")
    match = _match(context, extraction)
    with task_errors():
        stored = context.ledger.receipts.record_ocr(
            spec.receipt_id,
            spec.company_id,
            extraction=extraction,
            match=match,
            job_id=context.job_id,
        )
    if not stored:
        raise FatalTaskError(f"receipt {spec.receipt_id} was deleted while it was read")
    reporter.update(100, _summary(extraction, match))
    return _result(spec, extraction, match)


def _load_receipt(context: TaskContext[OcrSpec]) -> StoredReceipt:
    spec = context.spec
    with task_errors():
        receipt = context.ledger.receipts.get(spec.receipt_id)
    if receipt is None or (receipt.tenant_id, receipt.company_id) != (
        spec.tenant_id,
        spec.company_id,
    ):
        raise FatalTaskError(f"receipt {spec.receipt_id} does not exist in this company")
    return receipt


def _read_file(context: TaskContext[OcrSpec], receipt: StoredReceipt) -> bytes:
    try:
        with context.artifacts.receipts.open(receipt.artifact_id) as stream:
            return stream.read()
    except FileNotFoundError as exc:
        # Lost with its volume; the message names no server path.
        raise FatalTaskError(f"{receipt.filename}: the receipt's file is no longer stored") from exc


def _step_reporter(reporter: ProgressReporter) -> StepCallback:
    def on_step(step: Step, page: int, pages: int) -> None:
        if reporter.cancelled():
            raise Cancelled
        if step == "extracting":
            reporter.update(RECOGNISED, "Extracting vendor, date, total and tax")
            return
        start, end = _STEP_RANGE[step]
        reporter.update(
            start + (end - start) * (page - 1) / max(1, pages), _step_message(step, page, pages)
        )

    return on_step


def _step_message(step: Step, page: int, pages: int) -> str:
    where = f"page {page} of {pages}"
    if step == "preprocessing":
        return f"Preparing {where} for OCR"
    if step == "recognising":
        return f"Recognising the text of {where}"
    return f"Reading {where} again for the fields still in doubt"


def _match(context: TaskContext[OcrSpec], extraction: ReceiptExtraction) -> ReceiptMatch:
    candidates = []
    if extraction.total is not None and extraction.date is not None:
        start, end = search_window(extraction.date)
        with task_errors():
            candidates = context.ledger.receipts.candidates(
                context.spec.company_id,
                total=extraction.total,
                tolerance=amount_tolerance(extraction.currency),
                start=start,
                end=end,
            )
    return match_receipt(extraction, candidates)


def _summary(extraction: ReceiptExtraction, match: ReceiptMatch) -> str:
    found = [
        name
        for name, value in (
            ("vendor", extraction.company),
            ("date", extraction.date),
            ("total", extraction.total),
            ("tax", extraction.tax),
        )
        if value is not None
    ]
    read = f"Read {', '.join(found)}" if found else "No field could be read"
    if match.status == "matched":
        return f"{read}; matched a transaction"
    return f"{read}; {match.status}: {match.reason}"


def _link(spec: OcrSpec) -> str:
    return f"/api/receipts/{spec.receipt_id}"


def _result(spec: OcrSpec, extraction: ReceiptExtraction, match: ReceiptMatch) -> OcrResult:
    return OcrResult(
        receipt_id=spec.receipt_id,
        receipt=_link(spec),
        vendor=extraction.company,
        date=extraction.date,
        total=extraction.total,
        currency=extraction.currency,
        tax=extraction.tax,
        confidence=extraction.confidence,
        pages=extraction.pages,
        match_status=match.status,
        matched_transaction_id=match.transaction_id,
        match_score=match.transaction.score if match.transaction else None,
    )
