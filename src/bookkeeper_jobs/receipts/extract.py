"""``extract_receipt``: file bytes in, fields out (the one entry point of this package)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal, TypeAlias

from PIL import Image

from bookkeeper_jobs.receipts.amounts import find_tax, find_total
from bookkeeper_jobs.receipts.company import find_company
from bookkeeper_jobs.receipts.dates import find_date
from bookkeeper_jobs.receipts.layout import Row, rows
from bookkeeper_jobs.receipts.loading import load_pages
from bookkeeper_jobs.receipts.model import ReceiptExtraction
from bookkeeper_jobs.receipts.ocr import OcrPage, recognise
from bookkeeper_jobs.receipts.preprocess import Preprocessing, preprocess, soften

FIRST_PSM = 6
"""tesseract page segmentation for the first pass: one uniform block of text, as a receipt
is printed (the benchmark reads more fields with it than with automatic segmentation)."""
SECOND_PSM = 4
"""The last pass, only when no reading found a total: one column of variable-size text."""
REREAD_BELOW: Final = 0.8
"""A field missing or found with less confidence than this has the page reread softened
(``preprocess.soften``); each field then comes from the reading that is surer of it."""
FIELDS: Final = ("total", "date", "company")

Step: TypeAlias = Literal["preprocessing", "recognising", "rereading", "extracting"]
StepCallback: TypeAlias = Callable[[Step, int, int], None]
"""``(step, page, pages)`` before each step of each page (``page`` counts from 1; 0 for the
whole receipt). The OCR job reports progress with it; raising stops the extraction (how a
cancelled job stops between pages)."""


def _no_steps(step: Step, page: int, pages: int) -> None:
    del step, page, pages


def extract_receipt(
    data: bytes,
    *,
    filename: str | None = None,
    steps: Preprocessing | None = None,
    on_step: StepCallback = _no_steps,
) -> ReceiptExtraction:
    """Read a receipt (JPEG, PNG, TIFF or PDF bytes; the type is judged from the content,
    ``filename`` is only named in errors) and extract its company, date, total, currency and
    tax with a confidence each, and its full text.

    Raises ``ReceiptFileError`` (a subclass per cause) for a file that is not a readable
    receipt or is over the page and pixel limits, ``OcrUnavailableError`` when tesseract is
    not installed and ``OcrFailedError`` when it fails on a page."""
    del filename  # the content decides; the name may lie
    steps = steps or Preprocessing()
    loaded = load_pages(data)
    count = len(loaded)
    images = []
    for number, page in enumerate(loaded, start=1):
        on_step("preprocessing", number, count)
        images.append(preprocess(page.image, steps))
    pages = _recognise_all(images, FIRST_PSM, "recognising", on_step)
    found = _fields(pages, rows(pages))
    if steps.softened_reread and _doubtful(found):
        softened = [soften(image) for image in images]
        again = _recognise_all(softened, FIRST_PSM, "rereading", on_step)
        found = _surer_fields(found, _fields(again, rows(again)))
    if found.total is None:
        second = _recognise_all(images, SECOND_PSM, "rereading", on_step)
        found = _surer_fields(found, _fields(second, rows(second)))
    on_step("extracting", 0, count)
    return found


def _doubtful(found: ReceiptExtraction) -> bool:
    return any(found.confidence.get(field, 0.0) < REREAD_BELOW for field in FIELDS)


def _surer_fields(first: ReceiptExtraction, second: ReceiptExtraction) -> ReceiptExtraction:
    """Each field from the reading more confident of it (the first on a tie); the currency
    and tax come with the total they were read beside. The text stays the first reading's."""
    merged = first.model_copy(deep=True)
    for field in FIELDS:
        if second.confidence.get(field, 0.0) <= first.confidence.get(field, 0.0):
            continue
        merged.confidence[field] = second.confidence[field]
        setattr(merged, field, getattr(second, field))
        if field == "total":
            merged.currency = second.currency
            merged.tax = second.tax
            merged.confidence.pop("tax", None)
            if "tax" in second.confidence:
                merged.confidence["tax"] = second.confidence["tax"]
    return merged


def _recognise_all(
    images: list[Image.Image], psm: int, step: Step, on_step: StepCallback
) -> list[OcrPage]:
    pages = []
    for number, image in enumerate(images, start=1):
        on_step(step, number, len(images))
        pages.append(recognise(image, psm=psm))
    return pages


def _fields(pages: list[OcrPage], found_rows: list[Row]) -> ReceiptExtraction:
    confidence: dict[str, float] = {}
    total = find_total(found_rows)
    date = find_date(found_rows)
    company = find_company(found_rows)
    tax = find_tax(found_rows, total.value if total else None)
    if total:
        confidence["total"] = total.confidence
    if date:
        confidence["date"] = date.confidence
    if company:
        confidence["company"] = company.confidence
    if tax:
        confidence["tax"] = tax.confidence
    return ReceiptExtraction(
        company=company.value if company else None,
        date=date.value if date else None,
        total=total.value if total else None,
        currency=total.currency if total else None,
        tax=tax.value if tax else None,
        confidence=confidence,
        text="\n\f\n".join(page.text for page in pages),
        pages=len(pages),
    )
