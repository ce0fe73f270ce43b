"""Alembic environment for the ledger.

:meth:`bookkeeper_jobs.ledger.Ledger.migrate` builds the Alembic config in code and passes an
open connection in ``config.attributes["connection"]``; without one (the ``alembic`` command
line, ``-x url=...`` or ``sqlalchemy.url``), a connection is made from the URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bookkeeper_jobs.ledger.engine import create_ledger_engine
from bookkeeper_jobs.ledger.models import Base

target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    return url or context.config.get_main_option("sqlalchemy.url") or ""


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_ledger_engine(_url())
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
