"""``ObjectMeta`` rules: which fields the server owns, names, labels and timestamps.

Clients may set names, labels, annotations, finalizers and owner references; the server
owns ``uid``, ``resourceVersion``, ``generation``, ``creationTimestamp`` and the deletion
fields, and ignores client values for them. Invalid names and labels are 422s.
See https://kubernetes.io/docs/concepts/overview/working-with-objects/names/ and
https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from typing import Any

from .errors import cause

JsonObject = dict[str, Any]
SYSTEM_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
)
OBJECT_META_FIELDS = frozenset(
    {"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences"}
    | set(SYSTEM_FIELDS)
)
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' generated suffixes


def now() -> str:
    """RFC 3339 in UTC with second precision, the format of ``metav1.Time``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generated_name(prefix: str) -> str:
    return prefix + "".join(random.choice(_NAME_CHARS) for _ in range(5))


def client_metadata(metadata: JsonObject) -> JsonObject:
    """The part of ``metadata`` a client may write: unknown and system fields dropped."""
    return {
        k: v
        for k, v in metadata.items()
        if k in OBJECT_META_FIELDS and k not in SYSTEM_FIELDS and v is not None
    }


def metadata_causes(metadata: JsonObject, label_name: bool) -> list[JsonObject]:
    """422 causes for an invalid name, label key or label value; ``label_name`` asks for
    the stricter RFC 1123 label that namespace names must be."""
    found = []
    name = metadata.get("name", "")
    if not name:
        found.append(
            cause(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        )
    elif len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        rule = "a lowercase RFC 1123 subdomain must consist of lower case alphanumerics, '-' or '.'"
        found.append(
            cause("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {rule}')
        )
    elif label_name and (len(name) > 63 or "." in name):
        rule = (
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"
        )
        found.append(
            cause("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {rule}')
        )
    for key, value in (metadata.get("labels") or {}).items():
        found.extend(_label_causes(str(key), value))
    return found


def _label_causes(key: str, value: Any) -> list[JsonObject]:
    found = []
    prefix, _, name = key.rpartition("/")
    if (
        (prefix and not _SUBDOMAIN.fullmatch(prefix))
        or len(name) > 63
        or not _LABEL_NAME.fullmatch(name)
    ):
        found.append(
            cause(
                "FieldValueInvalid",
                "metadata.labels",
                f'Invalid value: "{key}": name part must be a valid label name',
            )
        )
    if (
        not isinstance(value, str)
        or len(value) > 63
        or (value and not _LABEL_NAME.fullmatch(value))
    ):
        found.append(
            cause(
                "FieldValueInvalid",
                "metadata.labels",
                f'Invalid value: "{value}": a valid label must be an empty string or consist '
                "of alphanumeric characters, '-', '_' or '.'",
            )
        )
    return found
