"""Structural-schema semantics of custom resources: pruning, defaulting, validation.

The API server stores only what a CRD's ``openAPIV3Schema`` declares (unknown fields are
pruned unless ``x-kubernetes-preserve-unknown-fields: true``), drops ``null`` where the
schema is not ``nullable``, fills ``default:`` values, and refuses invalid objects with
422 and one cause per field. kopf's pitfall of undeclared status fields vanishing (#321)
only shows up against a server that prunes, so this one does.
See https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema

JsonObject = dict[str, Any]
ROOT_KEYS = ("apiVersion", "kind", "metadata")
PRESERVE = "x-kubernetes-preserve-unknown-fields"


class StructuralSchema:
    """The ``openAPIV3Schema`` of one CRD version, applied to whole objects."""

    def __init__(self, openapi: JsonObject) -> None:
        self.openapi = openapi
        self._validator = jsonschema.Draft4Validator(_to_json_schema(openapi))

    def prune(self, obj: JsonObject) -> JsonObject:
        """A copy of ``obj`` with unknown fields and non-nullable nulls gone, defaults set."""
        body = {k: v for k, v in obj.items() if k not in ROOT_KEYS}
        pruned = _prune(copy.deepcopy(body), self.openapi)
        roots = {k: copy.deepcopy(obj[k]) for k in ROOT_KEYS if k in obj}
        return {**roots, **pruned}

    def causes(self, obj: JsonObject) -> list[JsonObject]:
        """Validation failures as ``Status`` causes (empty when the object is valid)."""
        body = {k: v for k, v in obj.items() if k != "metadata"}
        errors = sorted(self._validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        found = [_cause(error) for error in errors]
        found.extend(_duplicate_causes(body, self.openapi, ""))
        return found


def _prune(value: Any, schema: JsonObject | None) -> Any:
    if schema is None:
        return value
    if isinstance(value, list):
        items = schema.get("items")
        return [_prune(item, items if isinstance(items, dict) else None) for item in value]
    if not isinstance(value, dict):
        return value
    properties: JsonObject = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    keep_unknown = bool(schema.get(PRESERVE)) or additional is True
    if schema.get("x-kubernetes-embedded-resource"):
        properties = {**{key: {PRESERVE: True} for key in ROOT_KEYS}, **properties}
    result: JsonObject = {}
    for key, item in value.items():
        sub = properties.get(key) or (additional if isinstance(additional, dict) else None)
        if sub is None and not keep_unknown:
            continue  # pruned: the schema does not declare this field
        if item is None and sub is not None and not sub.get("nullable"):
            continue  # apiextensions.k8s.io/v1 drops nulls the schema does not allow
        result[key] = _prune(item, sub)
    for key, sub in properties.items():
        if key not in result and "default" in sub:
            result[key] = _prune(copy.deepcopy(sub["default"]), sub)
    return result


def _to_json_schema(node: Any) -> Any:
    """OpenAPI v3 as JSON Schema draft 4: ``nullable`` and int-or-string made explicit."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: JsonObject = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _to_json_schema(value)
        elif key != "default" and not key.startswith("x-kubernetes-"):
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("allOf", []).append({"anyOf": [{"type": "integer"}, {"type": "string"}]})
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def field_path(parts: Any) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _cause(error: jsonschema.ValidationError) -> JsonObject:
    where = field_path(error.absolute_path)
    shown = json.dumps(error.instance)
    if error.validator == "required":
        missing = [p for p in error.validator_value if p not in error.instance]
        name = f"{where}.{missing[0]}" if where else missing[0]
        return {"reason": "FieldValueRequired", "field": name, "message": "Required value"}
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value)
        message = f"Unsupported value: {shown}: supported values: {allowed}"
        return {"reason": "FieldValueNotSupported", "field": where, "message": message}
    if error.validator == "type":
        message = f"Invalid value: {shown}: {where} in body must be of type {error.validator_value}"
        return {"reason": "FieldValueTypeInvalid", "field": where, "message": message}
    explanation = {
        "minimum": f"should be greater than or equal to {error.validator_value}",
        "maximum": f"should be less than or equal to {error.validator_value}",
        "minLength": f"should be at least {error.validator_value} chars long",
        "maxLength": f"may not be longer than {error.validator_value}",
        "pattern": f"should match '{error.validator_value}'",
    }.get(str(error.validator))
    detail = f"{where} in body {explanation}" if explanation else error.message
    return {
        "reason": "FieldValueInvalid",
        "field": where,
        "message": f"Invalid value: {shown}: {detail}",
    }


def _duplicate_causes(value: Any, schema: JsonObject | None, path: str) -> list[JsonObject]:
    """``x-kubernetes-list-type: map|set`` forbids two items with the same key."""
    if schema is None:
        return []
    found: list[JsonObject] = []
    if isinstance(value, list):
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: list[Any] = []
        for index, item in enumerate(value):
            here = f"{path}[{index}]"
            identity = (
                {k: item.get(k) for k in keys}
                if list_type == "map" and isinstance(item, dict)
                else item
            )
            if list_type in ("map", "set") and identity in seen:
                message = f"Duplicate value: {json.dumps(identity)}"
                found.append({"reason": "FieldValueDuplicate", "field": here, "message": message})
            seen.append(identity)
            found.extend(_duplicate_causes(item, schema.get("items"), here))
    elif isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key) or (additional if isinstance(additional, dict) else None)
            found.extend(_duplicate_causes(item, sub, f"{path}.{key}" if path else key))
    return found
