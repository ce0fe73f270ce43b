"""The JobStore protocol: what the API needs from a backend, whichever runs the jobs.

Two backends implement it: :class:`~bookkeeper_jobs.api.store.local.LocalJobStore`
(SQLite + local worker processes) and, in cluster mode, a store over BookkeepingJob
resources. The contract suite in ``tests/contract`` runs against every backend.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bookkeeper_jobs.errors import InvalidCursorError
from bookkeeper_jobs.jobs import Job, JobSpec


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool
    """False when an Idempotency-Key matched an earlier identical request."""


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


class JobStore(Protocol):
    def submit(
        self,
        spec: JobSpec,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
    ) -> Submission:
        """Create a pending job. With an ``idempotency_key`` already used by this tenant,
        return that job if ``request_fingerprint`` matches, else raise
        :class:`~bookkeeper_jobs.errors.IdempotencyConflictError`."""

    def get(self, job_id: str) -> Job | None: ...

    def list_company(
        self, tenant_id: str, company_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> JobPage:
        """The tenant's jobs of the company, newest first; ``next_cursor`` continues after the
        last one. Scoped by tenant before paging: two tenants whose grants name the same
        company id never see each other's jobs, nor pages emptied by them."""

    def cancel(self, job_id: str) -> Job:
        """Ask for the job to stop; it reaches ``cancelled`` soon after (at once for a
        pending job in the embedded mode; once the operator has acted in a cluster).
        Raises ``JobNotFoundError`` or ``JobStateError`` (already finished)."""

    def watch(self, job_id: str) -> AsyncIterator[Job]:
        """Yield the job now and after every change, ending after a terminal phase."""

    def unready_reason(self) -> str | None:
        """Why the store cannot serve now (a cluster cache not synced yet, an unwritable
        embedded store), or ``None`` when it can."""


async def follow_changes(
    read: Callable[[str], Awaitable[Job | None]], job_id: str, *, interval: float = 0.2
) -> AsyncIterator[Job]:
    """``JobStore.watch`` for stores whose reads are cheap: read every ``interval`` seconds
    and yield when the version changed, until the job ends or disappears."""
    seen: int | None = None
    while (job := await read(job_id)) is not None:
        if job.version != seen:
            seen = job.version
            yield job
        if job.status.phase.is_terminal:
            return
        await asyncio.sleep(interval)


def encode_cursor(created_at: datetime, job_id: str) -> str:
    raw = f"{created_at.isoformat()}|{job_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises :class:`InvalidCursorError` for a cursor this module did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, job_id = raw.split("|", 1)
        return datetime.fromisoformat(created), job_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError from exc
