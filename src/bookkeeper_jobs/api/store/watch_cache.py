"""An in-memory list+watch cache of BookkeepingJob resources, indexed by name and company.

The way client-go's informers work, kept small: list once (remember the list's
resourceVersion), then watch from it with bookmarks; a dropped or timed-out watch resumes
from the last resourceVersion seen; a ``410 Gone`` (the version is too old) re-lists. The
cache is ``synced`` once the first list has landed; readers never call the API server.
See https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

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
)

KEPT_ANNOTATIONS = frozenset(
    {ANNOTATION_COMPANY, ANNOTATION_TENANT, ANNOTATION_FINGERPRINT, ANNOTATION_CREATED}
)

log = logging.getLogger(__name__)

Resource = dict[str, Any]


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
        self._by_name: dict[str, Resource] = {}
        self._by_company: dict[str, set[str]] = defaultdict(set)
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

    def get(self, name: str) -> Resource | None:
        with self._lock:
            return self._by_name.get(name)

    def for_company(self, company_id: str) -> list[Resource]:
        with self._lock:
            return [self._by_name[name] for name in self._by_company.get(company_id, ())]

    def all(self) -> list[Resource]:
        with self._lock:
            return list(self._by_name.values())

    # -- writing ---------------------------------------------------------------------------

    def upsert(self, obj: Resource) -> None:
        """Store ``obj`` unless the cache already holds a newer version of it."""
        obj = essentials(obj)
        name = obj["metadata"]["name"]
        with self._lock:
            current = self._by_name.get(name)
            if current is not None and _version(current) > _version(obj):
                return
            self._by_name[name] = obj
            self._by_company[company_of(obj)].add(name)

    def remove(self, obj: Resource) -> None:
        name = obj["metadata"]["name"]
        with self._lock:
            self._by_name.pop(name, None)
            self._by_company[company_of(obj)].discard(name)

    def replace_all(self, items: list[Resource], resource_version: str) -> None:
        items = [essentials(item) for item in items]
        with self._lock:
            self._by_name = {item["metadata"]["name"]: item for item in items}
            self._by_company = defaultdict(set)
            for name, item in self._by_name.items():
                self._by_company[company_of(item)].add(name)
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
        self.relists += 1
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
        if kind == "ERROR":
            # A 410 Expired travels as an ERROR event carrying a Status in a 200 stream.
            raise api_error(int(obj.get("code") or 0), json.dumps(obj), str(obj.get("reason", "")))
        if kind == "ADDED" or kind == "MODIFIED":
            self.upsert(obj)
        elif kind == "DELETED":
            self.remove(obj)
        version = obj.get("metadata", {}).get("resourceVersion")
        if version:
            self._resource_version = version


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
