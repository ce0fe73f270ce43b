"""The ledger's tables as SQLAlchemy ORM classes (the schema the migrations create).

The ledger code itself writes through Core statements built from these tables (bulk inserts
and updates of thousands of rows); the ORM classes are the single description of the schema,
for the migrations and for Alembic's autogenerate comparison.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACCOUNT_KINDS = ("expense", "income", "asset", "liability", "equity")
CATEGORY_SOURCES = ("rule", "model", "user")
APPROVAL_STATES = ("pending", "approved")
RULE_KINDS = ("contains", "regex", "amount_range")
QBO_ENVIRONMENTS = ("sandbox", "production")
QBO_EXPORT_STATES = ("sending", "exported")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class Account(Base):
    """One account of a company's chart of accounts; transactions name it by ``code``."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        CheckConstraint(_one_of("kind", ACCOUNT_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("company_id", "fingerprint"),
        ForeignKeyConstraint(
            ["company_id", "category"],
            ["accounts.company_id", "accounts.code"],
            name="fk_transactions_category_accounts",
        ),
        CheckConstraint(_one_of("category_source", CATEGORY_SOURCES), name="category_source"),
        CheckConstraint(_one_of("approval", APPROVAL_STATES), name="approval"),
        CheckConstraint("length(currency) = 3", name="currency"),
        # "The next uncategorized ones" is a keyset scan over (company, category IS NULL, id).
        Index("ix_transactions_company_category_id", "company_id", "category", "id"),
        Index("ix_transactions_company_import_job", "company_id", "import_job_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    date: Mapped[datetime.date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float | None] = mapped_column(Float)
    category_source: Mapped[str | None] = mapped_column(String(8))
    # The model's guess when it was not sure enough to book it (shown for review); no
    # foreign key, so a suggestion never blocks deleting an account.
    suggested_category: Mapped[str | None] = mapped_column(String(32))
    suggestion_confidence: Mapped[float | None] = mapped_column(Float)
    approval: Mapped[str] = mapped_column(String(8), server_default="pending")
    approved_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    fingerprint: Mapped[str] = mapped_column(String(64))
    import_job_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class CategoryChange(Base):
    """The audit of people's category choices: who changed which transaction, when, from
    what to what. Also counts the corrections a cached categorizer has not learnt yet."""

    __tablename__ = "category_changes"
    __table_args__ = (
        Index("ix_category_changes_company_transaction", "company_id", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    transaction_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(255))
    old_category: Mapped[str | None] = mapped_column(String(32))
    new_category: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class CategorizationRule(Base):
    __tablename__ = "categorization_rules"
    __table_args__ = (
        ForeignKeyConstraint(
            ["company_id", "account_code"],
            ["accounts.company_id", "accounts.code"],
            name="fk_categorization_rules_account_accounts",
        ),
        CheckConstraint(_one_of("kind", RULE_KINDS), name="kind"),
        Index("ix_categorization_rules_company_priority", "company_id", "priority"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[str | None] = mapped_column(Text)
    min_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    max_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    account_code: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, server_default="100")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class Receipt(Base):
    """An uploaded receipt: its file (in the artifact store, by id), what OCR read from it
    (the extraction, with the searchable fields as columns) and the transaction it matched."""

    __tablename__ = "receipts"
    __table_args__ = (
        # The same file uploaded again to the company is the same receipt.
        UniqueConstraint("company_id", "sha256"),
        # The company's listing is newest first (keyset over created_at, id).
        Index("ix_receipts_company_created_id", "company_id", "created_at", "id"),
        Index("ix_receipts_company_matched_transaction", "company_id", "matched_transaction_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    artifact_id: Mapped[str] = mapped_column(String(32))
    vendor: Mapped[str | None] = mapped_column(String(255))
    receipt_date: Mapped[datetime.date | None] = mapped_column(Date)
    total: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(8))
    tax: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    extraction: Mapped[str | None] = mapped_column(Text)
    """The whole extraction as JSON (confidences, full text, pages)."""
    extracted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    ocr_job_id: Mapped[str | None] = mapped_column(String(64))
    matched_transaction_id: Mapped[str | None] = mapped_column(String(64))
    match: Mapped[str | None] = mapped_column(Text)
    """The match as JSON: the chosen transaction with its score, and the runner-up."""
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class QboConnection(Base):
    """A company's QuickBooks Online connection. ``credentials`` is sealed with the secrets
    key (client id and secret, refresh and access tokens): never stored in the clear."""

    __tablename__ = "qbo_connections"
    __table_args__ = (
        CheckConstraint(_one_of("environment", QBO_ENVIRONMENTS), name="environment"),
    )

    company_id: Mapped[str] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    environment: Mapped[str] = mapped_column(String(16))
    realm_id: Mapped[str] = mapped_column(String(64))
    credentials: Mapped[str] = mapped_column(Text)
    refresh_token_expires_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True)
    )
    connected_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class QboOAuthState(Base):
    """A Connect flow under way: the ``state`` sent to Intuit (kept as its SHA-256), bound to
    a tenant and company, single use and expiring."""

    __tablename__ = "qbo_oauth_states"
    __table_args__ = (
        CheckConstraint(_one_of("environment", QBO_ENVIRONMENTS), name="environment"),
    )

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class QboExport(Base):
    """One transaction's export to a QuickBooks company: written as ``sending`` (with the
    request id) before the request, then ``exported`` with the object's id and sync token.
    A retry re-sends a ``sending`` row with the same request id, which QuickBooks answers
    with the first response instead of creating the object again."""

    __tablename__ = "qbo_exports"
    __table_args__ = (
        CheckConstraint(_one_of("state", QBO_EXPORT_STATES), name="state"),
        Index("ix_qbo_exports_company_realm_state", "company_id", "realm_id", "state"),
    )

    company_id: Mapped[str] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    realm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Exactly once per QuickBooks company: reconnected to another, it is exported there too."""
    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    qbo_entity: Mapped[str] = mapped_column(String(16))
    qbo_id: Mapped[str | None] = mapped_column(String(64))
    sync_token: Mapped[str | None] = mapped_column(String(16))
    job_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class ExportFile(Base):
    """A file an export wrote for QuickBooks to import (CSV or IIF), in the artifact store;
    served by ``GET /api/artifacts/{id}`` to the company's tenant."""

    __tablename__ = "export_files"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(64))
    artifact_id: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


companies = Base.metadata.tables["companies"]
accounts = Base.metadata.tables["accounts"]
transactions = Base.metadata.tables["transactions"]
categorization_rules = Base.metadata.tables["categorization_rules"]
receipts = Base.metadata.tables["receipts"]
category_changes = Base.metadata.tables["category_changes"]
qbo_connections = Base.metadata.tables["qbo_connections"]
qbo_oauth_states = Base.metadata.tables["qbo_oauth_states"]
qbo_exports = Base.metadata.tables["qbo_exports"]
export_files = Base.metadata.tables["export_files"]
