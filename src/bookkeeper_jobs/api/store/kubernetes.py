"""The cluster backend of the JobStore: one BookkeepingJob resource per job.

Writes go to the API server (create, patch ``spec.cancelRequested``, delete); every read
(a poll, a company listing, an SSE stream) is answered from the :class:`WatchCache`, so
polling costs the API server nothing. The operator and the task containers drive the
lifecycle; this store only asks for things.

With several API replicas, a job created through one is in the others' caches only once
their watch delivers it (tens to hundreds of milliseconds). A client following the
``Location`` header of its 202 must never get a 404 for it: a job id the cache does not hold
is read from the API server once (then cached), and a miss there is remembered for
:data:`MISS_SECONDS`, so polling unknown ids cannot turn into API-server load.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from time import monotonic
from typing import cast

from kubernetes.client import CustomObjectsApi

from bookkeeper_jobs.api.store.protocol import (
    JobPage,
    Submission,
    cursor_position,
    decode_cursor,
    encode_cursor,
    follow_changes,
)
from bookkeeper_jobs.api.store.watch_cache import Resource, WatchCache, tenant_of
from bookkeeper_jobs.errors import (
    IdempotencyConflictError,
    JobNotFoundError,
    JobStateError,
    ResourceConflictError,
    ResourceNotFoundError,
)
from bookkeeper_jobs.jobs import Job, JobPhase, JobSpec, new_job_id, utcnow
from bookkeeper_jobs.kube import kube_errors
from bookkeeper_jobs.resource import (
    ANNOTATION_FINGERPRINT,
    GROUP,
    PLURAL,
    VERSION,
    is_resource_name,
    job_from_resource,
    spec_to_resource,
)

WATCH_POLL_SECONDS = 0.2
CANCEL_PATCH = {"spec": {"cancelRequested": True}}
MISS_SECONDS = 2.0
"""How long an id the API server did not have is answered as missing without asking again."""
MAX_REMEMBERED_MISSES = 10_000


class KubernetesJobStore:
    def __init__(
        self, api: CustomObjectsApi, cache: WatchCache, *, clock: Callable[[], float] = monotonic
    ) -> None:
        self._api = api
        self._cache = cache
        self.namespace = cache.namespace
        self._clock = clock
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._misses_lock = threading.Lock()

    def submit(
        self,
        spec: JobSpec,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
    ) -> Submission:
        body = spec_to_resource(
            spec,
            job_id=None if idempotency_key else new_job_id(),
            namespace=self.namespace,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
            created_at=utcnow(),
        )
        try:
            with kube_errors():
                created = cast(
                    Resource,
                    self._api.create_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, PLURAL, body
                    ),
                )
        except ResourceConflictError:
            if idempotency_key is None:
                raise
            return self._replay(body["metadata"]["name"], idempotency_key, request_fingerprint)
        self._cache.upsert(created)
        return Submission(job=job_from_resource(created), created=True)

    def _replay(self, name: str, key: str, fingerprint: str | None) -> Submission:
        """The key was used before (409 AlreadyExists on its deterministic name)."""
        existing = self._cache.get(name) or self._read(name)
        annotations = existing["metadata"].get("annotations") or {}
        if annotations.get(ANNOTATION_FINGERPRINT) != fingerprint:
            raise IdempotencyConflictError(key)
        return Submission(job=job_from_resource(existing), created=False)

    def _read(self, name: str) -> Resource:
        with kube_errors():
            obj = cast(
                Resource,
                self._api.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name
                ),
            )
        self._cache.upsert(obj)
        return obj

    def get(self, job_id: str) -> Job | None:
        obj = self._cache.get(job_id) or self._read_missing(job_id)
        return None if obj is None else job_from_resource(obj)

    def _read_missing(self, name: str) -> Resource | None:
        """A job the cache does not hold yet (created through another replica), read from the
        API server; None when it has none (remembered a moment, so misses stay cheap)."""
        if not is_resource_name(name) or self._recently_missing(name):
            return None
        try:
            return self._read(name)
        except ResourceNotFoundError:
            with self._misses_lock:
                self._misses[name] = self._clock() + MISS_SECONDS
                self._misses.move_to_end(name)
                while len(self._misses) > MAX_REMEMBERED_MISSES:
                    self._misses.popitem(last=False)
            return None

    def _recently_missing(self, name: str) -> bool:
        with self._misses_lock:
            until = self._misses.get(name)
            if until is None:
                return False
            if until > self._clock():
                return True
            del self._misses[name]
            return False

    def list_company(
        self, tenant_id: str, company_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> JobPage:
        owned = (obj for obj in self._cache.for_company(company_id) if tenant_of(obj) == tenant_id)
        jobs = sorted(
            (job_from_resource(obj) for obj in owned),
            key=lambda job: (job.status.created_at, job.id),
            reverse=True,
        )
        if cursor is not None:
            created, after_id = cursor_position(
                self.get(decode_cursor(cursor)), tenant_id, company_id
            )
            jobs = [j for j in jobs if (j.status.created_at, j.id) < (created, after_id)]
        page = jobs[:limit]
        more = len(jobs) > limit
        next_cursor = encode_cursor(page[-1].id) if more else None
        return JobPage(jobs=page, next_cursor=next_cursor)

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        if job.status.phase.is_terminal:
            raise JobStateError(f"job {job_id} already {job.status.phase.value}")
        try:
            with kube_errors():
                patched = cast(
                    Resource,
                    self._api.patch_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, PLURAL, job_id, CANCEL_PATCH
                    ),
                )
        except ResourceNotFoundError as exc:
            raise JobNotFoundError(job_id) from exc
        self._cache.upsert(patched)
        return job_from_resource(patched)

    def watch(self, job_id: str) -> AsyncIterator[Job]:
        """Fed by the watch cache: each poll is a memory read."""

        async def read(name: str) -> Job | None:
            return self.get(name)

        return follow_changes(read, job_id, interval=WATCH_POLL_SECONDS)

    def counts(self) -> dict[tuple[str, str], int]:
        found: Counter[tuple[str, str]] = Counter()
        for obj in self._cache.all():
            phase = (obj.get("status") or {}).get("phase") or JobPhase.PENDING.value
            found[(str((obj.get("spec") or {}).get("type", "")), str(phase))] += 1
        return dict(found)

    @property
    def cache(self) -> WatchCache:
        return self._cache

    def unready_reason(self) -> str | None:
        if not self._cache.synced:
            return "the watch cache has not synced yet"
        return self._cache.unhealthy_reason()
