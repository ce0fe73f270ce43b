"""Receipts: uploaded receipt files, what OCR read from them and the transaction matched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "receipts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("artifact_id", sa.String(length=32), nullable=False),
        sa.Column("vendor", sa.String(length=255), nullable=True),
        sa.Column("receipt_date", sa.Date(), nullable=True),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("tax", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("extraction", sa.Text(), nullable=True),
        sa.Column("extracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ocr_job_id", sa.String(length=64), nullable=True),
        sa.Column("matched_transaction_id", sa.String(length=64), nullable=True),
        sa.Column("match", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_receipts_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("company_id", "sha256", name=op.f("uq_receipts_company_id_sha256")),
    )
    op.create_index(
        "ix_receipts_company_created_id",
        "receipts",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_receipts_company_matched_transaction",
        "receipts",
        ["company_id", "matched_transaction_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_receipts_company_matched_transaction", table_name="receipts")
    op.drop_index("ix_receipts_company_created_id", table_name="receipts")
    op.drop_table("receipts")
