"""The ledger as the embedded server sees it: migrated as soon as it can be, then reachable.

The server starts even while the ledger database is down (a PostgreSQL restart): ``/readyz``
answers 503 with the cause, the migrations are tried again every few seconds until they
ran, and jobs submitted meanwhile wait in the job store (their workers ride out the outage
with the outage retry budget). Where ``bkjobs migrate`` runs as its own step (production,
``BKJOBS_MIGRATE_ON_START=false``) the gate only checks that the database answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from bookkeeper_jobs.errors import ServiceUnavailableError, StorageError
from bookkeeper_jobs.ledger import Ledger, task_errors
from bookkeeper_jobs.settings import Settings

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0


class LedgerGate:
    def __init__(self, settings: Settings, *, migrate: bool | None = None) -> None:
        """``migrate`` (default ``BKJOBS_MIGRATE_ON_START``): whether this process runs the
        migrations; a cluster's API never does (the chart's migrations Job does)."""
        self._ledger = Ledger.from_settings(settings)
        self._migrate = settings.migrate_on_start if migrate is None else migrate
        self._pending: str | None = (
            "the ledger has not been migrated yet" if self._migrate else None
        )

    @property
    def migrated(self) -> bool:
        return self._pending is None

    def try_migrate(self) -> bool:
        """Run the migrations now; ``False`` (and the cause kept) while the database is down."""
        try:
            with task_errors():
                self._ledger.migrate()
        except ServiceUnavailableError as exc:
            self._pending = f"{exc}; migrations will be tried again"
            return False
        self._pending = None
        return True

    def unready_reason(self) -> str | None:
        if not self.migrated and not self.try_migrate():
            return self._pending
        try:
            with task_errors(), self._ledger.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except ServiceUnavailableError as exc:
            return str(exc)
        return None

    @contextmanager
    def use(self) -> Iterator[Ledger]:
        """The ledger for one request. A database that is down, or not migrated yet, is a
        :class:`StorageError` (the API answers 503 with the cause)."""
        if not self.migrated and not self.try_migrate():
            raise StorageError(self._pending or "the ledger is not migrated")
        try:
            with task_errors():
                yield self._ledger
        except ServiceUnavailableError as exc:
            raise StorageError(str(exc)) from exc

    async def migrate_until_done(self) -> None:
        while not self.migrated:
            if await asyncio.to_thread(self.try_migrate):
                log.info("ledger migrated")
                return
            log.warning("%s", self._pending)
            await asyncio.sleep(RETRY_SECONDS)

    def close(self) -> None:
        self._ledger.dispose()
