"""Plain values the ledger hands out and takes in; no ORM object or session ever leaves it."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from sqlalchemy import Row

from bookkeeper_jobs.ledger.accounts import AccountKind

CategorySource = Literal["rule", "model", "user"]
Approval = Literal["pending", "approved"]
RuleKind = Literal["contains", "regex", "amount_range"]

MAX_AMOUNT = Decimal("1e12")
"""Amounts are stored as Numeric(14, 2): after rounding to cents, strictly below this."""
_CENT = Decimal("0.01")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class NewTransaction:
    """A row to import. ``occurrence`` numbers identical (date, description, amount) rows
    within one file, so a re-import is a no-op while two identical coffees stay two rows."""

    date: datetime.date
    description: str
    amount: Decimal
    currency: str = "USD"
    occurrence: int = 0


def new_transaction_problem(row: NewTransaction) -> str | None:
    """Why the ledger would refuse ``row``, or None. An import checks each row with this
    first, so such a row is reported by its line instead of failing the whole file."""
    if not _CURRENCY.fullmatch(row.currency.upper()):
        return f"currency {row.currency!r} is not a 3-letter code"
    # The raw comparison first: quantizing a 30-digit amount raises InvalidOperation.
    if abs(row.amount) >= MAX_AMOUNT or abs(row.amount.quantize(_CENT)) >= MAX_AMOUNT:
        return f"amount {row.amount} is out of range (at most 999,999,999,999.99)"
    if "\x00" in row.description:
        return "description contains a NUL character"  # PostgreSQL text cannot hold one
    return None


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    kind: AccountKind


@dataclass(frozen=True)
class Transaction:
    id: str
    company_id: str
    date: datetime.date
    description: str
    amount: Decimal
    currency: str
    category: str | None
    confidence: float | None
    category_source: CategorySource | None
    approval: Approval
    approved_at: datetime.datetime | None
    fingerprint: str
    import_job_id: str | None
    created_at: datetime.datetime
    suggested_category: str | None = None
    """The model's guess, for review, when it was not confident enough to book it."""
    suggestion_confidence: float | None = None

    @property
    def locked(self) -> bool:
        """A person decided this category (set it, or approved it): automation keeps off."""
        return self.category_source == "user" or (
            self.approval == "approved" and self.category is not None
        )


@dataclass(frozen=True)
class Rule:
    """Description contains ``pattern`` (case-insensitive) / matches the regex ``pattern`` /
    (any kind) the amount lies within the optional inclusive bounds → ``account_code``."""

    id: int
    kind: RuleKind
    pattern: str | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    account_code: str
    priority: int


@dataclass(frozen=True)
class TrainingExample:
    description: str
    amount: Decimal
    category: str
    date: datetime.date | None = None


@dataclass(frozen=True)
class CategoryAssignment:
    """An automatic category; ``suggested_category`` (with its confidence) is stored for
    review beside it (None clears an earlier suggestion)."""

    transaction_id: str
    category: str
    confidence: float
    source: CategorySource
    suggested_category: str | None = None
    suggestion_confidence: float | None = None


class Booking(NamedTuple):
    """The category an import books a new row to, decided before the row is written (so
    each row is written once); like :class:`CategoryAssignment` without the id. A named
    tuple: one is made per imported row, and it goes into the row's values as it is."""

    category: str
    confidence: float
    source: CategorySource
    suggested_category: str | None = None
    suggestion_confidence: float | None = None


@dataclass(frozen=True)
class ApprovalOutcome:
    approved: int = 0
    already_approved: int = 0
    not_found: list[str] = field(default_factory=list)


def check_rule(
    kind: RuleKind, pattern: str | None, low: Decimal | None, high: Decimal | None
) -> None:
    if kind in ("contains", "regex") and not pattern:
        raise ValueError(f"a {kind} rule needs a pattern")
    if kind == "regex":
        try:
            re.compile(pattern or "")
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
    if kind == "amount_range" and low is None and high is None:
        raise ValueError("an amount_range rule needs min_amount or max_amount")
    if low is not None and high is not None and low > high:
        raise ValueError("min_amount is greater than max_amount")


def aware(value: datetime.datetime | None) -> datetime.datetime | None:
    # SQLite hands back naive datetimes; everything the ledger stores is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value


def transaction_from_row(row: Row[Any]) -> Transaction:
    created_at = aware(row.created_at)
    assert created_at is not None
    return Transaction(
        id=row.id,
        company_id=row.company_id,
        date=row.date,
        description=row.description,
        amount=Decimal(row.amount).quantize(Decimal("0.01")),
        currency=row.currency,
        category=row.category,
        confidence=row.confidence,
        category_source=row.category_source,
        approval=row.approval,
        approved_at=aware(row.approved_at),
        fingerprint=row.fingerprint,
        import_job_id=row.import_job_id,
        created_at=created_at,
        suggested_category=row.suggested_category,
        suggestion_confidence=row.suggestion_confidence,
    )


def rule_from_row(row: Row[Any]) -> Rule:
    return Rule(
        id=row.id,
        kind=row.kind,
        pattern=row.pattern,
        min_amount=row.min_amount,
        max_amount=row.max_amount,
        account_code=row.account_code,
        priority=row.priority,
    )
