"""What people do with categories (``ledger.review``): list a company's transactions with
filters, correct one (audited, idempotent), and the rules its corrections suggest.

A correction is a person's choice: source ``user``, confidence 1, any suggestion cleared;
it becomes a training example for the categorizer and is recorded in ``category_changes``
(who, when, old and new category) in the same database transaction. Correcting a
transaction to the category it already has from a person changes and records nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, func, insert, or_, select, update

from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.ledger.accounts import UNCATEGORIZED
from bookkeeper_jobs.ledger.fingerprint import normalize_description
from bookkeeper_jobs.ledger.models import (
    accounts,
    categorization_rules,
    category_changes,
    companies,
    transactions,
)
from bookkeeper_jobs.ledger.records import Transaction, aware, transaction_from_row

if TYPE_CHECKING:
    from bookkeeper_jobs.ledger.ledger import Ledger

MIN_CONSISTENT_CORRECTIONS = 3
"""A merchant corrected this many times, always to one account, suggests a rule."""

Status = Literal["pending", "approved", "uncategorized", "suggested"]


@dataclass(frozen=True)
class TransactionFilter:
    status: Status | None = None
    category: str | None = None
    text: str | None = None
    """Part of the description (case-insensitive)."""
    start: dt.date | None = None
    end: dt.date | None = None


@dataclass(frozen=True)
class CategoryChangeRecord:
    transaction_id: str
    actor: str
    old_category: str | None
    new_category: str
    at: dt.datetime


@dataclass(frozen=True)
class RuleSuggestion:
    pattern: str
    """What the merchant's descriptions contain (normalised)."""
    account_code: str
    corrections: int
    """Rows of this merchant people categorized, all to ``account_code``."""
    examples: list[str]


class UnknownAccountError(ValueError):
    """The category is not an account of the company's chart."""


class Review:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    # -- reading -------------------------------------------------------------------------

    def page(
        self,
        company_id: str,
        where: TransactionFilter,
        *,
        limit: int,
        after: Transaction | None = None,
    ) -> list[Transaction]:
        """One page of the company's transactions, newest first (date, then id)."""
        t = transactions.c
        query = select(transactions).where(t.company_id == company_id, *_filters(where))
        if after is not None:
            query = query.where(
                or_(t.date < after.date, and_(t.date == after.date, t.id < after.id))
            )
        query = query.order_by(t.date.desc(), t.id.desc()).limit(limit)
        with self._ledger._reading() as conn:
            return [transaction_from_row(row) for row in conn.execute(query)]

    def transaction(self, transaction_id: str) -> tuple[Transaction, str] | None:
        """The transaction and its company's tenant (the caller checks access)."""
        query = (
            select(transactions, companies.c.tenant_id.label("owner_tenant"))
            .join(companies, companies.c.id == transactions.c.company_id)
            .where(transactions.c.id == transaction_id)
        )
        with self._ledger._reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else (transaction_from_row(row), row.owner_tenant)

    def changes(self, company_id: str, transaction_id: str) -> list[CategoryChangeRecord]:
        c = category_changes.c
        query = (
            select(category_changes)
            .where(c.company_id == company_id, c.transaction_id == transaction_id)
            .order_by(c.id)
        )
        with self._ledger._reading() as conn:
            return [_change(row) for row in conn.execute(query)]

    def corrections_count(self, company_id: str) -> int:
        query = select(func.count()).where(category_changes.c.company_id == company_id)
        with self._ledger._reading() as conn:
            return int(conn.execute(query).scalar_one())

    # -- correcting ----------------------------------------------------------------------

    def correct(
        self, company_id: str, transaction_id: str, category: str, actor: str
    ) -> tuple[Transaction, bool] | None:
        """Set a person's category; ``(transaction, changed)``, or None for no such
        transaction of the company. Raises :class:`UnknownAccountError`."""
        t = transactions.c
        with self._ledger._writing() as conn:
            row = conn.execute(
                select(transactions).where(t.company_id == company_id, t.id == transaction_id)
            ).first()
            if row is None:
                return None
            current = transaction_from_row(row)
            known = conn.execute(
                select(accounts.c.code).where(
                    accounts.c.company_id == company_id, accounts.c.code == category
                )
            ).first()
            if known is None:
                raise UnknownAccountError(f"{category!r} is not an account of the company")
            if current.category == category and current.category_source == "user":
                return current, False
            conn.execute(
                update(transactions)
                .where(t.company_id == company_id, t.id == transaction_id)
                .values(
                    category=category,
                    confidence=1.0,
                    category_source="user",
                    suggested_category=None,
                    suggestion_confidence=None,
                )
            )
            conn.execute(
                insert(category_changes).values(
                    company_id=company_id,
                    transaction_id=transaction_id,
                    actor=actor[:255],
                    old_category=current.category,
                    new_category=category,
                    created_at=utcnow(),
                )
            )
            updated = conn.execute(
                select(transactions).where(t.company_id == company_id, t.id == transaction_id)
            ).one()
        return transaction_from_row(updated), True

    # -- rules the corrections suggest ---------------------------------------------------

    def rule_suggestions(
        self, company_id: str, *, minimum: int = MIN_CONSISTENT_CORRECTIONS
    ) -> list[RuleSuggestion]:
        """Merchants people categorized at least ``minimum`` times, always to one account,
        that no rule of the company covers yet: each a ``contains`` rule to accept."""
        t = transactions.c
        query = select(t.description, t.category).where(
            t.company_id == company_id, t.category_source == "user", t.category.is_not(None)
        )
        rules = select(categorization_rules.c.kind, categorization_rules.c.pattern).where(
            categorization_rules.c.company_id == company_id
        )
        with self._ledger._reading() as conn:
            rows = conn.execute(query).all()
            patterns = [
                (r.pattern or "").lower() for r in conn.execute(rules) if r.kind == "contains"
            ]
        by_merchant: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for description, category in rows:
            by_merchant[merchant_of(description)][category].append(description)
        suggestions = []
        for merchant, categories in sorted(by_merchant.items()):
            if not merchant or len(categories) != 1:
                continue
            ((category, examples),) = categories.items()
            if len(examples) < minimum or category == UNCATEGORIZED:
                continue
            if any(pattern and pattern in merchant for pattern in patterns):
                continue
            suggestions.append(
                RuleSuggestion(merchant, category, len(examples), sorted(set(examples))[:3])
            )
        return sorted(suggestions, key=lambda s: (-s.corrections, s.pattern))


def merchant_of(description: str) -> str:
    """The merchant part of a bank description: the normalised text without digits (card
    numbers, store numbers, dates), which a ``contains`` rule can match."""
    words = [
        w for w in normalize_description(description).split() if not any(c.isdigit() for c in w)
    ]
    return " ".join(words)


def _filters(where: TransactionFilter) -> list[Any]:
    t = transactions.c
    found: list[Any] = []
    if where.status in ("pending", "approved"):
        found.append(t.approval == where.status)
    elif where.status == "uncategorized":
        found.append(or_(t.category.is_(None), t.category == UNCATEGORIZED))
    elif where.status == "suggested":
        found.append(t.suggested_category.is_not(None))
    if where.category is not None:
        found.append(t.category == where.category)
    if where.text:
        escaped = where.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found.append(func.lower(t.description).like(f"%{escaped}%", escape="\\"))
    if where.start is not None:
        found.append(t.date >= where.start)
    if where.end is not None:
        found.append(t.date <= where.end)
    return found


def _change(row: Any) -> CategoryChangeRecord:
    at = aware(row.created_at)
    assert at is not None
    return CategoryChangeRecord(
        transaction_id=row.transaction_id,
        actor=row.actor,
        old_category=row.old_category,
        new_category=row.new_category,
        at=at,
    )
