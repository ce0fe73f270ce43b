"""The worker-facing half of the embedded backend: claim, lease, record events, recover.

Every status change is a lifecycle event (:mod:`bookkeeper_jobs.lifecycle`) persisted by
:func:`~bookkeeper_jobs.api.store.local.apply_event`: one UPDATE guarded by the version it
read. Events from a worker carry its attempt number, so a worker that lost its job
(cancelled, recovered after its lease ran out) can no longer change it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bookkeeper_jobs.api.store.local import (
    SQLiteDatabase,
    apply_event,
    row_to_job,
    to_epoch,
)
from bookkeeper_jobs.jobs import Job, JobStatus, utcnow
from bookkeeper_jobs.lifecycle import Cancel, Event, Retry, RetryPolicy, Start
from bookkeeper_jobs.start_order import StartOrder, Waiting

WORKER_LOST = "the worker running this job stopped (crash or restart)"


class Lease(StrEnum):
    HELD = "held"
    CANCEL_REQUESTED = "cancel-requested"
    LOST = "lost"


@dataclass(frozen=True)
class Claim:
    job: Job
    attempt: int


# The waiting jobs' (tenant, type) pairs, one index seek each (a skip scan of
# ``jobs_waiting``), and each pair's oldest due job: the cost of a claim grows with the
# pairs, not with the jobs queued.
NEXT_PAIR = (
    "SELECT tenant_id, type FROM jobs INDEXED BY jobs_waiting"
    " WHERE phase = 'pending' AND (tenant_id, type) > (?, ?)"
    " ORDER BY tenant_id, type LIMIT 1"
)
OLDEST_DUE = (
    "SELECT id, created_at FROM jobs INDEXED BY jobs_waiting"
    " WHERE phase = 'pending' AND tenant_id = ? AND type = ?"
    " AND cancel_requested = 0 AND not_before <= ? ORDER BY created_at, id LIMIT 1"
)
LAST_STARTED = "SELECT tenant_id, last_started FROM tenant_starts WHERE tenant_id IN"
RECORD_START = (
    "INSERT INTO tenant_starts (tenant_id, last_started) VALUES (?, ?)"
    " ON CONFLICT (tenant_id) DO UPDATE SET last_started = excluded.last_started"
)
RUNNING_BY_TENANT = "SELECT tenant_id, COUNT(*) AS n FROM jobs WHERE phase = 'running' GROUP BY 1"


class JobLifecycle:
    def __init__(
        self, db: SQLiteDatabase, policy: RetryPolicy, order: StartOrder | None = None
    ) -> None:
        self.db = db
        self.policy = policy
        self.order = order or StartOrder(per_tenant_limit=1_000_000)

    def claim_next(self, worker_id: str, lease_seconds: float) -> Claim | None:
        """Start the next due pending job in :class:`StartOrder` (fair across tenants),
        atomically: two workers never claim one job."""
        now = utcnow()
        with self.db.transaction() as conn:
            chosen = self._next_to_start(conn, to_epoch(now))
            if chosen is None:
                return None
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (chosen,)).fetchone()
            lease = {"worker_id": worker_id, "lease_expires_at": to_epoch(now) + lease_seconds}
            status = apply_event(conn, row_to_job(row), Start(), now, **lease)
            conn.execute(RECORD_START, (row["tenant_id"], to_epoch(now)))
        assert status is not None, "a pending job read under the write lock can start"
        claimed = self._get(chosen)
        return Claim(job=claimed, attempt=status.attempts)

    def _next_to_start(self, conn: sqlite3.Connection, now: float) -> str | None:
        running = {row["tenant_id"]: int(row["n"]) for row in conn.execute(RUNNING_BY_TENANT)}
        candidates: list[Waiting[str]] = []
        tenant, job_type = "", ""
        while (pair := conn.execute(NEXT_PAIR, (tenant, job_type)).fetchone()) is not None:
            tenant, job_type = pair["tenant_id"], pair["type"]
            due = conn.execute(OLDEST_DUE, (tenant, job_type, now)).fetchone()
            if due is not None:
                candidates.append(
                    Waiting(tenant, job_type, due["created_at"], due["id"], due["id"])
                )
        tenants = sorted({c.tenant for c in candidates})
        marks = ", ".join("?" * len(tenants))
        last_started = {
            row["tenant_id"]: row["last_started"]
            for row in conn.execute(f"{LAST_STARTED} ({marks})", tenants)
        }
        chosen = self.order.pick(candidates, running, last_started)
        return None if chosen is None else chosen.item

    def renew_lease(self, job_id: str, attempt: int, lease_seconds: float) -> Lease:
        """Extend the lease of a running attempt. ``LOST`` means the attempt is no longer
        running (it just finished or was scheduled for retry, or it was recovered)."""
        row = self.db.fetch_one(
            "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND attempts = ?"
            " AND phase = 'running' RETURNING cancel_requested",
            (to_epoch(utcnow()) + lease_seconds, job_id, attempt),
        )
        if row is None:
            return Lease.LOST
        return Lease.CANCEL_REQUESTED if row["cancel_requested"] else Lease.HELD

    def cancel_requested(self, job_id: str) -> bool:
        row = self.db.fetch_one("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        return row is None or bool(row["cancel_requested"])

    def record(self, job_id: str, event: Event) -> JobStatus | None:
        """Persist ``event``; ``None`` if the lifecycle refused it (or the job is gone)."""
        now = utcnow()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            return apply_event(conn, row_to_job(row), event, now, **self._columns(event, now))

    def record_failure(self, job_id: str, attempt: int, error: str) -> JobStatus | None:
        """A retryable failure of ``attempt``: retried while attempts remain, else failed."""
        return self.record(job_id, self.policy.after_failure(attempt, error))

    def recover_expired(self) -> int:
        """Jobs left ``running`` by a dead worker: cancel, retry or fail them."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, attempts, cancel_requested FROM jobs"
                " WHERE phase = 'running' AND lease_expires_at < ?",
                (to_epoch(utcnow()),),
            ).fetchall()
        for row in rows:
            if row["cancel_requested"]:
                self.record(row["id"], Cancel(attempt=row["attempts"]))
            else:
                self.record_failure(row["id"], row["attempts"], WORKER_LOST)
        return len(rows)

    def _columns(self, event: Event, now: datetime) -> dict[str, object]:
        """The worker bookkeeping that goes with an event: a retry waits out its backoff, and
        an attempt that is over holds no lease."""
        if isinstance(event, Retry):
            not_before = to_epoch(now + timedelta(seconds=event.delay))
            return {"not_before": not_before, "worker_id": None, "lease_expires_at": None}
        if event.RULE.target is not None:
            return {"worker_id": None, "lease_expires_at": None}
        return {}

    def _get(self, job_id: str) -> Job:
        row = self.db.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        assert row is not None
        return row_to_job(row)
