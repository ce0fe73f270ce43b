"""Matching a receipt to a transaction: an equal amount (within the currency's rounding) and
a close date are required; the vendor and the date decide between candidates; a near tie is
left for a person."""

from __future__ import annotations

import datetime
from decimal import Decimal

from bookkeeper_jobs.ledger import Transaction
from bookkeeper_jobs.receipts import ReceiptExtraction
from bookkeeper_jobs.receipts.matching import match_receipt, vendor_similarity

DAY = datetime.date(2024, 3, 2)


def receipt(
    total: str | None = "12.30",
    vendor: str | None = "STARBUCKS COFFEE SDN BHD",
    currency: str | None = "MYR",
    day: datetime.date | None = DAY,
) -> ReceiptExtraction:
    return ReceiptExtraction(
        company=vendor, date=day, total=Decimal(total) if total else None, currency=currency
    )


def txn(tid: str, amount: str, text: str, days_after: int = 0) -> Transaction:
    return Transaction(
        id=tid,
        company_id="c",
        date=DAY + datetime.timedelta(days=days_after),
        description=text,
        amount=Decimal(amount),
        currency="MYR",
        category=None,
        confidence=None,
        category_source=None,
        approval="pending",
        approved_at=None,
        fingerprint=tid,
        import_job_id=None,
        created_at=datetime.datetime(2024, 3, 5, tzinfo=datetime.UTC),
    )


def test_the_payment_of_the_vendor_wins_over_an_equal_amount_elsewhere() -> None:
    match = match_receipt(
        receipt(),
        [txn("t1", "-12.30", "TESCO EXTRA", 1), txn("t2", "-12.30", "POS STARBUCKS #1234 KL", 2)],
    )

    assert match.status == "matched"
    assert match.transaction_id == "t2"
    assert match.runner_up is not None and match.runner_up.transaction_id == "t1"
    assert match.transaction is not None and match.transaction.vendor_similarity >= 0.9


def test_cash_rounding_of_the_currency_is_an_equal_amount() -> None:
    match = match_receipt(receipt(total="12.32"), [txn("t1", "-12.30", "STARBUCKS")])

    assert match.transaction_id == "t1"


def test_a_cent_too_far_or_a_week_away_is_no_candidate() -> None:
    usd = receipt(total="12.32", currency="USD")
    assert match_receipt(usd, [txn("t1", "-12.30", "STARBUCKS")]).status == "unmatched"
    late = match_receipt(receipt(), [txn("t1", "-12.30", "STARBUCKS", days_after=6)])
    assert late.status == "unmatched"
    assert late.transaction is None


def test_two_identical_payments_are_ambiguous_not_guessed() -> None:
    match = match_receipt(
        receipt(), [txn("t1", "-12.30", "STARBUCKS KL"), txn("t2", "-12.30", "STARBUCKS KL")]
    )

    assert match.status == "ambiguous"
    assert match.transaction_id is None
    assert {match.transaction.transaction_id, match.runner_up.transaction_id} == {"t1", "t2"}  # type: ignore[union-attr]


def test_without_a_total_or_a_date_nothing_is_matched_and_the_reason_says_which() -> None:
    assert "no total" in match_receipt(receipt(total=None), [txn("t1", "-12.30", "X")]).reason
    assert "no date" in match_receipt(receipt(day=None), [txn("t1", "-12.30", "X")]).reason


def test_vendor_similarity_ignores_legal_suffixes_and_card_noise() -> None:
    assert vendor_similarity("PINGHWAI TRADING SDN BHD", "POS 4411 PINGHWAI KEPONG") > 0.9
    assert vendor_similarity("PINGHWAI TRADING SDN BHD", "TESCO EXTRA") < 0.5
    assert vendor_similarity(None, "TESCO") == 0.0
