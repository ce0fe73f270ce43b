"""Transactions: the categorizer's suggestion for review (a guess it did not book).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("suggested_category", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("suggestion_confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("suggestion_confidence")
        batch.drop_column("suggested_category")
