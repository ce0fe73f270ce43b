"""The resource types the emulator serves and the discovery documents that list them.

Clients find out what a server offers before they use it: kopf scans ``/api`` and
``/apis`` to learn plurals, scopes and subresources, kubectl does the same to resolve
short names. Built-in types are declared here; custom resources come from a
``CustomResourceDefinition`` (:func:`types_from_crd`), one type per served version, all
versions sharing one storage (conversion strategy ``None``: only ``apiVersion`` changes).
See https://kubernetes.io/docs/reference/using-api/#api-groups and
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .schema import StructuralSchema

JsonObject = dict[str, Any]
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")
OBJECT_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
SERVER_VERSION = {
    "major": "1",
    "minor": "35",
    "gitVersion": "v1.35.0-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.24",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class ResourceType:
    """One servable resource (a group/version/plural) and the semantics it follows."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    has_generation: bool = False
    custom: bool = False
    default_propagation: str = "Background"
    selectable_fields: frozenset[str] = OBJECT_FIELDS
    printer_columns: tuple[JsonObject, ...] = ()
    schema: StructuralSchema | None = field(default=None, compare=False, repr=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The path-like name of the Python-level API: ``batch/v1/jobs``, ``v1/pods``."""
        return f"{self.api_version}/{self.plural}"

    @property
    def group_resource(self) -> str:
        """How error messages name the resource, and the storage key shared by versions."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _builtin(group: str, plural: str, kind: str, **options: Any) -> ResourceType:
    group, _, version = group.rpartition("/")
    return ResourceType(group, version, plural, kind, singular=kind.lower(), **options)


POD_FIELDS = OBJECT_FIELDS | {
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
}
EVENT_FIELDS = (
    OBJECT_FIELDS
    | {
        f"involvedObject.{name}"
        for name in (
            "kind",
            "namespace",
            "name",
            "uid",
            "apiVersion",
            "resourceVersion",
            "fieldPath",
        )
    }
    | {"reason", "reportingComponent", "source", "type"}
)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin(
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        status_subresource=True,
        selectable_fields=OBJECT_FIELDS | {"status.phase"},
    ),
    _builtin(
        "v1",
        "pods",
        "Pod",
        short_names=("po",),
        categories=("all",),
        status_subresource=True,
        has_generation=True,
        selectable_fields=POD_FIELDS,
    ),
    _builtin("v1", "events", "Event", short_names=("ev",), selectable_fields=EVENT_FIELDS),
    _builtin("v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _builtin("v1", "secrets", "Secret", selectable_fields=OBJECT_FIELDS | {"type"}),
    _builtin("v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _builtin(
        "batch/v1",
        "jobs",
        "Job",
        categories=("all",),
        status_subresource=True,
        has_generation=True,
        default_propagation="Orphan",  # batch/v1 keeps its historical default
        selectable_fields=OBJECT_FIELDS | {"status.successful"},
    ),
    _builtin(
        "batch/v1",
        "cronjobs",
        "CronJob",
        short_names=("cj",),
        categories=("all",),
        status_subresource=True,
        has_generation=True,
    ),
    _builtin("coordination.k8s.io/v1", "leases", "Lease"),
    _builtin("events.k8s.io/v1", "events", "Event", short_names=("ev",)),
    _builtin(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        status_subresource=True,
        has_generation=True,
    ),
)


def types_from_crd(crd: JsonObject) -> list[ResourceType]:
    """One :class:`ResourceType` per served version of a ``CustomResourceDefinition``."""
    spec = crd["spec"]
    names = spec["names"]
    types = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        openapi = (version.get("schema") or {}).get("openAPIV3Schema")
        selectable = {item["jsonPath"].lstrip(".") for item in version.get("selectableFields", [])}
        types.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames", ())),
                categories=tuple(names.get("categories", ())),
                status_subresource="status" in (version.get("subresources") or {}),
                has_generation=True,
                custom=True,
                selectable_fields=OBJECT_FIELDS | selectable,
                printer_columns=tuple(version.get("additionalPrinterColumns", ())),
                schema=StructuralSchema(openapi) if openapi else None,
            )
        )
    return types


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version order: GA before beta before alpha, higher numbers first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    stability = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    return (stability, -int(match.group(1)), -int(match.group(3) or 0))


def api_versions_doc(server_address: str) -> JsonObject:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_doc(group: str, types: list[ResourceType]) -> JsonObject:
    versions = sorted({t.version for t in types if t.group == group}, key=version_priority)
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list_doc(types: list[ResourceType]) -> JsonObject:
    groups = sorted({t.group for t in types if t.group})
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group_doc(group, types) for group in groups],
    }


def api_resource_list_doc(group_version: str, types: list[ResourceType]) -> JsonObject:
    resources: list[JsonObject] = []
    for rtype in sorted(types, key=lambda t: t.plural):
        entry: JsonObject = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(ALL_VERBS),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        resources.append(entry)
        if rtype.status_subresource:
            resources.append(
                {
                    "name": f"{rtype.plural}/status",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": list(SUBRESOURCE_VERBS),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
