"""The ledger's receipts (SQLite and PostgreSQL): recorded, paged newest first, read back
with what OCR found, and the candidates a receipt may match (only its own company's)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from bookkeeper_jobs.ledger import Ledger, NewTransaction
from bookkeeper_jobs.ledger.receipts import NewReceipt
from bookkeeper_jobs.receipts import ReceiptExtraction
from bookkeeper_jobs.receipts.matching import ReceiptMatch
from tests.unit.ledger.factories import COMPANY, TENANT

OTHER = "other-co"


def new_receipt(company_id: str = COMPANY, name: str = "r.jpg", digest: str = "a") -> NewReceipt:
    return NewReceipt(
        company_id=company_id,
        filename=name,
        content_type="image/jpeg",
        size_bytes=123,
        sha256=digest * 64,
        artifact_id="b" * 32,
    )


def test_a_receipt_is_recorded_with_its_tenant_and_nothing_read_yet(ledger: Ledger) -> None:
    added, created = ledger.receipts.add(new_receipt())

    stored = ledger.receipts.get(added.id)
    assert created

    assert stored == added
    assert stored.id.startswith("rcpt-")
    assert (stored.company_id, stored.tenant_id, stored.filename) == (COMPANY, TENANT, "r.jpg")
    assert (stored.extraction, stored.match, stored.ocr_job_id) == (None, None, None)
    assert stored.created_at.tzinfo is not None
    assert ledger.receipts.get("rcpt-00000000000000000000") is None


def test_pages_are_newest_first_and_per_company(ledger: Ledger) -> None:
    ledger.ensure_company(OTHER, TENANT)
    ids = [ledger.receipts.add(new_receipt(name=f"{n}.jpg", digest=f"{n}"))[0].id for n in range(5)]
    ledger.receipts.add(new_receipt(OTHER))

    first = ledger.receipts.page(COMPANY, limit=2)
    second = ledger.receipts.page(COMPANY, limit=2, after=first[-1])
    third = ledger.receipts.page(COMPANY, limit=2, after=second[-1])

    assert [r.id for r in first + second + third] == ids[::-1]


def test_what_ocr_read_and_the_match_are_stored_together(ledger: Ledger) -> None:
    receipt, _ = ledger.receipts.add(new_receipt())
    extraction = ReceiptExtraction(
        company="Kedai Runcit",
        date=datetime.date(2024, 3, 2),
        total=Decimal("12.30"),
        currency="MYR",
        tax=Decimal("0.70"),
        confidence={"total": 0.9},
        text="KEDAI RUNCIT\nTOTAL 12.30",
        pages=1,
    )
    match = ReceiptMatch(status="unmatched", reason="nothing fits")

    assert ledger.receipts.record_ocr(
        receipt.id, COMPANY, extraction=extraction, match=match, job_id="job-1"
    )

    stored = ledger.receipts.get(receipt.id)
    assert stored is not None
    assert stored.extraction == extraction
    assert stored.match == match
    assert stored.ocr_job_id == "job-1"
    assert stored.extracted_at is not None
    # Another company's id never writes this company's receipt.
    assert not ledger.receipts.record_ocr(
        receipt.id, OTHER, extraction=extraction, match=match, job_id="job-2"
    )


def test_candidates_have_the_amount_either_way_within_the_window_of_this_company(
    ledger: Ledger,
) -> None:
    ledger.ensure_company(OTHER, TENANT)

    def txn(day: int, amount: str, text: str) -> NewTransaction:
        return NewTransaction(datetime.date(2024, 3, day), text, Decimal(amount), "MYR")

    ledger.add_transactions(
        COMPANY,
        [
            txn(3, "-12.30", "paid"),
            txn(4, "12.30", "refund"),
            txn(5, "-12.34", "rounded"),
            txn(20, "-12.30", "too late"),
            txn(3, "-13.30", "other amount"),
        ],
    )
    ledger.add_transactions(OTHER, [txn(3, "-12.30", "other company")])

    found = ledger.receipts.candidates(
        COMPANY,
        total=Decimal("12.30"),
        tolerance=Decimal("0.05"),
        start=datetime.date(2024, 2, 26),
        end=datetime.date(2024, 3, 7),
    )

    assert sorted(t.description for t in found) == ["paid", "refund", "rounded"]


def test_the_same_file_again_is_the_same_receipt_but_not_across_companies(
    ledger: Ledger,
) -> None:
    ledger.ensure_company(OTHER, TENANT)
    first, _ = ledger.receipts.add(new_receipt(name="first.jpg"))

    again, created = ledger.receipts.add(new_receipt(name="again.jpg"))
    elsewhere, created_elsewhere = ledger.receipts.add(new_receipt(OTHER))

    assert (again, created) == (first, False)
    assert again.filename == "first.jpg"
    assert created_elsewhere
    assert elsewhere.id != first.id
