"""The audit of category corrections (who, when, old and new category).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "category_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("old_category", sa.String(length=32), nullable=True),
        sa.Column("new_category", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_category_changes_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category_changes")),
    )
    op.create_index(
        "ix_category_changes_company_transaction",
        "category_changes",
        ["company_id", "transaction_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_category_changes_company_transaction", table_name="category_changes")
    op.drop_table("category_changes")
