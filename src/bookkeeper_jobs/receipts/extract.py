"""``extract_receipt``: file bytes in, fields out (the one entry point of this package)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeAlias

from PIL import Image

from bookkeeper_jobs.receipts.amounts import find_tax, find_total
from bookkeeper_jobs.receipts.company import find_company
from bookkeeper_jobs.receipts.dates import find_date
from bookkeeper_jobs.receipts.layout import Row, rows
from bookkeeper_jobs.receipts.loading import load_pages
from bookkeeper_jobs.receipts.model import ReceiptExtraction
from bookkeeper_jobs.receipts.ocr import OcrPage, recognise
from bookkeeper_jobs.receipts.preprocess import Preprocessing, preprocess

FIRST_PSM = 6
"""tesseract page segmentation for the first pass: one uniform block of text, as a receipt
is printed (the benchmark reads more fields with it than with automatic segmentation)."""
SECOND_PSM = 4
"""The second pass, only when the first found no total: one column of variable-size text."""

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
    loaded = load_pages(data)
    count = len(loaded)
    images = []
    for number, page in enumerate(loaded, start=1):
        on_step("preprocessing", number, count)
        images.append(preprocess(page.image, steps or Preprocessing()))
    pages = _recognise_all(images, FIRST_PSM, "recognising", on_step)
    found_rows = rows(pages)
    total = find_total(found_rows)
    if total is None:
        second = _recognise_all(images, SECOND_PSM, "rereading", on_step)
        second_rows = rows(second)
        if find_total(second_rows) is not None:
            pages, found_rows = second, second_rows
    on_step("extracting", 0, count)
    return _fields(pages, found_rows)


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
