"""Identity of imported rows: ids, normalization and the fingerprint that dedupes re-imports."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from decimal import Decimal

from bookkeeper_jobs.ledger.records import NewTransaction

_CENT = Decimal("0.01")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_transaction_id() -> str:
    return f"txn_{secrets.token_hex(12)}"


def normalize_description(description: str) -> str:
    return " ".join(description.casefold().split())


def transaction_fingerprint(company_id: str, row: NewTransaction) -> str:
    """Identity of an imported row: the same statement line imported twice is one row."""
    parts = (
        company_id,
        row.date.isoformat(),
        str(to_cents(row.amount)),
        normalize_description(row.description),
        row.currency.upper(),
        str(row.occurrence),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def to_cents(amount: Decimal) -> Decimal:
    """``amount`` rounded to cents (the ledger stores Numeric(14, 2))."""
    return Decimal(amount).quantize(_CENT)
