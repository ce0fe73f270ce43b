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
    approval: Mapped[str] = mapped_column(String(8), server_default="pending")
    approved_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    fingerprint: Mapped[str] = mapped_column(String(64))
    import_job_id: Mapped[str | None] = mapped_column(String(64))
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


companies = Base.metadata.tables["companies"]
accounts = Base.metadata.tables["accounts"]
transactions = Base.metadata.tables["transactions"]
categorization_rules = Base.metadata.tables["categorization_rules"]
receipts = Base.metadata.tables["receipts"]
