"""Initial schema: companies, accounts, transactions, categorization rules.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
    )
    op.create_index(op.f("ix_companies_tenant_id"), "companies", ["tenant_id"], unique=False)

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "kind IN ('expense', 'income', 'asset', 'liability', 'equity')",
            name=op.f("ck_accounts_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_accounts_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_accounts_company_id_code")),
    )
    op.create_table(
        "categorization_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=True),
        sa.Column("min_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("max_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("account_code", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="100", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('contains', 'regex', 'amount_range')",
            name=op.f("ck_categorization_rules_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "account_code"],
            ["accounts.company_id", "accounts.code"],
            name="fk_categorization_rules_account_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_categorization_rules_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categorization_rules")),
    )
    op.create_index(
        "ix_categorization_rules_company_priority",
        "categorization_rules",
        ["company_id", "priority"],
        unique=False,
    )

    op.create_table(
        "transactions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("category_source", sa.String(length=8), nullable=True),
        sa.Column("approval", sa.String(length=8), server_default="pending", nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("import_job_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "approval IN ('pending', 'approved')", name=op.f("ck_transactions_approval")
        ),
        sa.CheckConstraint(
            "category_source IN ('rule', 'model', 'user')",
            name=op.f("ck_transactions_category_source"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_transactions_currency")),
        sa.ForeignKeyConstraint(
            ["company_id", "category"],
            ["accounts.company_id", "accounts.code"],
            name="fk_transactions_category_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_transactions_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint(
            "company_id", "fingerprint", name=op.f("uq_transactions_company_id_fingerprint")
        ),
    )
    op.create_index(
        "ix_transactions_company_category_id",
        "transactions",
        ["company_id", "category", "id"],
        unique=False,
    )
    op.create_index(
        "ix_transactions_company_import_job",
        "transactions",
        ["company_id", "import_job_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_company_import_job", table_name="transactions")
    op.drop_index("ix_transactions_company_category_id", table_name="transactions")

    op.drop_table("transactions")
    op.drop_index("ix_categorization_rules_company_priority", table_name="categorization_rules")

    op.drop_table("categorization_rules")
    op.drop_table("accounts")
    op.drop_index(op.f("ix_companies_tenant_id"), table_name="companies")

    op.drop_table("companies")
