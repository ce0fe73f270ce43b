"""Identity of imported rows: ids, normalization and the fingerprint that dedupes re-imports."""

from __future__ import annotations

import hashlib
import secrets
import time
from decimal import Decimal

from bookkeeper_jobs.ledger.records import NewTransaction

_CENT = Decimal("0.01")


def new_transaction_id() -> str:
    """``txn_``, the time in milliseconds (12 hex digits), then 64 random bits. Ids that
    sort by creation time are appended at the end of the primary key and of the
    (company, category, id) index instead of landing on random pages, so a big import does
    not slow down as those indexes outgrow the page cache, and categorizing an import's
    rows in id order reads and updates neighbouring pages."""
    return f"txn_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


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
