"""Which waiting job starts next, in both modes: fair across tenants, then by the job
type's priority, then oldest first.

The tenant running the fewest jobs goes first and, between tenants running as many, the one
that started a job least recently (round robin), so one tenant's 10,000 queued jobs delay
another tenant's new job by the jobs already running, not by the 10,000; a tenant at its
limit (``BKJOBS_MAX_RUNNING_JOBS_PER_TENANT``) waits. Among one tenant's jobs, the type's
priority (``BKJOBS_JOB_TYPE_PRIORITIES``, higher first, 0 unless named) and then age decide.
The embedded claim (``api/store/local_lifecycle.py``) and the operator's resume of waiting
Jobs (``operator/admission.py``) both ask :meth:`StartOrder.pick`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Waiting(Generic[T]):
    """A job that may start: its tenant, type, creation time (epoch seconds) and name, and
    what the caller needs to start it."""

    tenant: str
    job_type: str
    created: float
    name: str
    item: T


@dataclass(frozen=True)
class StartOrder:
    per_tenant_limit: int
    priorities: Mapping[str, int] = field(default_factory=dict)

    def pick(
        self,
        candidates: Iterable[Waiting[T]],
        running: Mapping[str, int],
        last_started: Mapping[str, float],
    ) -> Waiting[T] | None:
        """The candidate to start now, given how many jobs each tenant runs and when each
        last started one (epoch seconds; a tenant never started goes first); ``None`` when
        every candidate's tenant is at its limit (or there is none)."""
        eligible = [c for c in candidates if running.get(c.tenant, 0) < self.per_tenant_limit]

        def key(c: Waiting[T]) -> tuple[int, float, int, float, str]:
            last = last_started.get(c.tenant, float("-inf"))
            return (running.get(c.tenant, 0), last, *self.within_tenant(c))

        return min(eligible, key=key, default=None)

    def within_tenant(self, candidate: Waiting[T]) -> tuple[int, float, str]:
        """The order of one tenant's own jobs: priority, then age."""
        return (-self.priorities.get(candidate.job_type, 0), candidate.created, candidate.name)
