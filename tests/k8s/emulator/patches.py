"""The three patch formats the API server accepts on JSON objects.

* JSON merge patch (RFC 7386): objects merge, ``null`` deletes, lists are replaced whole.
  kopf uses it for every handler patch.
* JSON patch (RFC 6902): a list of operations; a failed ``test`` is a 422, which kopf
  relies on for optimistic concurrency when it edits finalizers.
* Strategic merge patch (built-in kinds only): a merge patch whose lists of objects merge
  by a key (containers by ``name``, conditions by ``type``), with ``$patch: delete`` and
  ``$patch: replace`` directives. An approximation of the Go implementation: the merge
  keys come from a table of field names instead of the Go struct tags.
See https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply and
https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, bad_request

JsonObject = dict[str, Any]

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "ports": "containerPort",
    "conditions": "type",
    "ownerReferences": "uid",
}
SET_LISTS = {"finalizers"}  # patchStrategy "merge" on a list of strings: a union


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 applied to a copy of ``target``."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch applied to a copy of ``target`` (see the module docstring)."""
    if isinstance(patch, list):
        return _merge_list(target if isinstance(target, list) else [], patch, field)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _merge_list(target: list[Any], patch: list[Any], field: str) -> list[Any]:
    if field in SET_LISTS:
        return [*target, *(item for item in patch if item not in target)]
    key = MERGE_KEYS.get(field)
    if not key or not all(isinstance(item, dict) for item in [*target, *patch]):
        return [item for item in copy.deepcopy(patch) if item != {"$patch": "replace"}]
    result = copy.deepcopy(target)
    for item in patch:
        index = next((i for i, old in enumerate(result) if old.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge_patch({}, item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _unprocessable(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part)
    return node, parts[-1]


def _child(node: Any, part: str) -> Any:
    try:
        return node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise _unprocessable(f"path segment {part!r} not found") from None


def _get(doc: Any, path: str) -> Any:
    node = doc
    for part in _pointer(path):
        node = _child(node, part)
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if not 0 <= index <= len(parent):
            raise _unprocessable(f"index {last} out of range in {path!r}")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise _unprocessable(f"cannot add at {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, _pointer(path))
    _child(parent, last)  # 422 when absent, as RFC 6902 requires
    if isinstance(parent, list):
        del parent[int(last)]
    else:
        del parent[last]
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 applied to a copy of ``target``; any failed operation is a 422."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            value = copy.deepcopy(op.get("value"))
            doc = _add(_remove(doc, path), path, value) if path else value
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, op["from"]))
            if kind == "move":
                doc = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _unprocessable(
                    f"the server rejected our request due to an error in our "
                    f"request: test failed at {path!r}"
                )
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    return doc
