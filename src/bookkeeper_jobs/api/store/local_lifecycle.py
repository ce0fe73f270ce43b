"""The worker-facing half of the embedded backend: claim, lease, progress, finish, retry,
recover. Every state change is one ``BEGIN IMMEDIATE`` transaction guarded by the attempt
number, so a worker that lost its job (cancelled, recovered) can no longer write to it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bookkeeper_jobs.api.store.local import (
    SQLiteDatabase,
    dump_conditions,
    finish_cancelled,
    row_to_job,
    to_epoch,
)
from bookkeeper_jobs.jobs import Job, JobPhase, transition_conditions, utcnow


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff: float = 2.0
    backoff_max: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))


class Lease(StrEnum):
    HELD = "held"
    CANCEL_REQUESTED = "cancel-requested"
    LOST = "lost"


@dataclass(frozen=True)
class Claim:
    job: Job
    attempt: int


class JobLifecycle:
    def __init__(self, db: SQLiteDatabase, policy: RetryPolicy) -> None:
        self.db = db
        self.policy = policy

    def claim_next(self, worker_id: str, lease_seconds: float) -> Claim | None:
        now = utcnow()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM jobs WHERE phase = 'pending' AND cancel_requested = 0"
                " AND not_before <= ? ORDER BY created_at, id LIMIT 1",
                (to_epoch(now),),
            ).fetchone()
            if row is None:
                return None
            job = row_to_job(row)
            attempt = job.status.attempts + 1
            conditions = transition_conditions(
                job.status.conditions, JobPhase.RUNNING, "Started", f"Attempt {attempt}", now
            )
            conn.execute(
                "UPDATE jobs SET phase = 'running', attempts = ?, message = ?,"
                " started_at = COALESCE(started_at, ?), worker_id = ?, lease_expires_at = ?,"
                " conditions = ?, error = NULL, version = version + 1 WHERE id = ?",
                (
                    attempt,
                    "Started" if attempt == 1 else f"Started attempt {attempt}",
                    to_epoch(now),
                    worker_id,
                    to_epoch(now) + lease_seconds,
                    dump_conditions(conditions),
                    job.id,
                ),
            )
        claimed = self._get(job.id)
        return Claim(job=claimed, attempt=attempt)

    def renew_lease(self, job_id: str, attempt: int, lease_seconds: float) -> Lease:
        """Extend the lease of a running attempt. ``LOST`` means the attempt is no longer
        running (it just finished or was scheduled for retry, or it was recovered)."""
        conn = self.db.connection()
        row = conn.execute(
            "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND attempts = ?"
            " AND phase = 'running' RETURNING cancel_requested",
            (to_epoch(utcnow()) + lease_seconds, job_id, attempt),
        ).fetchone()
        if row is None:
            return Lease.LOST
        return Lease.CANCEL_REQUESTED if row["cancel_requested"] else Lease.HELD

    def cancel_requested(self, job_id: str) -> bool:
        row = self.db.fetch_one("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        return row is None or bool(row["cancel_requested"])

    def write_progress(self, job_id: str, attempt: int, progress: int, message: str) -> None:
        self.db.connection().execute(
            "UPDATE jobs SET progress = MAX(progress, ?), message = ?, version = version + 1"
            " WHERE id = ? AND attempts = ? AND phase = 'running'",
            (progress, message, job_id, attempt),
        )

    def complete(self, job_id: str, attempt: int, result: dict[str, Any]) -> bool:
        return self._finish(
            job_id, attempt, JobPhase.COMPLETE, "Completed", "Complete", result=result
        )

    def fail(self, job_id: str, attempt: int, error: str, *, retryable: bool) -> bool:
        """Retry with backoff while attempts remain and ``retryable``; else fail for good."""
        if retryable and attempt < self.policy.max_attempts:
            return self._retry(job_id, attempt, error)
        reason = "RetriesExhausted" if retryable else "TaskFailed"
        return self._finish(job_id, attempt, JobPhase.FAILED, reason, "Failed", error=error)

    def mark_cancelled(self, job_id: str) -> None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            requested = row is not None and row["cancel_requested"]
            if requested and not JobPhase(row["phase"]).is_terminal:
                finish_cancelled(conn, row_to_job(row), utcnow())

    def recover_expired(self) -> int:
        """Jobs left ``running`` by a dead worker: cancel, retry or fail them."""
        now = utcnow()
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE phase = 'running' AND lease_expires_at < ?",
                (to_epoch(now),),
            ).fetchall()
        for row in rows:
            if row["cancel_requested"]:
                self.mark_cancelled(row["id"])
            else:
                self.fail(
                    row["id"],
                    row["attempts"],
                    "the worker running this job stopped (crash or restart)",
                    retryable=True,
                )
        return len(rows)

    def _retry(self, job_id: str, attempt: int, error: str) -> bool:
        delay = self.policy.delay(attempt)
        now = utcnow()
        with self.db.transaction() as conn:
            job = self._running(conn, job_id, attempt)
            if job is None:
                return False
            message = f"Attempt {attempt} failed ({error}); retrying in {delay:g} s"
            conditions = transition_conditions(
                job.status.conditions, JobPhase.PENDING, "RetryScheduled", message, now
            )
            conn.execute(
                "UPDATE jobs SET phase = 'pending', message = ?, not_before = ?,"
                " worker_id = NULL, lease_expires_at = NULL, conditions = ?,"
                " version = version + 1 WHERE id = ?",
                (
                    message,
                    to_epoch(now + timedelta(seconds=delay)),
                    dump_conditions(conditions),
                    job_id,
                ),
            )
        return True

    def _finish(
        self,
        job_id: str,
        attempt: int,
        phase: JobPhase,
        reason: str,
        message: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        now = utcnow()
        with self.db.transaction() as conn:
            job = self._running(conn, job_id, attempt)
            if job is None:
                return False
            conditions = transition_conditions(
                job.status.conditions, phase, reason, error or message, now
            )
            conn.execute(
                "UPDATE jobs SET phase = ?, progress = CASE WHEN ? THEN 100 ELSE progress END,"
                " message = ?, result = ?, error = ?, finished_at = ?, conditions = ?,"
                " worker_id = NULL, lease_expires_at = NULL, version = version + 1"
                " WHERE id = ?",
                (
                    phase.value,
                    phase is JobPhase.COMPLETE,
                    message,
                    None if result is None else json.dumps(result),
                    error,
                    to_epoch(now),
                    dump_conditions(conditions),
                    job_id,
                ),
            )
        return True

    @staticmethod
    def _running(conn: sqlite3.Connection, job_id: str, attempt: int) -> Job | None:
        row = conn.execute(
            "SELECT * FROM jobs WHERE id = ? AND attempts = ? AND phase = 'running'",
            (job_id, attempt),
        ).fetchone()
        return None if row is None else row_to_job(row)

    def _get(self, job_id: str) -> Job:
        row = self.db.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        assert row is not None
        return row_to_job(row)


def older_than(ttl_seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=ttl_seconds)
