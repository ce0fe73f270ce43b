"""The ``BookkeepingJob`` CustomResourceDefinition, generated from the models in ``resource.py``
and the registered job types (``spec.type``'s enum, ``spec.parameters``' schema, and a CEL
rule per type that its required fields are there).

pydantic's JSON schema is not a Kubernetes *structural* schema, so :func:`structural` rewrites
it: ``$ref`` inlined, ``anyOf [X, null]`` → X with ``nullable: true``, titles and
``additionalProperties: false`` dropped (pruning already removes unknown fields), free-form
objects marked ``x-kubernetes-preserve-unknown-fields``, ``default: null`` dropped.

Regenerate the committed YAML with ``make crds`` (``python -m bookkeeper_jobs.crd``, which
also registers the job types of ``BKJOBS_JOB_TYPE_MODULES``).
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml
from pydantic.alias_generators import to_camel

from bookkeeper_jobs.jobs import JobSpecBase, JobTypeInfo, job_types, load_job_type_modules
from bookkeeper_jobs.resource import (
    CATEGORIES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    BookkeepingJob,
)

Schema = dict[str, Any]

HEADER = (
    "# Generated from src/bookkeeper_jobs/resource.py by `make crds`.\n"
    "# Do not edit: tests/unit/test_crd.py fails when this file and the models differ.\n"
)

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
    {"name": "Company", "type": "string", "jsonPath": ".spec.companyId"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Progress", "type": "integer", "jsonPath": ".status.progress"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
]

# Keys of a pydantic schema node that have no place in a CRD schema.
_DROPPED = frozenset({"title", "additionalProperties", "$defs", "discriminator"})


def _resolve(ref: str, defs: dict[str, Schema]) -> Schema:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise ValueError(f"unsupported $ref {ref!r}")
    return defs[ref[len(prefix) :]]


def _without_null(node: Schema) -> tuple[Schema, bool]:
    """``anyOf [X, {type: null}]`` → (X merged with the node's other keys, nullable)."""
    options = node.get("anyOf")
    if options is None:
        return node, False
    rest = [option for option in options if option != {"type": "null"}]
    if len(rest) != 1:
        raise ValueError(f"only `X | None` unions can become structural: {options!r}")
    merged = {key: value for key, value in node.items() if key != "anyOf"}
    return {**rest[0], **merged}, len(rest) != len(options)


def structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    """One pydantic schema node (and everything below it) as a structural CRD schema node."""
    node, nullable = _without_null(node)
    if "$ref" in node:
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        node = {**_resolve(node["$ref"], defs), **siblings}
        node, inner_nullable = _without_null(node)
        nullable = nullable or inner_nullable
    if node.get("additionalProperties") is True and "properties" not in node:
        node = {**node, "x-kubernetes-preserve-unknown-fields": True}
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "default" and value is None):
            continue
        if key == "properties":
            out[key] = {name: structural(child, defs) for name, child in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key in ("anyOf", "oneOf", "allOf", "not", "const"):
            raise ValueError(f"{key} cannot appear in a structural schema here: {node!r}")
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = copy.deepcopy(value)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if nullable:
        out["nullable"] = True
    return dict(sorted(out.items(), key=_key_rank))


# Readable key order in the YAML: what a node is first, then its limits, then its children.
_KEY_ORDER = (
    "type", "format", "description", "nullable", "default", "enum", "minimum",
    "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
    "minItems", "maxItems", "required", "properties", "items",
)  # fmt: skip


def _key_rank(item: tuple[str, Any]) -> tuple[int, str]:
    key = item[0]
    return (_KEY_ORDER.index(key), "") if key in _KEY_ORDER else (len(_KEY_ORDER), key)


def open_api_schema() -> Schema:
    """The version's ``openAPIV3Schema``: apiVersion, kind, metadata, spec, status."""
    pydantic_schema = BookkeepingJob.model_json_schema(by_alias=True)
    resource = structural(pydantic_schema, pydantic_schema.get("$defs", {}))
    resource.pop("description", None)
    properties = resource["properties"]
    return {
        "type": "object",
        "description": "A background bookkeeping job: what was asked and what happened.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": with_job_types(properties["spec"], job_types()),
            "status": properties["status"],
        },
    }


def with_job_types(spec: Schema, infos: list[JobTypeInfo]) -> Schema:
    """The resource's ``spec`` schema with what the job type registry decides."""
    out = copy.deepcopy(spec)
    out["properties"]["type"]["enum"] = [info.name for info in infos]
    out["properties"]["parameters"] = parameters_schema(infos)
    rules = [rule for info in infos if (rule := required_parameters_rule(info))]
    return {**out, "x-kubernetes-validations": rules}


def parameters_schema(infos: list[JobTypeInfo]) -> Schema:
    """Every job type's own spec fields, camelCase. A field two types share keeps only the
    limits both put on it (the per-type rules below say what each type requires), and no
    defaults: the API server would write them into every type's parameters."""
    fields: dict[str, Schema] = {}
    described: dict[str, list[str]] = {}
    for info in infos:
        model = info.spec.model_json_schema()
        for name, node in model["properties"].items():
            if name in JobSpecBase.model_fields:
                continue
            field = structural(node, model.get("$defs", {}))
            field.pop("default", None)
            text = field.pop("description", "")
            key = to_camel(name)
            fields[key] = _common(fields[key], field) if key in fields else field
            described.setdefault(key, []).append(f"{info.name}: {text}" if text else info.name)
    properties = {
        key: dict(sorted({**node, "description": "; ".join(described[key])}.items(), key=_key_rank))
        for key, node in fields.items()
    }
    return {
        "type": "object",
        "description": "The job type's own fields (its spec, in camelCase).",
        "properties": properties,
    }


def _common(first: Schema, second: Schema) -> Schema:
    return {key: value for key, value in first.items() if second.get(key) == value}


def required_parameters_rule(info: JobTypeInfo) -> dict[str, str] | None:
    """A CEL rule: a resource of this type has each of its required fields."""
    required = [
        to_camel(name)
        for name, field in info.spec.model_fields.items()
        if field.is_required() and name not in JobSpecBase.model_fields
    ]
    if not required:
        return None
    present = " && ".join(f"has(self.parameters.{key})" for key in required)
    return {
        "rule": f"self.type != '{info.name}' || (has(self.parameters) && {present})",
        "message": f"{info.name} needs " + ", ".join(f"parameters.{key}" for key in required),
    }


def json_schema(node: Schema, *, reject_unknown: bool = True) -> Schema:
    """An openAPIV3Schema node as plain JSON Schema, for validators such as ``jsonschema``.

    ``nullable`` becomes a ``null`` type. With ``reject_unknown``, objects with declared
    properties refuse others: the API server would silently prune them, which a test should
    rather see as an error.
    """
    out: Schema = {key: value for key, value in node.items() if not key.startswith("x-kubernetes")}
    if out.pop("nullable", False):
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in node:
        out["properties"] = {
            name: json_schema(child, reject_unknown=reject_unknown)
            for name, child in node["properties"].items()
        }
        if reject_unknown:
            out["additionalProperties"] = False
    if "items" in node:
        out["items"] = json_schema(node["items"], reject_unknown=reject_unknown)
    return out


def build_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "bookkeeper-jobs"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": open_api_schema()},
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    body = yaml.safe_dump(build_crd(), sort_keys=False, default_flow_style=False, width=100)
    return HEADER + body


def main() -> None:
    from bookkeeper_jobs.settings import load_settings

    load_job_type_modules(load_settings().job_type_modules)
    sys.stdout.write(render_crd_yaml())


if __name__ == "__main__":
    main()
