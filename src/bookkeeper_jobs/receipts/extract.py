"""``extract_receipt``: file bytes in, fields out (the one entry point of this package)."""

from __future__ import annotations

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


def extract_receipt(
    data: bytes,
    *,
    filename: str | None = None,
    steps: Preprocessing | None = None,
) -> ReceiptExtraction:
    """Read a receipt (JPEG, PNG, TIFF or PDF bytes; the type is judged from the content,
    ``filename`` is only named in errors) and extract its company, date, total, currency and
    tax with a confidence each, and its full text.

    Raises ``ReceiptFileError`` (a subclass per cause) for a file that is not a readable
    receipt or is over the page and pixel limits, ``OcrUnavailableError`` when tesseract is
    not installed and ``OcrFailedError`` when it fails on a page."""
    del filename  # the content decides; the name may lie
    images = [preprocess(page.image, steps or Preprocessing()) for page in load_pages(data)]
    pages = [recognise(image, psm=FIRST_PSM) for image in images]
    found_rows = rows(pages)
    total = find_total(found_rows)
    if total is None:
        second = [recognise(image, psm=SECOND_PSM) for image in images]
        second_rows = rows(second)
        if find_total(second_rows) is not None:
            pages, found_rows = second, second_rows
    return _fields(pages, found_rows)


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
