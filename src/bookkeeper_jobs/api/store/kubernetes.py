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

It offers :class:`~bookkeeper_jobs.api.store.protocol.StampedReads` from the cache's
entries (owner and version kept with each resource, listings kept sorted), so the polling
fast path (``api/polling.py``) serves cluster mode too. Stamped reads never call the API
server: a job or a cursor the cache does not hold reads as missing there, and the routes
(which may ask the API server, in a worker thread) answer it.

It also offers :class:`~bookkeeper_jobs.api.store.protocol.QueuedSubmissions`: a submission
awaited by the API (the quick submit path, ``api/quick_submit.py``, and the JSON routes) runs
its create in a pool of this store's own, :data:`CREATE_THREADS` threads over a client of
their own (the same configuration: server, credentials, TLS; a connection pool as large as
the thread pool), so no thread of the server's pool waits for the API server and the event
loop never does either. The create is :meth:`submit`'s (its errors, the idempotent replay).
On a busy API server a create waits for it more than it costs this process, so the pool is
sized for many in flight (measured on the real control plane: ``bench/cluster_submits.py``).
"""

from __future__ import annotations

import copy
import threading
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from time import monotonic
from typing import cast

from kubernetes.client import ApiClient, CustomObjectsApi

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
from bookkeeper_jobs.api.store.watch_cache import Entry, Place, Resource, WatchCache, micros
from bookkeeper_jobs.errors import (
    IdempotencyConflictError,
    InvalidCursorError,
    JobNotFoundError,
    JobStateError,
    ResourceConflictError,
    ResourceNotFoundError,
    StoredJobError,
    UnknownJobTypeError,
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
CREATE_THREADS = 32
"""At most this many creates of awaited submissions in flight (threads, and connections of
their client)."""


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
        self._creates: tuple[ThreadPoolExecutor, CustomObjectsApi] | None = None
        self._creates_lock = threading.Lock()

    def submit_later(
        self, spec: JobSpec, idempotency_key: str | None, request_fingerprint: str | None
    ) -> Future[Submission]:
        """:meth:`submit` in this store's create pool; the future holds its submission or its
        error (``IdempotencyConflictError``, a ``KubernetesApiError`` such as the API server's
        422, a connection error)."""
        pool, api = self._create_pool()
        return pool.submit(self._submit, api, spec, idempotency_key, request_fingerprint)

    def _create_pool(self) -> tuple[ThreadPoolExecutor, CustomObjectsApi]:
        creates = self._creates
        if creates is None:
            with self._creates_lock:
                creates = self._creates
                if creates is None:
                    pool = ThreadPoolExecutor(
                        max_workers=CREATE_THREADS, thread_name_prefix="bkjobs-create"
                    )
                    creates = self._creates = (pool, creating_api(self._api, CREATE_THREADS))
        return creates

    def creating_api(self) -> CustomObjectsApi:
        """The client the create pool's threads create with."""
        return self._create_pool()[1]

    def close(self) -> None:
        """Stop the create pool once the creates in flight are done, and close its client (a
        later awaited submission starts new ones)."""
        with self._creates_lock:
            creates, self._creates = self._creates, None
        if creates is not None:
            pool, api = creates
            pool.shutdown(wait=True)
            if api is not self._api:
                api.api_client.close()

    def submit(
        self,
        spec: JobSpec,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
    ) -> Submission:
        return self._submit(self._api, spec, idempotency_key, request_fingerprint)

    def _submit(
        self,
        api: CustomObjectsApi,
        spec: JobSpec,
        idempotency_key: str | None,
        request_fingerprint: str | None,
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
                    api.create_namespaced_custom_object(
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
        return None if obj is None else parsed(obj)

    def stamp(self, job_id: str) -> JobStamp | None:
        """From the cache only (None for a job it does not hold: the route then reads it)."""
        return self._cache.stamp(job_id)

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
        """Newest first by (``created_at``, id), from the cache's sorted listing: only the
        page's jobs are parsed."""
        before = None
        if cursor is not None:
            name = decode_cursor(cursor)
            created, after_id = cursor_position(self.get(name), tenant_id, company_id)
            entry = self._cache.entry(name)
            before = entry.place if entry is not None else (micros(created), after_id)
        entries = self._cache.page(tenant_id, company_id, limit, before)
        jobs = [parsed(entry.resource) for entry in entries[:limit]]
        next_cursor = encode_cursor(jobs[-1].id) if len(entries) > limit else None
        return JobPage(jobs=jobs, next_cursor=next_cursor)

    def list_company_stamps(
        self, tenant_id: str, company_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> StampPage:
        """The stamps of :meth:`list_company`'s page, parsing nothing and never asking the
        API server: a cursor naming a job the cache does not hold is refused here
        (``InvalidCursorError``), and the route, which may read it, answers instead."""
        before = None if cursor is None else self._cached_cursor(tenant_id, company_id, cursor)
        entries = self._cache.page(tenant_id, company_id, limit, before)
        stamps = [entry.stamp for entry in entries[:limit]]
        if any(stamp is None for stamp in stamps):
            raise StoredJobError(f"a job of company {company_id!r} has no plain owner or version")
        page = cast(list[JobStamp], stamps)
        next_cursor = encode_cursor(page[-1].id) if len(entries) > limit else None
        return StampPage(stamps=page, next_cursor=next_cursor)

    def _cached_cursor(self, tenant_id: str, company_id: str, cursor: str) -> Place:
        """Where the page after ``cursor`` starts, as :func:`cursor_position` decides it."""
        entry: Entry | None = self._cache.entry(decode_cursor(cursor))
        stamp = None if entry is None else entry.stamp
        owner = None if stamp is None else (stamp.tenant_id, stamp.company_id)
        if entry is None or owner != (tenant_id, company_id):
            raise InvalidCursorError
        return entry.place

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


def creating_api(api: CustomObjectsApi, connections: int) -> CustomObjectsApi:
    """A client for the create pool: ``api``'s configuration (a copy, so the server,
    credentials and TLS are the same) with a connection pool of ``connections`` (the shared
    client's is the kubernetes client's default, five per core, and the watch cache holds one
    of them). ``api`` itself when it has no configuration to copy."""
    configuration = getattr(getattr(api, "api_client", None), "configuration", None)
    if configuration is None:
        return api
    own = copy.deepcopy(configuration)
    own.connection_pool_maxsize = connections
    return CustomObjectsApi(ApiClient(own))


def parsed(obj: Resource) -> Job:
    """The job of a cached resource; :class:`StoredJobError` for one that does not read as a
    job (a hand edit, a type this process does not know), as the embedded store says it."""
    try:
        return job_from_resource(obj)
    except (ValueError, KeyError, TypeError, UnknownJobTypeError) as exc:
        name = (obj.get("metadata") or {}).get("name")
        raise StoredJobError(f"stored job {name!r} does not parse: {exc}") from exc
