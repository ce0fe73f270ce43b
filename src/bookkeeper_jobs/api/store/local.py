"""The embedded backend's job store: one SQLite file in WAL mode, shared by the API process
and the worker processes.

It uses the standard library's ``sqlite3`` rather than SQLAlchemy: it is one table on one
engine, read on every poll, and claims need ``BEGIN IMMEDIATE`` (a write lock taken before
the read), which is the whole point of this module. Each thread and process opens its own
connection. Timestamps are stored as UTC epoch seconds so they sort and compare in SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from bookkeeper_jobs.api.store.group_commit import GroupCommit
from bookkeeper_jobs.api.store.protocol import (
    JobPage,
    JobStamp,
    StampPage,
    Submission,
    cursor_position,
    decode_cursor,
    encode_cursor,
    follow_changes,
)
from bookkeeper_jobs.errors import (
    IdempotencyConflictError,
    JobNotFoundError,
    JobStateError,
    StorageError,
    StoredJobError,
    TransitionRefusedError,
)
from bookkeeper_jobs.jobs import Condition, Job, JobPhase, JobSpec, JobStatus, new_job_id, utcnow
from bookkeeper_jobs.lifecycle import Cancel, Event, initial_status, transition

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    type TEXT NOT NULL,
    spec TEXT NOT NULL,
    artifact_id TEXT,
    phase TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    conditions TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    idempotency_key TEXT,
    request_fingerprint TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    worker_id TEXT,
    lease_expires_at REAL,
    UNIQUE (tenant_id, idempotency_key)
);
DROP INDEX IF EXISTS jobs_by_company;
CREATE INDEX IF NOT EXISTS jobs_by_tenant_company
    ON jobs (tenant_id, company_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_by_phase ON jobs (phase, not_before);
CREATE INDEX IF NOT EXISTS jobs_waiting
    ON jobs (tenant_id, type, created_at, id) WHERE phase = 'pending';
CREATE TABLE IF NOT EXISTS tenant_starts (
    tenant_id TEXT PRIMARY KEY,
    last_started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS readiness_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at REAL NOT NULL
);
"""

_SPEC: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)
_CONDITIONS: TypeAdapter[list[Condition]] = TypeAdapter(list[Condition])
WATCH_POLL_SECONDS = 0.2
SWEEP_BATCH = 500


def to_epoch(moment: datetime) -> float:
    return moment.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def row_to_job(row: sqlite3.Row) -> Job:
    try:
        status = JobStatus(
            phase=JobPhase(row["phase"]),
            progress=row["progress"],
            message=row["message"],
            result=json.loads(row["result"]) if row["result"] is not None else None,
            error=row["error"],
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            started_at=from_epoch(row["started_at"]),
            finished_at=from_epoch(row["finished_at"]),
            attempts=row["attempts"],
            conditions=_CONDITIONS.validate_json(row["conditions"]),
        )
        spec = _SPEC.validate_json(row["spec"])
    except ValueError as exc:  # pydantic's ValidationError and json's errors are ValueErrors
        raise StoredJobError(f"stored job {row['id']!r} does not parse: {exc}") from exc
    return Job(id=row["id"], spec=spec, status=status, version=row["version"])


def status_columns(status: JobStatus) -> dict[str, object]:
    """The row's columns for ``status`` (all of them: the lifecycle returns whole statuses)."""
    return {
        "phase": status.phase.value,
        "progress": status.progress,
        "message": status.message,
        "result": None if status.result is None else json.dumps(status.result),
        "error": status.error,
        "created_at": to_epoch(status.created_at),
        "started_at": None if status.started_at is None else to_epoch(status.started_at),
        "finished_at": None if status.finished_at is None else to_epoch(status.finished_at),
        "attempts": status.attempts,
        "conditions": _CONDITIONS.dump_json(status.conditions).decode(),
    }


def apply_event(
    conn: sqlite3.Connection, job: Job, event: Event, now: datetime, **columns: object
) -> JobStatus | None:
    """Persist ``event`` on ``job`` (as read through ``conn``) with one UPDATE guarded by the
    version read, plus the worker bookkeeping ``columns``. ``None`` if the lifecycle refuses
    the event or the row changed since it was read."""
    try:
        status = transition(job.status, event, now)
    except TransitionRefusedError:
        return None
    values = {**status_columns(status), **columns}
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    updated = conn.execute(
        f"UPDATE jobs SET {assignments}, version = version + 1"
        " WHERE id = :id AND version = :version",
        {**values, "id": job.id, "version": job.version},
    )
    return status if updated.rowcount == 1 else None


class SQLiteDatabase:
    """Per-thread, per-process connections to one SQLite file in WAL mode."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with storage_errors():
            self.connection().executescript(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: the write lock is held from the first read, so a
        read-then-write (a claim, a state change) cannot interleave with another. A failed
        COMMIT (a full disk) is rolled back like any other failure, never left open."""
        with storage_errors():
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        """One statement outside a transaction (reads, single guarded updates), its rows
        fetched inside the error mapping: SQLite runs ``UPDATE … RETURNING`` on fetch."""
        with storage_errors():
            rows: list[sqlite3.Row] = self.connection().execute(sql, params).fetchall()
        return rows

    def fetch_one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None


@contextmanager
def storage_errors() -> Iterator[None]:
    """SQLite's operational errors (disk full, read-only, I/O error, locked too long) as
    :class:`StorageError`: the disk's fault, not the caller's, and said as such."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        raise StorageError(f"the job store cannot be written: {exc}", full=full) from exc


@dataclass(frozen=True)
class _Submit:
    spec: JobSpec
    idempotency_key: str | None
    request_fingerprint: str | None
    now: datetime


class LocalJobStore:
    """The API-facing half of the embedded backend (the worker-facing half is
    :class:`~bookkeeper_jobs.api.store.local_lifecycle.JobLifecycle`)."""

    def __init__(
        self,
        path: Path,
        *,
        delete_artifact: Callable[[str], None] = lambda _artifact_id: None,
        on_submitted: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_submitted`` runs after a new job is committed (the server wakes its idle
        workers with it)."""
        # FULL: a submission answered 202 survives a power loss (one fsync per commit). The
        # workers' writes use NORMAL: one lost there is redone when its lease runs out.
        self.db = SQLiteDatabase(path, synchronous="FULL")
        self._delete_artifact = delete_artifact
        self._on_submitted = on_submitted
        self._submissions = GroupCommit(
            self.db, self._insert, refused=(IdempotencyConflictError,), committed=self._committed
        )

    def submit(
        self,
        spec: JobSpec,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
    ) -> Submission:
        return self.submit_later(spec, idempotency_key, request_fingerprint).result()

    def submit_later(
        self, spec: JobSpec, idempotency_key: str | None, request_fingerprint: str | None
    ) -> Future[Submission]:
        """:meth:`submit` as a future, resolved once committed (with the submissions that
        arrived meanwhile: ``group_commit.py``); the API awaits it without a thread."""
        return self._submissions.submit(
            _Submit(spec, idempotency_key, request_fingerprint, utcnow())
        )

    def _committed(self, submissions: list[Submission]) -> None:
        if any(submission.created for submission in submissions):
            self._on_submitted()

    @staticmethod
    def _insert(conn: sqlite3.Connection, submit: _Submit) -> Submission:
        spec, key = submit.spec, submit.idempotency_key
        if key is not None:
            earlier = conn.execute(
                "SELECT * FROM jobs WHERE tenant_id = ? AND idempotency_key = ?",
                (spec.tenant_id, key),
            ).fetchone()
            if earlier is not None:
                if earlier["request_fingerprint"] != submit.request_fingerprint:
                    raise IdempotencyConflictError(key)
                return Submission(job=row_to_job(earlier), created=False)
        status = initial_status(submit.now)
        values: dict[str, Any] = {
            **status_columns(status),
            "id": new_job_id(),
            "tenant_id": spec.tenant_id,
            "company_id": spec.company_id,
            "type": spec.type,
            "spec": spec.model_dump_json(),
            "artifact_id": getattr(spec, "artifact_id", None),
            "idempotency_key": key,
            "request_fingerprint": submit.request_fingerprint,
        }
        conn.execute(
            f"INSERT INTO jobs ({', '.join(values)}) VALUES (:{', :'.join(values)})", values
        )
        job = Job(id=values["id"], spec=spec, status=status, version=1)
        return Submission(job=job, created=True)

    def counts(self) -> dict[tuple[str, str], int]:
        rows = self.db.query("SELECT type, phase, COUNT(*) AS n FROM jobs GROUP BY type, phase", ())
        return {(row["type"], row["phase"]): int(row["n"]) for row in rows}

    def get(self, job_id: str) -> Job | None:
        row = self.db.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else row_to_job(row)

    def stamp(self, job_id: str) -> JobStamp | None:
        row = self.db.fetch_one(
            "SELECT id, tenant_id, company_id, version FROM jobs WHERE id = ?", (job_id,)
        )
        return None if row is None else JobStamp(*row)

    def list_company(
        self, tenant_id: str, company_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> JobPage:
        rows = self._company_page("*", tenant_id, company_id, limit, cursor)
        jobs = [row_to_job(row) for row in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(jobs[-1].id) if more else None
        return JobPage(jobs=jobs, next_cursor=next_cursor)

    def list_company_stamps(
        self, tenant_id: str, company_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> StampPage:
        columns = "id, tenant_id, company_id, version"
        rows = self._company_page(columns, tenant_id, company_id, limit, cursor)
        stamps = [JobStamp(*row) for row in rows[:limit]]
        next_cursor = encode_cursor(stamps[-1].id) if len(rows) > limit else None
        return StampPage(stamps=stamps, next_cursor=next_cursor)

    def _company_page(
        self, columns: str, tenant_id: str, company_id: str, limit: int, cursor: str | None
    ) -> list[sqlite3.Row]:
        """One page of the company's jobs, newest first, and the first row of the next."""
        sql = f"SELECT {columns} FROM jobs WHERE tenant_id = ? AND company_id = ?"
        params: list[object] = [tenant_id, company_id]
        if cursor is not None:
            created, after_id = cursor_position(
                self.get(decode_cursor(cursor)), tenant_id, company_id
            )
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [to_epoch(created), to_epoch(created), after_id]
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        return self.db.query(sql, (*params, limit + 1))

    def cancel(self, job_id: str) -> Job:
        now = utcnow()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFoundError(job_id)
            job = row_to_job(row)
            if job.status.phase.is_terminal:
                raise JobStateError(f"job {job_id} already {job.status.phase.value}")
            if job.status.phase is JobPhase.PENDING:
                apply_event(conn, job, Cancel(), now, worker_id=None, lease_expires_at=None)
            elif not row["cancel_requested"]:
                # The worker stops the task within a second or two and records Cancel.
                conn.execute(
                    "UPDATE jobs SET cancel_requested = 1, version = version + 1 WHERE id = ?",
                    (job_id,),
                )
        cancelled = self.get(job_id)
        assert cancelled is not None
        return cancelled

    def watch(self, job_id: str) -> AsyncIterator[Job]:
        """Polls the row (one indexed read in a worker thread) for version changes."""

        async def read(name: str) -> Job | None:
            return await asyncio.to_thread(self.get, name)

        return follow_changes(read, job_id, interval=WATCH_POLL_SECONDS)

    def sweep(self, *, older_than: datetime) -> int:
        """Delete jobs that finished before ``older_than``, their uploads first: a kill in
        between leaves a finished job without its file (deleted by the next sweep), never a
        file nothing refers to."""
        cutoff = to_epoch(older_than)
        expired = self.db.query(
            "SELECT id, artifact_id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?",
            (cutoff,),
        )
        for row in expired:
            if row["artifact_id"]:
                self._delete_artifact(row["artifact_id"])
        deleted = 0
        for start in range(0, len(expired), SWEEP_BATCH):
            ids = [row["id"] for row in expired[start : start + SWEEP_BATCH]]
            marks = ", ".join("?" * len(ids))
            with self.db.transaction() as conn:
                deleted += conn.execute(
                    f"DELETE FROM jobs WHERE id IN ({marks}) AND finished_at < ?", (*ids, cutoff)
                ).rowcount
        return deleted

    def referenced_artifacts(self) -> set[str]:
        """The uploads some job still refers to."""
        rows = self.db.query("SELECT artifact_id FROM jobs WHERE artifact_id IS NOT NULL")
        return {row["artifact_id"] for row in rows}

    def unready_reason(self) -> str | None:
        """A write probe, not a read: a full disk or a read-only file fails writes only."""
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO readiness_probe (id, checked_at) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                    (to_epoch(utcnow()),),
                )
        except StorageError as exc:
            return str(exc)
        return None
