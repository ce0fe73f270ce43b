"""Deletion: finalizers, ``deletionTimestamp`` and owner-reference garbage collection.

* An object with finalizers is not removed by DELETE: it gets ``deletionTimestamp`` and
  stays until an update removes its last finalizer; no finalizer may be added meanwhile.
* When an object goes, dependents whose ``ownerReferences`` name its uid go too
  (``Background``, the default; ``Orphan``, batch/v1's default, strips the references
  instead). ``Foreground`` marks the owner with the ``foregroundDeletion`` finalizer,
  deletes the dependents, and removes the owner once no dependent with
  ``blockOwnerDeletion: true`` is left. The real garbage collector does this
  asynchronously; here it happens within the request, which only makes it faster.
* Deleting a namespace deletes what is in it; deleting a CRD deletes its objects.
See https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/ and
https://kubernetes.io/docs/concepts/architecture/garbage-collection/
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import bad_request, conflict
from .metadata import now
from .resources import ResourceType
from .state import State

JsonObject = dict[str, Any]
FOREGROUND = "foregroundDeletion"
POLICIES = ("Background", "Foreground", "Orphan")


def is_deleting(obj: JsonObject) -> bool:
    return "deletionTimestamp" in obj["metadata"]


class Deletion(State):
    """The deletion half of the store's write path."""

    def delete(
        self,
        resource: str | ResourceType,
        namespace: str | None,
        name: str,
        propagation_policy: str | None = None,
        preconditions: JsonObject | None = None,
    ) -> tuple[JsonObject, bool]:
        """Delete or mark for deletion; returns the object's last state and whether it is
        gone already (False while finalizers hold it)."""
        rtype = self.resolve(resource)
        with self._lock:
            obj = self._require(rtype, namespace, name)
            for field in ("uid", "resourceVersion"):
                wanted = (preconditions or {}).get(field)
                if wanted is not None and wanted != obj["metadata"].get(field):
                    actual = obj["metadata"].get(field)
                    raise conflict(
                        rtype.group_resource,
                        name,
                        f"Precondition failed: {field} in precondition: {wanted}, "
                        f"{field} in object meta: {actual}",
                    )
            policy = propagation_policy or rtype.default_propagation
            if policy not in POLICIES:
                raise bad_request(f"unsupported propagationPolicy {policy!r}")
            last = self._delete_object(rtype, obj, policy)
            gone = self._find(rtype, namespace, name) is None
            return self.present(rtype, last), gone

    def _delete_object(self, rtype: ResourceType, stale: JsonObject, policy: str) -> JsonObject:
        obj = self._current(rtype, stale)
        if obj is None or is_deleting(obj):
            return obj or stale
        uid = obj["metadata"]["uid"]
        if policy == "Orphan":
            self._orphan_dependents(uid)
        dependents = self._dependents(uid)
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if policy == "Foreground" and dependents:
            marked = self._mark_deleting(rtype, obj, [*finalizers, FOREGROUND])
            for dep_type, dep in dependents:
                self._delete_object(dep_type, dep, "Foreground")
            self._release_foreground(uid)
            return (
                self._find(rtype, marked["metadata"].get("namespace"), marked["metadata"]["name"])
                or marked
            )
        if finalizers:
            return self._mark_deleting(rtype, obj, finalizers)
        return self._remove(rtype, obj)

    def _mark_deleting(
        self, rtype: ResourceType, obj: JsonObject, finalizers: list[str]
    ) -> JsonObject:
        marked = copy.deepcopy(obj)
        marked["metadata"].update(
            deletionTimestamp=now(), deletionGracePeriodSeconds=0, finalizers=finalizers
        )
        return self._commit(rtype, "MODIFIED", marked, obj)

    def _remove(
        self, rtype: ResourceType, obj: JsonObject, old: JsonObject | None = None
    ) -> JsonObject:
        """Forget ``obj`` for good, then collect what depended on it."""
        last = self._commit(rtype, "DELETED", copy.deepcopy(obj), old or obj)
        uid = last["metadata"]["uid"]
        for dep_type, dep in self._dependents(uid):
            if not any(
                self._by_uid(ref["uid"])
                for ref in dep["metadata"]["ownerReferences"]
                if ref["uid"] != uid
            ):
                self._delete_object(dep_type, dep, "Background")
        for ref in last["metadata"].get("ownerReferences") or []:
            self._release_foreground(ref["uid"])
        if (rtype.group, rtype.plural) == ("", "namespaces"):
            self._empty_namespace(last["metadata"]["name"])
        if rtype.plural == "customresourcedefinitions":
            self._drop_crd(last)
        return last

    def _commit_update(self, rtype: ResourceType, old: JsonObject, new: JsonObject) -> JsonObject:
        """Commit an update; one that removes the last finalizer of a deleting object
        deletes it instead: watchers see DELETED and no MODIFIED, as on a real server."""
        if is_deleting(new) and not new["metadata"].get("finalizers"):
            return self._remove(rtype, new, old)
        return self._commit(rtype, "MODIFIED", new, old)

    def _release_foreground(self, owner_uid: str) -> None:
        found = self._by_uid(owner_uid)
        if found is None:
            return
        rtype, owner = found
        finalizers = owner["metadata"].get("finalizers") or []
        if FOREGROUND not in finalizers:
            return
        blocking = [
            dep
            for _, dep in self._dependents(owner_uid)
            if any(
                r["uid"] == owner_uid and r.get("blockOwnerDeletion")
                for r in dep["metadata"]["ownerReferences"]
            )
        ]
        if blocking:
            return
        released = copy.deepcopy(owner)
        released["metadata"]["finalizers"] = [f for f in finalizers if f != FOREGROUND]
        if not released["metadata"]["finalizers"]:
            del released["metadata"]["finalizers"]
        self._commit_update(rtype, owner, released)

    def _orphan_dependents(self, owner_uid: str) -> None:
        for dep_type, dep in self._dependents(owner_uid):
            orphan = copy.deepcopy(dep)
            refs = [r for r in dep["metadata"]["ownerReferences"] if r["uid"] != owner_uid]
            if refs:
                orphan["metadata"]["ownerReferences"] = refs
            else:
                del orphan["metadata"]["ownerReferences"]
            self._commit(dep_type, "MODIFIED", orphan, dep)

    def _current(self, rtype: ResourceType, obj: JsonObject) -> JsonObject | None:
        """The stored version of ``obj`` now (None if it is gone or was recreated)."""
        metadata = obj["metadata"]
        found = self._find(rtype, metadata.get("namespace"), metadata["name"])
        return found if found and found["metadata"]["uid"] == metadata["uid"] else None

    def _dependents(self, owner_uid: str) -> list[tuple[ResourceType, JsonObject]]:
        return [
            (rtype, obj)
            for rtype, obj in self._all_objects()
            if any(
                ref.get("uid") == owner_uid for ref in obj["metadata"].get("ownerReferences") or []
            )
        ]

    def _by_uid(self, uid: str) -> tuple[ResourceType, JsonObject] | None:
        return next(((t, o) for t, o in self._all_objects() if o["metadata"]["uid"] == uid), None)

    def _empty_namespace(self, namespace: str) -> None:
        for rtype, obj in self._all_objects():
            if rtype.namespaced and obj["metadata"].get("namespace") == namespace:
                self._delete_object(rtype, obj, "Background")

    def _drop_crd(self, crd: JsonObject) -> None:
        group_resource = crd["metadata"]["name"]
        if group_resource not in self._objects:
            return
        rtype = self._storage_type(group_resource)
        for obj in list(self._objects[group_resource].values()):
            self._commit(rtype, "DELETED", copy.deepcopy(obj), obj)
        self._unregister(group_resource)
