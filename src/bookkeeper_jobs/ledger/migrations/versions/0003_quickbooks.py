"""QuickBooks Online: connections (sealed credentials), Connect flow states, exports of
transactions (exactly once) and export files.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENVIRONMENTS = "environment IN ('sandbox', 'production')"


def _company(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_id"],
        ["companies.id"],
        name=op.f(f"fk_{table}_company_id_companies"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "qbo_connections",
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("realm_id", sa.String(length=64), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("refresh_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(ENVIRONMENTS, name=op.f("ck_qbo_connections_environment")),
        _company("qbo_connections"),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_qbo_connections")),
    )
    op.create_table(
        "qbo_oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(ENVIRONMENTS, name=op.f("ck_qbo_oauth_states_environment")),
        _company("qbo_oauth_states"),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_qbo_oauth_states")),
    )
    op.create_table(
        "qbo_exports",
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("realm_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("qbo_entity", sa.String(length=16), nullable=False),
        sa.Column("qbo_id", sa.String(length=64), nullable=True),
        sa.Column("sync_token", sa.String(length=16), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('sending', 'exported')", name=op.f("ck_qbo_exports_state")),
        _company("qbo_exports"),
        sa.PrimaryKeyConstraint(
            "company_id", "realm_id", "transaction_id", name=op.f("pk_qbo_exports")
        ),
    )
    op.create_index(
        "ix_qbo_exports_company_realm_state",
        "qbo_exports",
        ["company_id", "realm_id", "state"],
        unique=False,
    )
    op.create_table(
        "export_files",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("artifact_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _company("export_files"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_files")),
    )


def downgrade() -> None:
    op.drop_table("export_files")
    op.drop_index("ix_qbo_exports_company_realm_state", table_name="qbo_exports")
    op.drop_table("qbo_exports")
    op.drop_table("qbo_oauth_states")
    op.drop_table("qbo_connections")
