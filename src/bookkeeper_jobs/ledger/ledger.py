"""The ledger: companies, chart of accounts, transactions and categorization rules.

One :class:`Ledger` per process, built from settings. Every public method is one database
transaction and returns plain dataclasses (:mod:`bookkeeper_jobs.ledger.records`). Bulk paths
(imports, categorizing, approving) use Core statements with executemany, never ORM objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from bookkeeper_jobs.errors import FatalTaskError
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.ledger.accounts import DEFAULT_CHART, UNCATEGORIZED, AccountSpec
from bookkeeper_jobs.ledger.bulk_import import ID_CHUNK, insert_rows
from bookkeeper_jobs.ledger.engine import WRITE_OPTION, create_ledger_engine
from bookkeeper_jobs.ledger.models import accounts, categorization_rules, companies, transactions
from bookkeeper_jobs.ledger.quickbooks import QuickBooksBook
from bookkeeper_jobs.ledger.receipts import ReceiptBook
from bookkeeper_jobs.ledger.records import (
    Account,
    Approval,
    ApprovalOutcome,
    Booking,
    CategoryAssignment,
    NewTransaction,
    Rule,
    RuleKind,
    TrainingExample,
    Transaction,
    check_rule,
    rule_from_row,
    transaction_from_row,
)
from bookkeeper_jobs.ledger.review import Review
from bookkeeper_jobs.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_MIGRATION_LOCK = 7_240_417  # any constant: serializes concurrent migrations on PostgreSQL


class Ledger:
    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported ledger database: {engine.dialect.name}")
        self.engine = engine

    @classmethod
    def from_settings(cls, settings: Settings) -> Ledger:
        """The ledger of ``settings`` (not migrated: call :meth:`migrate` at startup)."""
        return cls(create_ledger_engine(settings.ledger_url))

    # -- lifecycle ---------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it is already there."""
        with self._writing() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()

    @property
    def receipts(self) -> ReceiptBook:
        """The companies' receipts (uploaded files, what OCR read, the matches)."""
        return ReceiptBook(self)

    @property
    def review(self) -> Review:
        """Transactions as people review them: filtered listings, audited corrections, the
        rules corrections suggest."""
        return Review(self)

    @property
    def quickbooks(self) -> QuickBooksBook:
        """QuickBooks Online connections and the record of what was exported."""
        return QuickBooksBook(self)

    # -- companies and accounts --------------------------------------------------------

    def ensure_company(self, company_id: str, tenant_id: str, name: str | None = None) -> None:
        """Create the company with the default chart if missing; refuse another tenant's."""
        with self._writing() as conn:
            created = conn.execute(
                self._insert(companies)
                .values(id=company_id, tenant_id=tenant_id, name=name or company_id)
                .values(created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(companies.c.id)
            ).first()
            if created is None:
                owner = conn.execute(
                    select(companies.c.tenant_id).where(companies.c.id == company_id)
                ).scalar_one()
                if owner != tenant_id:
                    raise FatalTaskError(f"company {company_id!r} belongs to another tenant")
                return
            self._add_accounts(conn, company_id, DEFAULT_CHART)

    def company_tenant(self, company_id: str) -> str | None:
        """The tenant owning ``company_id``, or None when there is no such company."""
        with self._reading() as conn:
            tenant: str | None = conn.execute(
                select(companies.c.tenant_id).where(companies.c.id == company_id)
            ).scalar_one_or_none()
            return tenant

    def ensure_accounts(self, company_id: str, specs: Sequence[AccountSpec]) -> int:
        """Add the accounts of ``specs`` the chart lacks; returns how many were new."""
        with self._writing() as conn:
            return self._add_accounts(conn, company_id, specs)

    def list_accounts(self, company_id: str) -> list[Account]:
        query = (
            select(accounts.c.code, accounts.c.name, accounts.c.kind)
            .where(accounts.c.company_id == company_id)
            .order_by(accounts.c.code)
        )
        with self._reading() as conn:
            return [Account(code=r.code, name=r.name, kind=r.kind) for r in conn.execute(query)]

    def _add_accounts(self, conn: Connection, company_id: str, specs: Sequence[AccountSpec]) -> int:
        if not specs:
            return 0
        rows = [
            {"company_id": company_id, "code": s.code, "name": s.name, "kind": s.kind}
            for s in specs
        ]
        statement = (
            self._insert(accounts)
            .on_conflict_do_nothing(index_elements=["company_id", "code"])
            .returning(accounts.c.code)
        )
        return len(conn.execute(statement, rows).all())

    # -- importing ---------------------------------------------------------------------

    def add_transactions(
        self,
        company_id: str,
        rows: Sequence[NewTransaction],
        *,
        import_job_id: str | None = None,
    ) -> int:
        """Insert ``rows`` uncategorized (one database transaction); already imported ones
        are skipped by fingerprint. Returns how many were new.

        An already imported row that is still uncategorized is taken over by this import
        (``import_job_id``), so the import that includes it categorizes it: a re-upload
        after a failed or cancelled one finishes the job the first one left."""
        return sum(self.import_transactions(company_id, rows, None, import_job_id=import_job_id))

    def import_transactions(
        self,
        company_id: str,
        rows: Sequence[NewTransaction],
        bookings: Sequence[Booking] | None,
        *,
        import_job_id: str | None = None,
    ) -> list[bool]:
        """As :meth:`add_transactions`, each new row booked to its ``bookings`` entry (or
        uncategorized when None), written in bulk (COPY on PostgreSQL); which rows were
        new, in order."""
        if not rows:
            return []
        with self._writing() as conn:
            return insert_rows(conn, company_id, rows, bookings, import_job_id, utcnow())

    # -- reading transactions ----------------------------------------------------------

    def get_transactions(self, company_id: str, ids: Sequence[str]) -> list[Transaction]:
        """Those of ``ids`` that belong to ``company_id`` (others are simply absent)."""
        found: list[Transaction] = []
        with self._reading() as conn:
            for start in range(0, len(ids), ID_CHUNK):
                chunk = list(ids[start : start + ID_CHUNK])
                query = select(transactions).where(
                    transactions.c.company_id == company_id, transactions.c.id.in_(chunk)
                )
                found.extend(transaction_from_row(r) for r in conn.execute(query))
        return found

    def uncategorized_transactions(
        self,
        company_id: str,
        *,
        limit: int,
        after: str | None = None,
        import_job_id: str | None = None,
    ) -> list[Transaction]:
        """One page (by id, after ``after``) of transactions that have no category yet."""
        query = (
            select(transactions)
            .where(transactions.c.company_id == company_id, transactions.c.category.is_(None))
            .order_by(transactions.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(transactions.c.id > after)
        if import_job_id is not None:
            query = query.where(transactions.c.import_job_id == import_job_id)
        with self._reading() as conn:
            return [transaction_from_row(r) for r in conn.execute(query)]

    def list_transactions(
        self,
        company_id: str,
        *,
        limit: int = 100,
        after: str | None = None,
        approval: Approval | None = None,
        import_job_id: str | None = None,
    ) -> list[Transaction]:
        """One page of the company's transactions ordered by id (keyset: pass the last id)."""
        query = (
            select(transactions)
            .where(*self._filters(company_id, approval=approval, import_job_id=import_job_id))
            .order_by(transactions.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(transactions.c.id > after)
        with self._reading() as conn:
            return [transaction_from_row(r) for r in conn.execute(query)]

    def count_transactions(
        self,
        company_id: str,
        *,
        uncategorized: bool | None = None,
        approval: Approval | None = None,
        import_job_id: str | None = None,
        created_since: datetime | None = None,
    ) -> int:
        filters = self._filters(company_id, approval=approval, import_job_id=import_job_id)
        if created_since is not None:
            filters.append(transactions.c.created_at >= created_since)
        if uncategorized is not None:
            column = transactions.c.category
            filters.append(column.is_(None) if uncategorized else column.is_not(None))
        query = select(func.count()).select_from(transactions).where(*filters)
        with self._reading() as conn:
            return int(conn.execute(query).scalar_one())

    @staticmethod
    def _filters(
        company_id: str, *, approval: Approval | None, import_job_id: str | None
    ) -> list[ColumnElement[bool]]:
        filters = [transactions.c.company_id == company_id]
        if approval is not None:
            filters.append(transactions.c.approval == approval)
        if import_job_id is not None:
            filters.append(transactions.c.import_job_id == import_job_id)
        return filters

    def training_examples(self, company_id: str, *, limit: int = 200_000) -> list[TrainingExample]:
        """Categories people confirmed (approved, or set by a user), newest first; never the
        Uncategorized account."""
        t = transactions.c
        query = (
            select(t.description, t.amount, t.category, t.date)
            .where(*_confirmed(company_id))
            .order_by(t.date.desc(), t.fingerprint)
            .limit(limit)
        )
        with self._reading() as conn:
            return [
                TrainingExample(
                    description=r.description, amount=r.amount, category=r.category, date=r.date
                )
                for r in conn.execute(query)
            ]

    def count_training_examples(self, company_id: str) -> int:
        """How many rows :meth:`training_examples` has to give (before its limit)."""
        with self._reading() as conn:
            return int(
                conn.execute(select(func.count()).where(*_confirmed(company_id))).scalar_one()
            )

    # -- categorizing and approving ----------------------------------------------------

    def save_categories(self, company_id: str, assignments: Sequence[CategoryAssignment]) -> int:
        """Store automatic categories and their suggestions (an assignment without one
        clears the row's earlier suggestion); rows a person decided (see
        ``Transaction.locked``) are left alone. Returns how many rows changed."""
        if not assignments:
            return 0
        t = transactions.c
        statement = (
            update(transactions)
            .where(t.company_id == company_id, t.id == bindparam("b_id"))
            .where((t.category_source.is_(None)) | (t.category_source != "user"))
            .where((t.approval == "pending") | t.category.is_(None))
            .values(
                category=bindparam("b_category"),
                confidence=bindparam("b_confidence"),
                category_source=bindparam("b_source"),
                suggested_category=bindparam("b_suggested"),
                suggestion_confidence=bindparam("b_suggestion_confidence"),
            )
        )
        params = [
            {
                "b_id": a.transaction_id,
                "b_category": a.category,
                "b_confidence": a.confidence,
                "b_source": a.source,
                "b_suggested": a.suggested_category,
                "b_suggestion_confidence": a.suggestion_confidence,
            }
            for a in assignments
        ]
        with self._writing() as conn:
            return int(conn.execute(statement, params).rowcount)

    def set_category(self, company_id: str, transaction_id: str, account_code: str) -> bool:
        """A person's choice (source ``user``, confidence 1; any suggestion is cleared);
        False if no such transaction."""
        statement = (
            update(transactions)
            .where(transactions.c.company_id == company_id, transactions.c.id == transaction_id)
            .values(
                category=account_code,
                confidence=1.0,
                category_source="user",
                suggested_category=None,
                suggestion_confidence=None,
            )
        )
        with self._writing() as conn:
            return bool(conn.execute(statement).rowcount)

    def approve(self, company_id: str, ids: Sequence[str]) -> ApprovalOutcome:
        """Approve those of ``ids`` that belong to the company (one database transaction)."""
        unique = list(dict.fromkeys(ids))
        approved = already = 0
        not_found: list[str] = []
        now = utcnow()
        with self._writing() as conn:
            for start in range(0, len(unique), ID_CHUNK):
                chunk = unique[start : start + ID_CHUNK]
                states = self._approval_states(conn, company_id, chunk)
                not_found.extend(i for i in chunk if i not in states)
                already += sum(1 for state in states.values() if state == "approved")
                approved += self._approve_pending(conn, company_id, chunk, now)
        return ApprovalOutcome(approved=approved, already_approved=already, not_found=not_found)

    @staticmethod
    def _approval_states(conn: Connection, company_id: str, ids: list[str]) -> dict[str, str]:
        query = select(transactions.c.id, transactions.c.approval).where(
            transactions.c.company_id == company_id, transactions.c.id.in_(ids)
        )
        return {r.id: r.approval for r in conn.execute(query)}

    @staticmethod
    def _approve_pending(conn: Connection, company_id: str, ids: list[str], now: datetime) -> int:
        statement = (
            update(transactions)
            .where(transactions.c.company_id == company_id, transactions.c.id.in_(ids))
            .where(transactions.c.approval == "pending")
            .values(approval="approved", approved_at=now)
        )
        return int(conn.execute(statement).rowcount)

    # -- rules -------------------------------------------------------------------------

    def add_rule(
        self,
        company_id: str,
        *,
        kind: RuleKind,
        account_code: str,
        pattern: str | None = None,
        min_amount: Decimal | None = None,
        max_amount: Decimal | None = None,
        priority: int = 100,
    ) -> Rule:
        """Add a categorization rule (lower ``priority`` is tried first)."""
        check_rule(kind, pattern, min_amount, max_amount)
        values = {
            "company_id": company_id,
            "kind": kind,
            "pattern": pattern,
            "min_amount": min_amount,
            "max_amount": max_amount,
            "account_code": account_code,
            "priority": priority,
            "created_at": utcnow(),
        }
        with self._writing() as conn:
            if not self._has_account(conn, company_id, account_code):
                raise ValueError(f"no account {account_code!r} in the chart of {company_id!r}")
            rule_id = conn.execute(
                insert(categorization_rules).values(values).returning(categorization_rules.c.id)
            ).scalar_one()
        return Rule(
            id=rule_id,
            kind=kind,
            pattern=pattern,
            min_amount=min_amount,
            max_amount=max_amount,
            account_code=account_code,
            priority=priority,
        )

    def list_rules(self, company_id: str) -> list[Rule]:
        """The company's rules in the order they are tried (priority, then age)."""
        r = categorization_rules.c
        query = (
            select(categorization_rules)
            .where(r.company_id == company_id)
            .order_by(r.priority, r.id)
        )
        with self._reading() as conn:
            return [rule_from_row(row) for row in conn.execute(query)]

    def delete_rule(self, company_id: str, rule_id: int) -> bool:
        r = categorization_rules.c
        statement = categorization_rules.delete().where(r.company_id == company_id, r.id == rule_id)
        with self._writing() as conn:
            return bool(conn.execute(statement).rowcount)

    @staticmethod
    def _has_account(conn: Connection, company_id: str, code: str) -> bool:
        query = select(accounts.c.id).where(
            accounts.c.company_id == company_id, accounts.c.code == code
        )
        return conn.execute(query).first() is not None

    # -- plumbing ----------------------------------------------------------------------

    def _insert(self, table: Any) -> postgresql.Insert | sqlite.Insert:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn


def _confirmed(company_id: str) -> list[ColumnElement[bool]]:
    """Rows whose category a person confirmed (approved, or set it), Uncategorized aside."""
    t = transactions.c
    return [
        t.company_id == company_id,
        t.category.is_not(None),
        (t.approval == "approved") | (t.category_source == "user"),
        t.category != UNCATEGORIZED,
    ]
