"""What the API server fills in on create for built-in kinds the project uses.

Only the defaults a controller or a test kubelet would read: a Job's parallelism,
completions, backoffLimit and the ``controller-uid`` selector and pod-template labels
(the Job controller finds its pods by them), a new Pod's ``Pending`` phase, and a
CRD's ``Established`` status. Everything else is stored as sent.
See https://kubernetes.io/docs/concepts/workloads/controllers/job/ and
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#create-a-customresourcedefinition
"""

from __future__ import annotations

from typing import Any

from .errors import cause
from .metadata import now
from .resources import ResourceType

JsonObject = dict[str, Any]


def default_on_create(rtype: ResourceType, obj: JsonObject) -> None:
    """Fill server defaults into a new object, in place."""
    if rtype.custom:
        return
    if (rtype.group, rtype.plural) == ("batch", "jobs"):
        _default_job(obj)
    elif (rtype.group, rtype.plural) == ("", "pods"):
        obj["status"] = {"phase": "Pending"}
        obj.setdefault("spec", {}).setdefault("restartPolicy", "Always")
    elif (rtype.group, rtype.plural) == ("", "namespaces"):
        obj["status"] = {"phase": "Active"}
    elif rtype.plural == "customresourcedefinitions":
        obj["status"] = crd_status(obj)


def _default_job(job: JsonObject) -> None:
    spec = job.setdefault("spec", {})
    uid = job["metadata"]["uid"]
    for key, value in (
        ("parallelism", 1),
        ("completions", 1),
        ("backoffLimit", 6),
        ("completionMode", "NonIndexed"),
        ("suspend", False),
    ):
        spec.setdefault(key, value)
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    labels = template_meta.setdefault("labels", {})
    for prefix in ("batch.kubernetes.io/", ""):
        labels[f"{prefix}controller-uid"] = uid
        labels[f"{prefix}job-name"] = job["metadata"]["name"]


def crd_status(crd: JsonObject) -> JsonObject:
    spec = crd.get("spec", {})
    stamp = now()
    return {
        "acceptedNames": spec.get("names", {}),
        "conditions": [
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": "",
                "lastTransitionTime": stamp,
            }
            for kind, reason in (
                ("NamesAccepted", "NoConflicts"),
                ("Established", "InitialNamesAccepted"),
            )
        ],
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
    }


def crd_causes(crd: JsonObject) -> list[JsonObject]:
    """The checks that keep a CRD servable: its name is ``<plural>.<group>``."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    found = []
    for field in ("group", "names.plural", "names.kind", "versions"):
        head, _, tail = field.partition(".")
        value = (spec.get(head) or {}).get(tail) if tail else spec.get(head)
        if not value:
            found.append(cause("FieldValueRequired", f"spec.{field}", "Required value"))
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if crd.get("metadata", {}).get("name") != expected:
        found.append(
            cause(
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: must be spec.names.plural+"."+spec.group ({expected})',
            )
        )
    return found
