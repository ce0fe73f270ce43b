"""Group commit for the embedded store's submissions: one transaction, so one fsync, for every
submission that arrived while the previous commit was on disk.

The API commits with ``synchronous=FULL`` so that a 202 survives a power loss; each commit is
an fsync (a millisecond or more), and one commit per request, each from a thread of the
request pool, capped submissions at a few hundred a second behind SQLite's lock. Here a
submission is queued for one writer thread, which commits everything queued by then in one
``BEGIN IMMEDIATE`` transaction and then resolves each submission's future: nobody is answered
before their work is committed, so what a 202 promises is unchanged. The writer exits after a
second without work and is started again by the next submission.

Work is applied in arrival order inside the transaction, so it sees the work before it (an
``Idempotency-Key`` used twice in one batch is a replay, as it would be one after the other).
An error the work raises on purpose (``refused``: a 409's conflict) is that submission's answer
and leaves the others alone; any other failure (a full disk) makes each work of the batch be
tried again alone, so it fails or succeeds exactly as it would have without the grouping.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from bookkeeper_jobs.api.store.local import SQLiteDatabase

log = logging.getLogger(__name__)
WorkT = TypeVar("WorkT")
ResultT = TypeVar("ResultT")
IDLE_SECONDS = 1.0


class GroupCommit(Generic[WorkT, ResultT]):
    def __init__(
        self,
        db: SQLiteDatabase,
        apply: Callable[[sqlite3.Connection, WorkT], ResultT],
        *,
        refused: tuple[type[Exception], ...] = (),
        committed: Callable[[list[ResultT]], None] = lambda _results: None,
    ) -> None:
        """``committed`` runs in the writer after each commit, with its results."""
        self._db = db
        self._apply = apply
        self._refused = refused
        self._committed = committed
        self._queued: list[tuple[WorkT, Future[ResultT]]] = []
        self._wake = threading.Condition()
        self._writing = False

    def submit(self, work: WorkT) -> Future[ResultT]:
        """``apply(conn, work)``, to be committed with whatever else is queued then."""
        future: Future[ResultT] = Future()
        with self._wake:
            self._queued.append((work, future))
            if self._writing:
                self._wake.notify()
            else:
                self._writing = True
                threading.Thread(target=self._write, name="job-store-writer", daemon=True).start()
        return future

    def run(self, work: WorkT) -> ResultT:
        """:meth:`submit`, waiting for the commit."""
        return self.submit(work).result()

    def _write(self) -> None:
        try:
            while True:
                with self._wake:
                    if not self._queued:
                        self._wake.wait(IDLE_SECONDS)
                    if not self._queued:
                        self._writing = False
                        return
                    batch, self._queued = self._queued, []
                self._commit(batch)
        except BaseException:
            with self._wake:  # the next submission starts another writer
                self._writing = False
            raise

    def _commit(self, batch: list[tuple[WorkT, Future[ResultT]]]) -> None:
        try:
            self._commit_together(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for queued in batch:
                self._commit_alone(queued)

    def _commit_alone(self, queued: tuple[WorkT, Future[ResultT]]) -> None:
        try:
            self._commit_together([queued])
        except Exception as exc:
            queued[1].set_exception(exc)

    def _commit_together(self, batch: list[tuple[WorkT, Future[ResultT]]]) -> None:
        outcomes: list[ResultT | Exception] = []
        with self._db.transaction() as conn:
            for work, _ in batch:
                try:
                    outcomes.append(self._apply(conn, work))
                except self._refused as exc:
                    outcomes.append(exc)
        # Committed: from here on nothing may send the batch back to be applied again.
        try:
            self._committed([o for o in outcomes if not isinstance(o, Exception)])
        except Exception:
            log.exception("after a commit of %d submissions", len(batch))
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
