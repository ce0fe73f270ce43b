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
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeGuard, runtime_checkable

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


@dataclass(frozen=True)
class JobStamp:
    """Who a job belongs to and which version of it is stored: enough to authorise a read and
    to answer its ETag without parsing the job."""

    id: str
    tenant_id: str
    company_id: str
    version: int


@dataclass(frozen=True)
class StampPage:
    stamps: list[JobStamp]
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

    def counts(self) -> dict[tuple[str, str], int]:
        """How many jobs there are of each ``(type, phase)`` (for ``/metrics``)."""


@runtime_checkable
class StampedReads(Protocol):
    """What a store offers for the polling fast path (``api/polling.py``), besides
    :class:`JobStore`: stamps, read without parsing a job."""

    def stamp(self, job_id: str) -> JobStamp | None: ...

    def list_company_stamps(
        self, tenant_id: str, company_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> StampPage:
        """The stamps of the page :meth:`JobStore.list_company` answers (same order, same
        cursor rules)."""


@runtime_checkable
class QueuedSubmissions(Protocol):
    """A store whose submissions can be awaited without holding a thread of the server's
    pool: the embedded store's group commit (one fsync for all waiting), the cluster store's
    own bounded pool of creates. The API uses it when the store offers it: the quick submit
    path (``api/quick_submit.py``) answers a 202 from it without FastAPI's routing, and the
    JSON routes await it instead of running :meth:`JobStore.submit` in the server's pool.

    The future holds what :meth:`JobStore.submit` would return or raise."""

    def submit_later(
        self, spec: JobSpec, idempotency_key: str | None, request_fingerprint: str | None
    ) -> Future[Submission]: ...


_OFFERS: dict[type, tuple[bool, bool]] = {}
"""Per store class: whether it offers StampedReads, QueuedSubmissions (a protocol's
``isinstance`` inspects the class's members on every call: too slow for every request)."""


def _offers(store: object) -> tuple[bool, bool]:
    offers = _OFFERS.get(type(store))
    if offers is None:
        offers = (isinstance(store, StampedReads), isinstance(store, QueuedSubmissions))
        _OFFERS[type(store)] = offers
    return offers


def has_stamped_reads(store: object) -> TypeGuard[StampedReads]:
    return _offers(store)[0]


def queues_submissions(store: object) -> TypeGuard[QueuedSubmissions]:
    return _offers(store)[1]


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


def encode_cursor(job_id: str) -> str:
    """An opaque cursor: it names the last job of a page (one of the caller's own), nothing
    about anyone else's and no time."""
    return base64.urlsafe_b64encode(job_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The job id in a cursor; :class:`InvalidCursorError` for one this module did not make."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError from exc


def cursor_position(job: Job | None, tenant_id: str, company_id: str) -> tuple[datetime, str]:
    """Where the next page starts: after the cursor's job, which must belong to the listing
    asked for. Another tenant's job, one gone since (swept) or none at all are all the same
    :class:`InvalidCursorError`, so a cursor reveals nothing."""
    if job is None or (job.tenant_id, job.company_id) != (tenant_id, company_id):
        raise InvalidCursorError
    return job.status.created_at, job.id
