"""The store's public face: create, read, update, patch and subscribe, with admission.

Every write goes through the same admission the API server applies before storage:
server-owned metadata is kept, ``status`` and ``spec`` are separated by the status
subresource, ``metadata.generation`` follows spec changes, custom resources are pruned,
defaulted and validated against their CRD, and a stale ``resourceVersion`` is a 409.
The same methods serve the HTTP layer and in-process test code (a test kubelet uses
:meth:`Store.subscribe` and :meth:`Store.patch_status` without HTTP).
See https://kubernetes.io/docs/reference/using-api/api-concepts/ and
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .defaulting import crd_causes, default_on_create
from .deletion import Deletion, is_deleting
from .errors import ApiError, already_exists, bad_request, cause, conflict, invalid, not_found
from .metadata import client_metadata, generated_name, metadata_causes, now
from .patches import json_patch, merge_patch, strategic_merge_patch
from .resources import ResourceType, types_from_crd
from .selectors import object_predicate
from .state import Change, ChangeCallback, object_key

JsonObject = dict[str, Any]
Objects = list[JsonObject]  # aliases: the ``list`` method shadows the builtin in the class
Types = list[ResourceType]
CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"
PATCHERS: dict[str, Callable[[Any, Any], Any]] = {
    "merge": merge_patch,
    "json": json_patch,
    "strategic": strategic_merge_patch,
}
STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def _spec_of(obj: JsonObject) -> JsonObject:
    """Everything ``metadata.generation`` tracks: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}


class Store(Deletion):
    """All objects of one emulated cluster; thread-safe; returns copies."""

    def __init__(self, history_limit: int = 1000) -> None:
        super().__init__(history_limit)
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create("v1/namespaces", None, {"metadata": {"name": name}})

    # Reads -------------------------------------------------------------------------

    def get(self, resource: str | ResourceType, namespace: str | None, name: str) -> JsonObject:
        """The object, or :class:`ApiError` 404."""
        rtype = self.resolve(resource)
        with self._lock:
            return self.present(rtype, self._require(rtype, namespace, name))

    def list(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[JsonObject]:
        """Matching objects sorted by namespace and name."""
        return self.list_page(resource, namespace, label_selector, field_selector)[0]

    def list_page(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> tuple[Objects, int, str | None]:
        """One page of a list: items, the list's resourceVersion, the continue token."""
        rtype = self.resolve(resource)
        matches = object_predicate(
            label_selector, field_selector, rtype.selectable_fields, namespace
        )
        after: tuple[str, ...] | None = None
        if continue_token:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(continue_token))["start"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("invalid continue token") from None
        with self._lock:
            found = sorted(
                (o for o in self._objects[rtype.group_resource].values() if matches(o)),
                key=object_key,
            )
            if after is not None:
                found = [o for o in found if object_key(o) > after]
            token = None
            if limit and len(found) > limit:
                found = found[:limit]
                start = list(object_key(found[-1]))
                token = base64.urlsafe_b64encode(json.dumps({"start": start}).encode()).decode()
            return [self.present(rtype, o) for o in found], self._rv, token

    # Writes ------------------------------------------------------------------------

    def create(
        self, resource: str | ResourceType, namespace: str | None, body: JsonObject
    ) -> JsonObject:
        """POST: assigns uid, resourceVersion, creationTimestamp (and generation)."""
        rtype = self.resolve(resource)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        self._check_kind(rtype, body)
        metadata = client_metadata(body.get("metadata") or {})
        with self._lock:
            if rtype.namespaced:
                metadata["namespace"] = self._namespace_for(rtype, namespace, metadata)
            else:
                metadata.pop("namespace", None)
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = generated_name(metadata["generateName"])
            metadata.update(uid=str(uuid.uuid4()), creationTimestamp=now())
            if rtype.has_generation:
                metadata["generation"] = 1
            obj = {**copy.deepcopy(body), "apiVersion": rtype.api_version, "kind": rtype.kind}
            obj["metadata"] = metadata
            if rtype.status_subresource:
                obj.pop("status", None)  # a create cannot set status
            default_on_create(rtype, obj)
            obj = self._admit(rtype, obj)
            if self._find(rtype, metadata.get("namespace"), metadata["name"]) is not None:
                raise already_exists(rtype.group_resource, metadata["name"])
            self._commit(rtype, "ADDED", obj, None)
            if rtype.key == CRDS:
                self._sync_crd(obj)
            return self.present(rtype, obj)

    def replace(
        self,
        resource: str | ResourceType,
        namespace: str | None,
        name: str,
        body: JsonObject,
        subresource: str | None = None,
    ) -> JsonObject:
        """PUT: a whole new object; 409 when its resourceVersion is not the current one."""
        rtype = self.resolve(resource)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        self._check_kind(rtype, body)
        metadata = body.get("metadata") or {}
        if metadata.get("name") != name:
            raise bad_request(
                f"the name of the object ({metadata.get('name')}) "
                f"does not match the name on the URL ({name})"
            )
        with self._lock:
            if rtype.namespaced:
                self._namespace_for(rtype, namespace, metadata)
            return self._update(rtype, self._require(rtype, namespace, name), body, subresource)

    def patch(
        self,
        resource: str | ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str = "merge",
        subresource: str | None = None,
    ) -> JsonObject:
        """PATCH with ``patch_type`` merge (RFC 7386), json (RFC 6902) or strategic."""
        rtype = self.resolve(resource)
        if patch_type not in PATCHERS or (patch_type == "strategic" and rtype.custom):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the server does not support {patch_type} patches for {rtype.group_resource}",
            )
        with self._lock:
            current = self._require(rtype, namespace, name)
            candidate = PATCHERS[patch_type](self.present(rtype, current), patch)
            if not isinstance(candidate, dict):
                raise bad_request("the patch did not produce an object")
            return self._update(rtype, current, candidate, subresource)

    def patch_status(
        self, resource: str | ResourceType, namespace: str | None, name: str, status: JsonObject
    ) -> JsonObject:
        """Merge ``status`` into the object's status (through ``/status`` where it exists)."""
        rtype = self.resolve(resource)
        subresource = "status" if rtype.status_subresource else None
        return self.patch(rtype, namespace, name, {"status": status}, "merge", subresource)

    def subscribe(
        self, callback: ChangeCallback, resource: str | ResourceType | None = None
    ) -> Callable[[], None]:
        """Call ``callback(change)`` after every committed change (of ``resource`` only, if
        given); returns the unsubscribe function. Callbacks run synchronously on the
        writing thread while the store is locked: they may call the store again, but must
        not wait for another thread that does. The change holds private copies."""
        group_resource = self.resolve(resource).group_resource if resource is not None else None

        def deliver(change: Change) -> None:
            callback(
                Change(
                    change.type,
                    change.resource,
                    copy.deepcopy(change.object),
                    copy.deepcopy(change.old),
                    change.resource_version,
                )
            )

        return self._subscribe(deliver, group_resource)

    def load_crd(self, path: str | Path) -> Types:
        """Create every CustomResourceDefinition in a YAML file; returns the served types."""
        served = []
        for document in yaml.safe_load_all(Path(path).read_text()):
            if document and document.get("kind") == "CustomResourceDefinition":
                crd = self.create(CRDS, None, document)
                served.extend(types_from_crd(crd))
        return served

    # Admission ---------------------------------------------------------------------

    @staticmethod
    def _check_kind(rtype: ResourceType, body: JsonObject) -> None:
        if body.get("kind") not in (None, rtype.kind):
            raise bad_request(
                f"the kind {body.get('kind')!r} does not match {rtype.group_resource!r}"
            )

    def _namespace_for(
        self, rtype: ResourceType, namespace: str | None, metadata: JsonObject
    ) -> str:
        declared = metadata.get("namespace")
        if namespace and declared and declared != namespace:
            raise bad_request(
                "the namespace of the provided object does not match "
                "the namespace sent on the request"
            )
        chosen = namespace or declared
        if not chosen:
            raise bad_request("a namespace is required for namespaced resources")
        if self._find(self.resolve("v1/namespaces"), None, chosen) is None:
            raise not_found("namespaces", chosen)
        return str(chosen)

    def _update(
        self, rtype: ResourceType, old: JsonObject, candidate: JsonObject, subresource: str | None
    ) -> JsonObject:
        name = old["metadata"]["name"]
        wanted = (candidate.get("metadata") or {}).get("resourceVersion")
        if wanted not in (None, "", old["metadata"]["resourceVersion"]):
            raise conflict(rtype.group_resource, name, STALE)
        if subresource == "status" and rtype.status_subresource:
            new = copy.deepcopy(old)
            new.pop("status", None)
            if candidate.get("status") is not None:
                new["status"] = copy.deepcopy(candidate["status"])
        elif subresource is not None:
            raise not_found(f"{rtype.group_resource}/{subresource}", name)
        else:
            new = self._main_update(rtype, old, candidate)
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        new = self._admit(rtype, new)
        if rtype.has_generation and _spec_of(new) != _spec_of(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        if new == {**old, "apiVersion": rtype.api_version, "kind": rtype.kind}:
            return self.present(rtype, old)  # a no-op write keeps the resourceVersion
        new = self._commit_update(rtype, old, new)
        if rtype.key == CRDS:
            self._sync_crd(new)
        return self.present(rtype, new)

    def _main_update(
        self, rtype: ResourceType, old: JsonObject, candidate: JsonObject
    ) -> JsonObject:
        new = copy.deepcopy(candidate)
        metadata = client_metadata(candidate.get("metadata") or {})
        for field, value in old["metadata"].items():
            if field not in (
                "labels",
                "annotations",
                "finalizers",
                "ownerReferences",
                "generateName",
            ):
                metadata[field] = copy.deepcopy(value)  # server-owned: uid, timestamps, ...
        new["metadata"] = metadata
        if rtype.status_subresource:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        added = set(metadata.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
        if is_deleting(old) and added:
            message = (
                "Forbidden: no new finalizers can be added if the object is being deleted, "
                f"found new finalizers {sorted(added)}"
            )
            raise invalid(
                rtype.kind,
                rtype.group_resource,
                old["metadata"]["name"],
                [cause("FieldValueForbidden", "metadata.finalizers", message)],
            )
        return new

    def _admit(self, rtype: ResourceType, obj: JsonObject) -> JsonObject:
        """Prune and default (custom resources), then refuse invalid objects with 422."""
        if rtype.schema is not None:
            obj = rtype.schema.prune(obj)
        causes = metadata_causes(obj["metadata"], rtype.plural == "namespaces")
        if rtype.schema is not None:
            causes.extend(rtype.schema.causes(obj))
        if rtype.key == CRDS:
            causes.extend(crd_causes(obj))
        if causes:
            raise invalid(rtype.kind, rtype.group_resource, obj["metadata"].get("name", ""), causes)
        return obj

    def _sync_crd(self, crd: JsonObject) -> None:
        """Serve the versions a created or updated CRD declares."""
        if is_deleting(crd):
            return
        for key in [
            k for k, t in self._types.items() if t.group_resource == crd["metadata"]["name"]
        ]:
            del self._types[key]
        for rtype in types_from_crd(crd):
            self._register(rtype)
