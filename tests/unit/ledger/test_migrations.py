from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.ledger.models import Base


def test_migrate_creates_every_table(ledger: Ledger) -> None:
    tables = set(inspect(ledger.engine).get_table_names())

    assert {
        "companies",
        "accounts",
        "transactions",
        "categorization_rules",
        "receipts",
        "qbo_connections",
        "qbo_exports",
    } <= tables
    assert "alembic_version" in tables


def test_migrate_is_idempotent(ledger: Ledger) -> None:
    ledger.migrate()
    ledger.migrate()

    with ledger.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0005"


def test_migrations_match_the_models(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []
