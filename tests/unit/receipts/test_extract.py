"""Real scanned receipts read end to end, and a missing tesseract binary."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytesseract
import pytest

from bookkeeper_jobs.errors import OcrUnavailableError
from bookkeeper_jobs.receipts import ReceiptExtraction, extract_receipt
from tests.unit.receipts.conftest import RECEIPT_IDS, receipt_bytes, receipt_truth


def test_the_fixtures_are_there() -> None:
    assert len(RECEIPT_IDS) == 3


@pytest.mark.usefixtures("tesseract")
@pytest.mark.parametrize("receipt_id", RECEIPT_IDS)
def test_a_real_receipt_is_read_correctly(receipt_id: str) -> None:
    truth = receipt_truth(receipt_id)
    found = extract_receipt(receipt_bytes(receipt_id), filename=f"{receipt_id}.jpg")
    assert isinstance(found, ReceiptExtraction)
    assert found.total == Decimal(truth["total"].replace(",", ""))
    assert found.date == _truth_date(truth["date"])
    assert found.company is not None
    assert found.company.replace(" ", "").upper() == truth["company"].replace(" ", "").upper()
    assert found.currency in {"MYR", None}  # RM where tesseract read it
    assert found.pages == 1
    assert set(found.confidence) >= {"total", "date", "company"}
    assert all(0 < value <= 1 for value in found.confidence.values())
    assert truth["total"].replace(",", "") in found.text.replace(",", "")


def _truth_date(text: str) -> dt.date:
    for pattern in ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise AssertionError(text)


def test_a_missing_tesseract_binary_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailableError, match=r"apt-get install tesseract-ocr"):
        extract_receipt(receipt_bytes(RECEIPT_IDS[0]))
