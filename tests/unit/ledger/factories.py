"""Test helpers for the ledger and the tasks that use it: ledgers, rows, a progress sink."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from bookkeeper_jobs.ledger import Ledger, NewTransaction, create_ledger_engine
from bookkeeper_jobs.tasks.reporter import CoalescingReporter

COMPANY = "acme"
TENANT = "t1"


@contextmanager
def open_ledger(url: str) -> Iterator[Ledger]:
    """A migrated ledger at ``url`` with a company ``acme`` of tenant ``t1``."""
    ledger = Ledger(create_ledger_engine(url))
    try:
        ledger.migrate()
        ledger.ensure_company(COMPANY, TENANT, "Acme Ltd")
        yield ledger
    finally:
        ledger.dispose()


def sqlite_url(root: Path) -> str:
    return f"sqlite:///{root / 'ledger.db'}"


def row(
    description: str,
    amount: str = "10.00",
    *,
    day: int = 1,
    currency: str = "USD",
    occurrence: int = 0,
) -> NewTransaction:
    return NewTransaction(
        date=datetime.date(2024, 1, day),
        description=description,
        amount=Decimal(amount),
        currency=currency,
        occurrence=occurrence,
    )


class RecordingSink:
    """A progress sink that remembers every write; cancels after ``cancel_after`` writes."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.writes: list[tuple[int, str]] = []
        self.cancel_after = cancel_after

    def write_progress(self, progress: int, message: str) -> None:
        self.writes.append((progress, message))

    def cancel_requested(self) -> bool:
        return self.cancel_after is not None and len(self.writes) >= self.cancel_after

    @property
    def progress(self) -> list[int]:
        return [p for p, _ in self.writes]


def recording_reporter(cancel_after: int | None = None) -> tuple[CoalescingReporter, RecordingSink]:
    sink = RecordingSink(cancel_after)
    return CoalescingReporter(sink, interval=0.0), sink
