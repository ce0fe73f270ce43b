"""The emulator's storage: objects, the global resourceVersion, change history, watchers.

Everything is guarded by one re-entrant lock so the HTTP server (its own thread) and
in-process test code (the test thread, a test kubelet) can share the store. Stored
objects are never mutated: every write commits a new dict, so a :class:`Change` handed
to a watcher stays a faithful snapshot.

``resourceVersion`` is one counter for the whole store, as etcd's revision is; each
storage (``group_resource``) keeps its last ``history_limit`` changes so watches can
resume from a resourceVersion, and older ones answer 410 Expired.
See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions and
https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, expired, not_found
from .resources import BUILTIN_TYPES, ResourceType, version_priority

JsonObject = dict[str, Any]
ObjectKey = tuple[str, str]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One committed change. ``object`` is the state after it (the last state when
    DELETED), ``old`` the state before; both are read-only snapshots."""

    type: str
    resource: str
    object: JsonObject
    old: JsonObject | None
    resource_version: int


ChangeCallback = Callable[[Change], None]


class ChangeLog:
    """The bounded history of one storage; ``floor`` is the newest version forgotten."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.floor = 0
        self._changes: deque[Change] = deque()

    def append(self, change: Change) -> None:
        self._changes.append(change)
        while len(self._changes) > self.limit:
            self.floor = self._changes.popleft().resource_version

    def since(self, resource_version: int) -> list[Change]:
        if resource_version < self.floor:
            raise expired(resource_version, self.floor + 1)
        return [c for c in self._changes if c.resource_version > resource_version]

    def compact(self, resource_version: int) -> None:
        self._changes.clear()
        self.floor = resource_version


def object_key(obj: JsonObject) -> ObjectKey:
    metadata = obj["metadata"]
    return (metadata.get("namespace") or "", metadata["name"])


class State:
    """Storage primitives; admission and deletion rules live in the subclasses."""

    def __init__(self, history_limit: int = 1000) -> None:
        self._lock = threading.RLock()
        self._history_limit = history_limit
        self._types: dict[str, ResourceType] = {}
        self._objects: dict[str, dict[ObjectKey, JsonObject]] = {}
        self._logs: dict[str, ChangeLog] = {}
        self._subscribers: list[tuple[str | None, ChangeCallback]] = []
        self._rv = 0
        for rtype in BUILTIN_TYPES:
            self._register(rtype)

    # Types -------------------------------------------------------------------------

    def _register(self, rtype: ResourceType) -> None:
        with self._lock:
            self._types[rtype.key] = rtype
            self._objects.setdefault(rtype.group_resource, {})
            self._logs.setdefault(rtype.group_resource, ChangeLog(self._history_limit))

    def _unregister(self, group_resource: str) -> None:
        with self._lock:
            for key in [k for k, t in self._types.items() if t.group_resource == group_resource]:
                del self._types[key]
            self._objects.pop(group_resource, None)
            self._logs.pop(group_resource, None)

    def types(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def type_for(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get(f"{group}/{version}/{plural}".lstrip("/"))

    def resolve(self, resource: str | ResourceType) -> ResourceType:
        """``batch/v1/jobs``, ``v1/pods``, ``jobs.batch`` or a plural/kind/short name."""
        if isinstance(resource, ResourceType):
            return resource
        with self._lock:
            if resource in self._types:
                return self._types[resource]
            plural, _, group = resource.partition(".")
            found = [
                t
                for t in self._types.values()
                if resource in (t.plural, t.kind, t.group_resource, *t.short_names)
                or (group and (t.plural, t.group) == (plural, group))
            ]
            found.sort(key=lambda t: (t.group != "", version_priority(t.version)))
            if not found:
                raise ApiError(
                    404, "NotFound", f"the server doesn't have a resource type {resource!r}"
                )
            return found[0]

    def _storage_type(self, group_resource: str) -> ResourceType:
        return min(
            (t for t in self._types.values() if t.group_resource == group_resource),
            key=lambda t: version_priority(t.version),
        )

    # Reads -------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The store's current resourceVersion (the last one assigned)."""
        return self._rv

    def _find(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObject | None:
        return self._objects[rtype.group_resource].get((namespace or "", name))

    def _require(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObject:
        obj = self._find(rtype, namespace, name)
        if obj is None:
            raise not_found(rtype.group_resource, name)
        return obj

    def _all_objects(self) -> list[tuple[ResourceType, JsonObject]]:
        return [
            (self._storage_type(gr), obj)
            for gr, objects in self._objects.items()
            for obj in objects.values()
        ]

    @staticmethod
    def present(rtype: ResourceType, obj: JsonObject) -> JsonObject:
        """A caller's copy, labelled with the apiVersion it was asked through."""
        result = copy.deepcopy(obj)
        result["apiVersion"] = rtype.api_version
        result["kind"] = rtype.kind
        return result

    # Writes ------------------------------------------------------------------------

    def _commit(
        self, rtype: ResourceType, kind: str, obj: JsonObject, old: JsonObject | None
    ) -> JsonObject:
        """Store ``obj`` (or forget it, for DELETED) under a new resourceVersion."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        objects = self._objects[rtype.group_resource]
        if kind == "DELETED":
            objects.pop(object_key(obj), None)
        else:
            objects[object_key(obj)] = obj
        change = Change(kind, rtype.group_resource, obj, old, self._rv)
        self._logs[rtype.group_resource].append(change)
        for resource, callback in list(self._subscribers):
            if resource in (None, rtype.group_resource):
                try:
                    callback(change)
                except Exception:
                    logger.exception("A change subscriber failed on %s", change.type)
        return obj

    # Watching ----------------------------------------------------------------------

    def _subscribe(
        self, callback: ChangeCallback, group_resource: str | None
    ) -> Callable[[], None]:
        entry = (group_resource, callback)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe

    def open_watch(
        self, resource: str | ResourceType, since: int | None, callback: ChangeCallback
    ) -> tuple[list[Change], int, Callable[[], None]]:
        """Atomically: the changes a new watch starts with, the version they reach, and a
        subscription for what follows. ``since=None`` gives synthetic ADDED events for the
        current objects; a version older than the history raises 410 Expired."""
        rtype = self.resolve(resource)
        with self._lock:
            gr = rtype.group_resource
            if since is None:
                objects = sorted(self._objects[gr].values(), key=object_key)
                initial = [
                    Change("ADDED", gr, o, None, int(o["metadata"]["resourceVersion"]))
                    for o in objects
                ]
            else:
                initial = self._logs[gr].since(since)
            return initial, self._rv, self._subscribe(callback, gr)

    def compact(self) -> int:
        """Forget all history, as etcd compaction does: older watches now get 410."""
        with self._lock:
            for log in self._logs.values():
                log.compact(self._rv)
            return self._rv
