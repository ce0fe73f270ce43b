"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;...`` and prints whatever columns the
server returns; for custom resources those are the CRD's ``additionalPrinterColumns``
(Name first, Age by default when none are declared). Only simple JSONPath is evaluated:
dotted fields, list indexes and ``[?(@.key=="value")]`` filters.
See https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables
and https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#additional-printer-columns
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType

JsonObject = dict[str, Any]
AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_STEP = re.compile(
    r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
)


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def evaluate(obj: Any, path: str) -> Any:
    """A small JSONPath subset; None when any step is missing."""
    value = obj
    for field, index, key, wanted in _STEP.findall(path):
        if field:
            value = value.get(field) if isinstance(value, dict) else None
        elif index:
            value = (
                value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
            )
        else:
            matches = [
                i
                for i in value or []
                if isinstance(i, dict) and str(evaluate(i, f".{key}")) == wanted
            ]
            value = matches[0] if matches else None
        if value is None:
            return None
    return value


def cell(item: JsonObject, column: JsonObject) -> Any:
    """A column's value; ``date`` columns become an age such as ``42s`` or ``3h``, as the
    apiextensions server's table convertor prints them."""
    value = evaluate(item, column["jsonPath"])
    if column.get("type") != "date" or not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return human_age((datetime.now(UTC) - moment).total_seconds())


def human_age(seconds: float) -> str:
    """Like Kubernetes' ``duration.HumanDuration`` at its coarsest steps."""
    for unit, size, limit in (("s", 1, 120), ("m", 60, 120), ("h", 3600, 48), ("d", 86400, 730)):
        if seconds < size * limit:
            return f"{max(0, int(seconds // size))}{unit}"
    return f"{int(seconds // (365 * 86400))}y"


def as_table(rtype: ResourceType, items: list[JsonObject], metadata: JsonObject) -> JsonObject:
    columns = list(rtype.printer_columns) or [AGE]
    definitions = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    ]
    definitions += [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": c.get("priority", 0),
        }
        for c in columns
    ]
    rows = [
        {
            "cells": [item["metadata"]["name"], *(cell(item, c) for c in columns)],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item["metadata"],
            },
        }
        for item in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    }
