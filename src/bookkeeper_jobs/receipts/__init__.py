"""Receipt extraction: vendor, date, total, currency and tax from a scanned or photographed
receipt (JPEG, PNG, TIFF or PDF), with tesseract.

``extract_receipt(data)`` is the one entry point; the modules are its steps in order:
``loading`` (content sniffing, limits, PDF rendering), ``preprocess`` (Pillow/numpy image
work), ``ocr`` (tesseract words and boxes), ``layout`` (printed rows), then the field rules
``amounts``, ``dates`` and ``company``.
"""

from bookkeeper_jobs.receipts.extract import Step, StepCallback, extract_receipt
from bookkeeper_jobs.receipts.loading import (
    ACCEPTED_TYPES,
    MAX_PAGE_PIXELS,
    MAX_PAGES,
    ReceiptFileInfo,
    inspect_receipt,
)
from bookkeeper_jobs.receipts.model import ReceiptExtraction
from bookkeeper_jobs.receipts.ocr import INSTALL_HINT, tesseract_available

__all__ = [
    "ACCEPTED_TYPES",
    "INSTALL_HINT",
    "MAX_PAGES",
    "MAX_PAGE_PIXELS",
    "ReceiptExtraction",
    "ReceiptFileInfo",
    "Step",
    "StepCallback",
    "extract_receipt",
    "inspect_receipt",
    "tesseract_available",
]
