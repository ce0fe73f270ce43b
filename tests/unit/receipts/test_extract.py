"""Real scanned receipts read end to end, and a missing tesseract binary."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytesseract
import pytest

from bookkeeper_jobs.errors import OcrUnavailableError
from bookkeeper_jobs.receipts import ReceiptExtraction, extract_receipt
from bookkeeper_jobs.receipts.extract import _surer_fields
from bookkeeper_jobs.receipts.preprocess import Preprocessing
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


def _reading(**fields: object) -> ReceiptExtraction:
    confidence = fields.pop("confidence")
    return ReceiptExtraction.model_validate({**fields, "confidence": confidence, "text": "x"})


def test_each_field_comes_from_the_surer_reading() -> None:
    first = _reading(
        total=Decimal("10.60"),
        currency="MYR",
        tax=Decimal("0.60"),
        date=dt.date(2018, 8, 20),
        company="RESTORAN WAN SHENG",
        confidence={"total": 0.9, "tax": 0.7, "date": 0.5, "company": 0.8},
    )
    second = _reading(
        total=Decimal("10.00"),
        tax=None,
        date=dt.date(2018, 6, 20),
        company="RESTORAN WAN SHENS",
        confidence={"total": 0.6, "date": 0.9, "company": 0.8},
    )
    merged = _surer_fields(first, second)
    assert (merged.total, merged.currency, merged.tax) == (Decimal("10.60"), "MYR", Decimal("0.60"))
    assert merged.date == dt.date(2018, 6, 20)
    assert merged.company == "RESTORAN WAN SHENG"  # a tie keeps the first reading
    assert merged.confidence == {"total": 0.9, "tax": 0.7, "date": 0.9, "company": 0.8}
    assert merged.text == first.text


def test_a_surer_total_brings_its_own_currency_and_tax() -> None:
    first = _reading(total=Decimal("1.00"), tax=Decimal("0.06"), confidence={"total": 0.3})
    second = _reading(total=Decimal("7.00"), currency="MYR", confidence={"total": 0.8})
    merged = _surer_fields(first, second)
    assert (merged.total, merged.currency, merged.tax) == (Decimal("7.00"), "MYR", None)
    assert "tax" not in merged.confidence


@pytest.mark.usefixtures("tesseract")
@pytest.mark.parametrize("reread", [True, False])
def test_steps_are_reported_page_by_page_and_extracting_last(reread: bool) -> None:
    seen: list[tuple[str, int, int]] = []
    extract_receipt(
        receipt_bytes(RECEIPT_IDS[0]),
        steps=Preprocessing(softened_reread=reread),
        on_step=lambda step, page, pages: seen.append((step, page, pages)),
    )
    assert seen[:2] == [("preprocessing", 1, 1), ("recognising", 1, 1)]
    assert seen[-1] == ("extracting", 0, 1)
    assert {step for step, _, _ in seen[2:-1]} <= {"rereading"}
