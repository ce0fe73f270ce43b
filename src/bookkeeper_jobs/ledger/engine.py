"""Building the ledger's engine, and telling transient database errors from fatal ones.

SQLite: WAL (readers never block the writer), a busy timeout (several worker processes
write), foreign keys on, and ``BEGIN IMMEDIATE`` for write transactions: a deferred
transaction that reads and then writes can fail at once with "database is locked" when
another process committed in between; an immediate one waits for the lock instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bookkeeper_jobs.errors import FatalTaskError, ServiceUnavailableError

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 64 * 1024
"""Page cache per connection: keeps the fingerprint index of a million-row import in memory."""
WRITE_OPTION = "ledger_write"
CONNECT_TIMEOUT_SECONDS = 10


def create_ledger_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` (SQLite or ``postgresql+psycopg://``) with the ledger's setup."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A database that does not answer is an outage to report, not a wait without end.
        connect_args = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            **kwargs.pop("connect_args", {}),
        }
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the driver so the "begin" listener emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    writing = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


@contextmanager
def task_errors() -> Iterator[None]:
    """Turn database errors into task errors: locks, lost connections and timeouts may pass
    on a later attempt (retryable); constraint and data errors will not (fatal)."""
    try:
        yield
    except (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError) as exc:
        raise ServiceUnavailableError(f"ledger database unavailable: {_short(exc)}") from exc
    except (IntegrityError, DataError) as exc:
        raise FatalTaskError(f"ledger rejected the data: {_short(exc)}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise ServiceUnavailableError(f"ledger connection lost: {_short(exc)}") from exc
        raise


def _short(exc: DBAPIError | DisconnectionError | PoolTimeoutError) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__
