"""Manifest builders for the emulator's tests: small, valid objects with overrides."""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
GROUP, VERSION, PLURAL = "example.test", "v1", "widgets"
WIDGETS = f"{GROUP}/{VERSION}/{PLURAL}"


def widget(
    name: str, size: int = 1, labels: dict[str, str] | None = None, **spec: Any
) -> JsonObject:
    metadata: JsonObject = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": metadata,
        "spec": {"size": size, **spec},
    }


def job(name: str, labels: dict[str, str] | None = None) -> JsonObject:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox"}],
                }
            }
        },
    }


def pod(name: str, owner: JsonObject | None = None, block: bool = True) -> JsonObject:
    metadata: JsonObject = {"name": name}
    if owner is not None:
        metadata["ownerReferences"] = [owner_reference(owner, block)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


def owner_reference(owner: JsonObject, block: bool = True) -> JsonObject:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": block,
    }
