"""The company's receipts in the ledger: each uploaded file's record, what OCR read from it
and the transaction it matched (``ledger.receipts``, one database transaction a method)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, and_, or_, select, update

from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.ledger.models import companies, receipts, transactions
from bookkeeper_jobs.ledger.records import Transaction, aware, transaction_from_row
from bookkeeper_jobs.receipts.matching import ReceiptMatch
from bookkeeper_jobs.receipts.model import ReceiptExtraction

if TYPE_CHECKING:
    from bookkeeper_jobs.ledger.ledger import Ledger

MAX_CANDIDATES = 50
"""Transactions considered per receipt (equal amounts within a few days: a handful)."""


def new_receipt_id() -> str:
    """``rcpt-`` and 20 hex digits (random: an id reveals nothing about others)."""
    return f"rcpt-{secrets.token_hex(10)}"


@dataclass(frozen=True)
class NewReceipt:
    company_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    artifact_id: str


@dataclass(frozen=True)
class StoredReceipt:
    id: str
    company_id: str
    tenant_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    artifact_id: str
    created_at: dt.datetime
    extraction: ReceiptExtraction | None
    extracted_at: dt.datetime | None
    ocr_job_id: str | None
    match: ReceiptMatch | None


class ReceiptBook:
    """The receipts of every company in one ledger database."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def add(self, receipt: NewReceipt) -> tuple[StoredReceipt, bool]:
        """Record an uploaded receipt (its company must exist: ``ensure_company`` first), and
        whether it is new: the same file (by SHA-256) uploaded to the company before is that
        receipt, also when two uploads of it race."""
        with self._ledger._writing() as conn:
            created = conn.execute(
                self._ledger._insert(receipts)
                .values(
                    id=new_receipt_id(),
                    company_id=receipt.company_id,
                    filename=receipt.filename,
                    content_type=receipt.content_type,
                    size_bytes=receipt.size_bytes,
                    sha256=receipt.sha256,
                    artifact_id=receipt.artifact_id,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["company_id", "sha256"])
                .returning(receipts.c.id)
            ).first()
            row = conn.execute(
                _select().where(
                    receipts.c.company_id == receipt.company_id,
                    receipts.c.sha256 == receipt.sha256,
                )
            ).one()
        return _from_row(row), created is not None

    def get(self, receipt_id: str) -> StoredReceipt | None:
        """The receipt with its company's tenant (the caller checks access), or None."""
        with self._ledger._reading() as conn:
            row = conn.execute(_select().where(receipts.c.id == receipt_id)).first()
        return None if row is None else _from_row(row)

    def page(
        self, company_id: str, *, limit: int, after: StoredReceipt | None = None
    ) -> list[StoredReceipt]:
        """The company's receipts, newest first, after ``after`` (the last of a page)."""
        query = (
            _select()
            .where(receipts.c.company_id == company_id)
            .order_by(receipts.c.created_at.desc(), receipts.c.id.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                or_(
                    receipts.c.created_at < after.created_at,
                    and_(receipts.c.created_at == after.created_at, receipts.c.id < after.id),
                )
            )
        with self._ledger._reading() as conn:
            return [_from_row(row) for row in conn.execute(query)]

    def candidates(
        self,
        company_id: str,
        *,
        total: Decimal,
        tolerance: Decimal,
        start: dt.date,
        end: dt.date,
    ) -> list[Transaction]:
        """The company's transactions dated ``start``-``end`` whose amount is ``total`` within
        ``tolerance``, paid (negative) or received: what a receipt may match."""
        low, high = abs(total) - tolerance, abs(total) + tolerance
        query = (
            select(transactions)
            .where(
                transactions.c.company_id == company_id,
                transactions.c.date.between(start, end),
                or_(
                    transactions.c.amount.between(low, high),
                    transactions.c.amount.between(-high, -low),
                ),
            )
            .order_by(transactions.c.date, transactions.c.id)
            .limit(MAX_CANDIDATES)
        )
        with self._ledger._reading() as conn:
            return [transaction_from_row(row) for row in conn.execute(query)]

    def vendors_of(self, company_id: str, transaction_ids: Sequence[str]) -> dict[str, str]:
        """The vendor read from the receipt matched to each of ``transaction_ids`` (those
        with one)."""
        if not transaction_ids:
            return {}
        query = select(receipts.c.matched_transaction_id, receipts.c.vendor).where(
            receipts.c.company_id == company_id,
            receipts.c.matched_transaction_id.in_(list(transaction_ids)),
            receipts.c.vendor.is_not(None),
        )
        with self._ledger._reading() as conn:
            return {row.matched_transaction_id: row.vendor for row in conn.execute(query)}

    def record_ocr(
        self,
        receipt_id: str,
        company_id: str,
        *,
        extraction: ReceiptExtraction,
        match: ReceiptMatch,
        job_id: str,
    ) -> bool:
        """Store what OCR read and the match, together (never one without the other);
        False when the receipt is gone (deleted with its company)."""
        values: dict[str, Any] = {
            "vendor": extraction.company[:255] if extraction.company else None,
            "receipt_date": extraction.date,
            "total": extraction.total,
            "currency": extraction.currency,
            "tax": extraction.tax,
            "extraction": extraction.model_dump_json(),
            "extracted_at": utcnow(),
            "ocr_job_id": job_id,
            "matched_transaction_id": match.transaction_id,
            "match": match.model_dump_json(),
        }
        with self._ledger._writing() as conn:
            updated = conn.execute(
                update(receipts)
                .where(receipts.c.id == receipt_id, receipts.c.company_id == company_id)
                .values(**values)
            )
        return updated.rowcount == 1


def _select() -> Any:
    return select(receipts, companies.c.tenant_id).join(
        companies, companies.c.id == receipts.c.company_id
    )


def _from_row(row: Row[Any]) -> StoredReceipt:
    created_at = aware(row.created_at)
    assert created_at is not None
    return StoredReceipt(
        id=row.id,
        company_id=row.company_id,
        tenant_id=row.tenant_id,
        filename=row.filename,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        artifact_id=row.artifact_id,
        created_at=created_at,
        extraction=(
            ReceiptExtraction.model_validate_json(row.extraction) if row.extraction else None
        ),
        extracted_at=aware(row.extracted_at),
        ocr_job_id=row.ocr_job_id,
        match=ReceiptMatch.model_validate_json(row.match) if row.match else None,
    )
