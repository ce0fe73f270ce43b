"""An in-memory list+watch cache of BookkeepingJob resources, indexed by name and by listing.

The way client-go's informers work, kept small: list once (remember the list's
resourceVersion), then watch from it with bookmarks; a dropped or timed-out watch resumes
from the last resourceVersion seen; a ``410 Gone`` (the version is too old) re-lists. The
cache is ``synced`` once the first list has landed; readers never call the API server.
See https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes

Each resource is kept with what the API's reads need without parsing it into a ``Job``
(:class:`Entry`): its listing (tenant and company, as company listings scope them), its place
in that listing (creation time to the microsecond, then name) and its stamp (owner and
version, as the job's ``tenant_id``, ``company_id`` and ``version`` read). A listing is a list
of places kept sorted as events arrive, so a page is found by bisection and costs the page,
not the company's jobs.
"""

from __future__ import annotations

import bisect
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from prometheus_client import Histogram
from urllib3.exceptions import HTTPError

from bookkeeper_jobs.api.store.protocol import JobStamp
from bookkeeper_jobs.errors import KubernetesApiError, ResourceExpiredError
from bookkeeper_jobs.kube import api_error
from bookkeeper_jobs.resource import (
    ANNOTATION_COMPANY,
    ANNOTATION_CREATED,
    ANNOTATION_FINGERPRINT,
    ANNOTATION_TENANT,
    GROUP,
    PLURAL,
    VERSION,
    _parse_time,
)

KEPT_ANNOTATIONS = frozenset(
    {ANNOTATION_COMPANY, ANNOTATION_TENANT, ANNOTATION_FINGERPRINT, ANNOTATION_CREATED}
)

log = logging.getLogger(__name__)

Resource = dict[str, Any]
Listing = tuple[str, str]
"""A company listing's scope: (tenant, company) as ``tenant_of`` and ``company_of`` read them."""
Place = tuple[int, str]
"""Where a job sits in its listing: (creation time in microseconds since the epoch, name);
listings are newest first, so in descending order of places."""


@dataclass(frozen=True, slots=True)
class Entry:
    resource: Resource
    listing: Listing
    place: Place
    stamp: JobStamp | None
    """None when the resource would not read as a job's owner and version (a missing
    ``spec.tenantId``, a resourceVersion that is not a number): readers then parse it."""


class WatchCache:
    def __init__(
        self,
        api: CustomObjectsApi,
        namespace: str,
        *,
        watch_timeout: int = 300,
        retry_delay: float = 1.0,
        unhealthy_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self.namespace = namespace
        self._watch_timeout = watch_timeout
        self._retry_delay = retry_delay
        self._lock = threading.Lock()
        self._by_name: dict[str, Entry] = {}
        self._listings: dict[Listing, list[Place]] = {}
        """Each listing's places in ascending order (the newest job last)."""
        self._resource_version = ""
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: Any = None  # the watch response being read, for stop() to cut
        self.relists = 0
        self._unhealthy_after = unhealthy_after
        self._clock = clock
        self._failing_since: float | None = None
        self._last_error = ""
        self._last_heard: float | None = None
        self.lag = Histogram(
            "bkjobs_watch_cache_lag_seconds",
            "Seconds from a job's submission (its created-at annotation, the submitting API's"
            " clock) to its arrival in this cache through the watch: how long a replica that"
            " did not create a job answers from its cache without it.",
            buckets=LAG_BUCKETS,
            registry=None,  # collected with the cache's other metrics (api/metrics.py)
        )

    # -- reading ---------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def unhealthy_reason(self) -> str | None:
        """Why reads may be stale: the list or watch has failed for longer than
        ``unhealthy_after`` seconds without one success (then ``/readyz`` says so)."""
        since = self._failing_since
        if since is None:
            return None
        failing = self._clock() - since
        if failing < self._unhealthy_after:
            return None
        return (
            f"the watch of bookkeepingjobs has failed for {failing:.0f} s"
            f" (last error: {self._last_error})"
        )

    def silent_for(self) -> float | None:
        """Seconds since the API server last sent anything (a list, an event or a bookmark);
        None before the first list. A real server bookmarks about once a minute."""
        heard = self._last_heard
        return None if heard is None else max(0.0, self._clock() - heard)

    def get(self, name: str) -> Resource | None:
        entry = self._by_name.get(name)  # one dict read: atomic under the GIL
        return None if entry is None else entry.resource

    def entry(self, name: str) -> Entry | None:
        return self._by_name.get(name)

    def stamp(self, name: str) -> JobStamp | None:
        entry = self._by_name.get(name)
        return None if entry is None else entry.stamp

    def page(
        self, tenant_id: str, company_id: str, limit: int, before: Place | None = None
    ) -> list[Entry]:
        """Up to ``limit`` + 1 entries of the tenant's listing of the company, newest first,
        starting after ``before`` (older than it) or at the newest: ``limit`` for the page
        and one more when there is a next page. Costs the page, not the listing."""
        with self._lock:
            places = self._listings.get((tenant_id, company_id))
            if not places:
                return []
            end = len(places) if before is None else bisect.bisect_left(places, before)
            start = max(0, end - limit - 1)
            return [self._by_name[name] for _, name in reversed(places[start:end])]

    def all(self) -> list[Resource]:
        with self._lock:
            return [entry.resource for entry in self._by_name.values()]

    # -- writing ---------------------------------------------------------------------------

    def upsert(self, obj: Resource) -> None:
        """Store ``obj`` unless the cache already holds a newer version of it."""
        obj = essentials(obj)
        name = obj["metadata"]["name"]
        with self._lock:
            current = self._by_name.get(name)
            if current is not None and _version(current.resource) > _version(obj):
                return
            entry = entry_of(obj, current)
            if current is not None and (current.listing, current.place) != (
                entry.listing,
                entry.place,
            ):
                self._unlist(current)
                current = None
            self._by_name[name] = entry
            if current is None:
                bisect.insort(self._listings.setdefault(entry.listing, []), entry.place)

    def remove(self, obj: Resource) -> None:
        name = obj["metadata"]["name"]
        with self._lock:
            entry = self._by_name.pop(name, None)
            if entry is not None:
                self._unlist(entry)

    def _unlist(self, entry: Entry) -> None:
        places = self._listings.get(entry.listing)
        if not places:
            return
        at = bisect.bisect_left(places, entry.place)
        if at < len(places) and places[at] == entry.place:
            del places[at]
        if not places:
            del self._listings[entry.listing]

    def replace_all(self, items: list[Resource], resource_version: str) -> None:
        entries = [entry_of(essentials(item)) for item in items]
        by_name = {entry.resource["metadata"]["name"]: entry for entry in entries}
        listings: dict[Listing, list[Place]] = {}
        for entry in by_name.values():
            listings.setdefault(entry.listing, []).append(entry.place)
        for places in listings.values():
            places.sort()
        with self._lock:
            self._by_name = by_name
            self._listings = listings
            self._resource_version = resource_version

    # -- the list+watch loop ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bkj-watch-cache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop, cutting the watch being read: a real API server keeps a watch with
        nothing to report silent until the next bookmark (about a minute), so waiting for
        it would hold up the API's shutdown."""
        self._stopping.set()
        self._cut_watch()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _cut_watch(self) -> None:
        watch = self._watch
        if watch is not None:
            try:
                watch.shutdown()  # unblocks the read in the loop's thread
            except (OSError, HTTPError) as exc:
                log.debug("cutting the watch: %s", exc)

    @property
    def running(self) -> bool:
        """Whether the list+watch thread is still running."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        needs_list = True
        while not self._stopping.is_set():
            try:
                if needs_list:
                    self._list()
                    needs_list = False
                self._watch_once()
            except ResourceExpiredError:
                log.info("watch resourceVersion expired (410): re-listing")
                needs_list = True
            except (KubernetesApiError, ApiException, HTTPError, OSError, ValueError) as exc:
                if self._stopping.is_set():
                    return  # stop() cut the watch
                log.warning("watch of bookkeepingjobs failed (%s); retrying", exc)
                self._failed(exc)
                self._stopping.wait(self._retry_delay)

    def _healthy(self) -> None:
        self._failing_since = None

    def _failed(self, exc: BaseException) -> None:
        self._last_error = str(exc)[:200] or type(exc).__name__
        if self._failing_since is None:
            self._failing_since = self._clock()

    def _list(self) -> None:
        """List in pages of :data:`LIST_PAGE` (one huge answer would be held whole in memory
        twice, as JSON and as objects); the last page's resourceVersion is the list's."""
        items: list[Resource] = []
        token = None
        while True:
            options: dict[str, Any] = {"limit": LIST_PAGE}
            if token:
                options["_continue"] = token
            listing: Any = self._api.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, **options
            )
            items.extend(essentials(item) for item in listing.get("items", []))
            token = listing["metadata"].get("continue")
            if not token:
                break
        self.replace_all(items, listing["metadata"]["resourceVersion"])
        if len(items) >= FREEZE_FROM:
            del items, listing
            settle()
        self.relists += 1
        self._last_heard = self._clock()
        self._healthy()
        self._synced.set()

    def _watch_once(self) -> None:
        try:
            response: Any = self._api.list_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                watch=True,
                resource_version=self._resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_timeout,
                _preload_content=False,
                _request_timeout=(10, self._watch_timeout + 30),
            )
        except ApiException as exc:
            raise api_error(exc.status or 0, exc.body, exc.reason or "") from exc
        self._healthy()  # the API server answered the watch
        self._watch = response
        try:
            if self._stopping.is_set():  # stop() came before there was a watch to cut
                return
            for event in _events(response):
                if self._stopping.is_set():
                    return
                self._apply(event)
        finally:
            self._watch = None
            if self._stopping.is_set():
                response.close()  # cut or left unread: no connection to reuse
            else:
                response.release_conn()

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        self._last_heard = self._clock()
        if kind == "ERROR":
            # A 410 Expired travels as an ERROR event carrying a Status in a 200 stream.
            raise api_error(int(obj.get("code") or 0), json.dumps(obj), str(obj.get("reason", "")))
        if kind == "ADDED":
            self._observe_lag(obj)
        if kind == "ADDED" or kind == "MODIFIED":
            self.upsert(obj)
        elif kind == "DELETED":
            self.remove(obj)
        version = obj.get("metadata", {}).get("resourceVersion")
        if version:
            self._resource_version = version

    def _observe_lag(self, obj: Resource) -> None:
        created = ((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_CREATED)
        if not created:
            return  # not created through the API: no submission time to measure from
        try:
            submitted = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return
        if submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=UTC)
        # clamped: the submitting replica's clock may run a little ahead of this one's
        self.lag.observe(max(0.0, (datetime.now(UTC) - submitted).total_seconds()))


LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _events(response: Any) -> Iterator[dict[str, Any]]:
    """Newline-delimited JSON watch events from a streaming urllib3 response."""
    buffer = b""
    for chunk in response.stream(amt=64 * 1024, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)


LIST_PAGE = 500
FREEZE_FROM = 10_000
"""A list of at least this many resources is settled (:func:`settle`) once it has landed."""


def settle() -> None:
    """Keep the process's full garbage collections from walking the cache.

    What the cache holds lives until a newer version replaces it and has no reference cycles
    (dicts, tuples and strings, freed by reference counting). Left tracked, every full
    collection walks it all: at 100,000 jobs about 780,000 objects and 0.65 s of CPU, holding
    the GIL (every request of the replica waits), once every ~20,000 new jobs; with them
    frozen, a full collection walks what came since (0.05-0.12 s in the same measure). So,
    after a large list: collect once (the garbage of the list goes now, not into the frozen
    set), then freeze every object tracked (``gc.freeze``: the permanent generation, which
    collections skip; its objects are still freed by reference counting when replaced)."""
    gc.collect()
    gc.freeze()


KEPT_METADATA = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels")


def essentials(obj: Resource) -> Resource:
    """What reads need of a resource: its spec and status, and of its metadata the identity,
    labels and the annotations the API reads. Not ``managedFields`` (often the largest part)
    nor kopf's annotations (its progress and diff-base records)."""
    metadata = obj.get("metadata") or {}
    kept = {key: metadata[key] for key in KEPT_METADATA if key in metadata}
    annotations = metadata.get("annotations") or {}
    ours = {key: value for key, value in annotations.items() if key in KEPT_ANNOTATIONS}
    if ours:
        kept["annotations"] = ours
    return {"metadata": kept, "spec": obj.get("spec") or {}, "status": obj.get("status") or {}}


def entry_of(obj: Resource, current: Entry | None = None) -> Entry:
    """``obj`` (its essentials) with its listing, place and stamp. A resource with no creation
    time at all (never one an API server stored) keeps the place it had, or takes now."""
    metadata = obj["metadata"]
    name = metadata["name"]
    created = created_micros(obj)
    if created is None:
        created = current.place[0] if current is not None else micros(datetime.now(UTC))
    return Entry(
        resource=obj,
        listing=(tenant_of(obj), company_of(obj)),
        place=(created, name),
        stamp=stamp_of(obj),
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """``moment`` in whole microseconds since the epoch (exact, unlike a float timestamp)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def created_micros(obj: Resource) -> int | None:
    """The job's ``created_at`` (as ``job_from_resource`` reads it: the created-at
    annotation, else creationTimestamp) in microseconds since the epoch; 0 for one that does
    not parse (the job then fails to read wherever it is listed), None for none at all."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    created = annotations.get(ANNOTATION_CREATED) or metadata.get("creationTimestamp")
    if not created:
        return None
    try:
        return micros(_parse_time(created))
    except (TypeError, ValueError, AttributeError):
        return 0


def stamp_of(obj: Resource) -> JobStamp | None:
    """The owner and version the job reads with (``spec.tenantId``, ``spec.companyId``,
    resourceVersion, 1 without one), or None where these are not plain values."""
    spec = obj.get("spec") or {}
    tenant, company = spec.get("tenantId"), spec.get("companyId")
    if not (isinstance(tenant, str) and isinstance(company, str)):
        return None
    version_text = obj["metadata"].get("resourceVersion")
    if not version_text:
        version = 1
    elif isinstance(version_text, str) and version_text.isascii() and version_text.isdigit():
        version = int(version_text)
    else:
        return None
    name = obj["metadata"]["name"]
    return JobStamp(id=name, tenant_id=tenant, company_id=company, version=version)


def company_of(obj: Resource) -> str:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    company = annotations.get(ANNOTATION_COMPANY) or obj.get("spec", {}).get("companyId", "")
    return str(company)


def tenant_of(obj: Resource) -> str:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    tenant = annotations.get(ANNOTATION_TENANT) or obj.get("spec", {}).get("tenantId", "")
    return str(tenant)


def _version(obj: Resource) -> int:
    """resourceVersions are opaque to clients by contract, but every API server backed by
    etcd issues increasing integers; comparing them only keeps a create's response from
    overwriting a newer watch event, and an unexpected format compares as 0 (always store)."""
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0
