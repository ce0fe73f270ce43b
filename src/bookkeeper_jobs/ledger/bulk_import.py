"""Writing statement rows in bulk: one call is one chunk of rows in the caller's database
transaction, each row written once with the category its import booked.

SQLite: one driver-level ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING`` (SQLAlchemy's
per-row parameter processing cost more than SQLite's insert). PostgreSQL: ``COPY`` into a
temporary staging table, then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. Either way
a row whose fingerprint the company already has is skipped; an already imported row that is
still uncategorized is taken over by this import (``import_job_id``), so the import that
includes it categorizes it. Values are written as SQLAlchemy itself stores them (on SQLite:
ISO dates, ``YYYY-MM-DD HH:MM:SS.ffffff`` times, amounts as REAL).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from bookkeeper_jobs.errors import FatalTaskError
from bookkeeper_jobs.ledger.fingerprint import to_cents, transaction_fingerprint
from bookkeeper_jobs.ledger.models import transactions
from bookkeeper_jobs.ledger.records import Booking, NewTransaction, new_transaction_problem

COLUMNS = (
    "id",
    "company_id",
    "date",
    "description",
    "amount",
    "currency",
    "category",
    "confidence",
    "category_source",
    "suggested_category",
    "suggestion_confidence",
    "approval",
    "fingerprint",
    "import_job_id",
    "created_at",
)
ID_CHUNK = 500
"""Values per ``IN (...)`` list: well under SQLite's and PostgreSQL's parameter limits."""
STAGING = "bkjobs_import_staging"
_NAMES = ", ".join(COLUMNS)
_SQLITE_INSERT = (
    f"INSERT INTO transactions ({_NAMES}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    " ON CONFLICT (company_id, fingerprint) DO NOTHING"
)
_NO_BOOKING = (None, None, None, None, None)


def insert_rows(
    conn: Connection,
    company_id: str,
    rows: Sequence[NewTransaction],
    bookings: Sequence[Booking] | None,
    import_job_id: str | None,
    now: datetime,
) -> list[bool]:
    """Insert ``rows`` (with ``bookings``, one per row, or uncategorized); which were new.
    Raises FatalTaskError for a row the ledger cannot hold (check them first)."""
    if not rows:
        return []
    values = _values(company_id, rows, bookings, import_job_id, now, conn.dialect.name)
    if conn.dialect.name == "postgresql":
        added = _copy_postgresql(conn, values)
    else:
        added = _insert_sqlite(conn, values)
    ids = [value[0] for value in values]
    if added == len(rows):
        return [True] * len(rows)
    if import_job_id is not None:
        _take_over(conn, company_id, [value[12] for value in values], import_job_id)
    new = _existing_ids(conn, ids) if added else set()
    return [row_id in new for row_id in ids]


def _values(
    company_id: str,
    rows: Sequence[NewTransaction],
    bookings: Sequence[Booking] | None,
    import_job_id: str | None,
    now: datetime,
    dialect: str,
) -> list[tuple[Any, ...]]:
    ids = _new_ids(len(rows))
    sqlite = dialect != "postgresql"
    created: Any = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now
    values = []
    for index, row in enumerate(rows):
        problem = new_transaction_problem(row)
        if problem is not None:
            raise FatalTaskError(problem)
        booking = _NO_BOOKING if bookings is None else bookings[index]
        cents = to_cents(row.amount)
        values.append(
            (
                ids[index],
                company_id,
                row.date.isoformat() if sqlite else row.date,
                row.description,
                float(cents) if sqlite else cents,
                row.currency.upper(),
                *booking,
                "pending",
                transaction_fingerprint(company_id, row),
                import_job_id,
                created,
            )
        )
    return values


def _new_ids(count: int) -> list[str]:
    """As :func:`~bookkeeper_jobs.ledger.fingerprint.new_transaction_id`: the time in
    milliseconds, then 64 random bits (one ``urandom`` call for the whole chunk), sorted so
    that the rows of a chunk sort by id in the order they came (as one at a time would)."""
    prefix = f"txn_{time.time_ns() // 1_000_000:012x}"
    random = os.urandom(8 * count).hex()
    return [
        prefix + suffix for suffix in sorted(random[16 * n : 16 * n + 16] for n in range(count))
    ]


def _insert_sqlite(conn: Connection, values: list[tuple[Any, ...]]) -> int:
    return int(conn.exec_driver_sql(_SQLITE_INSERT, values).rowcount)


def _copy_postgresql(conn: Connection, values: list[tuple[Any, ...]]) -> int:
    """COPY into a temporary table (gone at commit), then insert what is new from it."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING}"
            " (LIKE transactions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY {STAGING} ({_NAMES}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
        cursor.execute(
            f"INSERT INTO transactions ({_NAMES}) SELECT {_NAMES} FROM {STAGING}"
            " ON CONFLICT (company_id, fingerprint) DO NOTHING"
        )
        added = int(cursor.rowcount)
        cursor.execute(f"TRUNCATE {STAGING}")  # a second chunk in this transaction
    return added


def _take_over(
    conn: Connection, company_id: str, fingerprints: list[str], import_job_id: str
) -> None:
    t = transactions.c
    for start in range(0, len(fingerprints), ID_CHUNK):
        conn.execute(
            update(transactions)
            .where(
                t.company_id == company_id,
                t.fingerprint.in_(fingerprints[start : start + ID_CHUNK]),
                t.category.is_(None),
                t.import_job_id.is_distinct_from(import_job_id),
            )
            .values(import_job_id=import_job_id)
        )


def _existing_ids(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        found.update(
            conn.execute(select(transactions.c.id).where(transactions.c.id.in_(chunk))).scalars()
        )
    return found
