"""The committed CRD is the one the models generate, and it is a structural schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bookkeeper_jobs.crd import build_crd, json_schema, render_crd_yaml, structural

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "bookkeepingjobs.yaml"
CHART_CRD_FILE = ROOT / "charts" / "bookkeeper-jobs" / "files" / "bookkeepingjobs.yaml"
NOT_STRUCTURAL = ("$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "const", "title")


def version() -> dict[str, Any]:
    versions: list[dict[str, Any]] = build_crd()["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def open_api() -> dict[str, Any]:
    schema: dict[str, Any] = version()["schema"]["openAPIV3Schema"]
    return schema


def schema_nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path or ".", node
    for name, child in node.get("properties", {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from schema_nodes(node["items"], f"{path}[]")


def test_committed_crd_matches_the_models() -> None:
    assert CRD_FILE.read_text() == render_crd_yaml(), (
        "crds/bookkeepingjobs.yaml differs from src/bookkeeper_jobs/resource.py: run `make crds`"
    )


def test_the_chart_ships_the_same_crd() -> None:
    assert CHART_CRD_FILE.is_symlink(), "the chart's CRD must stay a symlink to crds/"
    assert CHART_CRD_FILE.resolve() == CRD_FILE.resolve()


def test_names_group_and_scope() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    assert crd["metadata"]["name"] == "bookkeepingjobs.jobs.bookkeeper.ai"
    spec = crd["spec"]
    assert spec["group"] == "jobs.bookkeeper.ai"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "BookkeepingJob",
        "listKind": "BookkeepingJobList",
        "plural": "bookkeepingjobs",
        "singular": "bookkeepingjob",
        "shortNames": ["bkj"],
        "categories": ["bookkeeping"],
    }
    assert [v["name"] for v in spec["versions"]] == ["v1alpha1"]


def test_status_subresource_and_printer_columns() -> None:
    v = version()
    assert v["served"] and v["storage"]
    assert v["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in v["additionalPrinterColumns"]}
    assert list(columns) == ["Type", "Company", "Phase", "Progress", "Age", "Message"]
    assert columns["Progress"]["type"] == "integer"
    assert columns["Age"] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }
    assert columns["Message"]["priority"] == 1
    assert all("priority" not in c for name, c in columns.items() if name != "Message")


def test_printer_columns_point_at_declared_fields() -> None:
    declared = {path for path, _ in schema_nodes(open_api())}
    for column in version()["additionalPrinterColumns"]:
        if not column["jsonPath"].startswith(".metadata."):
            assert column["jsonPath"] in declared, column


def test_every_node_is_structural() -> None:
    for path, node in schema_nodes(open_api()):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not set(NOT_STRUCTURAL) & set(node), (path, node)
        assert not ("properties" in node and "additionalProperties" in node), path
        if "properties" in node or "items" in node:
            assert node["type"] == ("object" if "properties" in node else "array"), path
        for required in node.get("required", []):
            assert required in node["properties"], (path, required)
        if "default" in node:
            assert node["default"] is not None, path


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    conditions = open_api()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) >= {"type", "status", "reason", "lastTransitionTime"}
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert item["properties"]["observedGeneration"]["type"] == "integer"


def test_every_status_field_is_declared() -> None:
    status = open_api()["properties"]["status"]["properties"]
    assert set(status) == {
        "phase",
        "progress",
        "message",
        "result",
        "error",
        "startedAt",
        "finishedAt",
        "attempts",
        "observedGeneration",
        "conditions",
    }
    assert status["result"]["x-kubernetes-preserve-unknown-fields"] is True
    assert status["phase"]["enum"] == ["pending", "running", "complete", "failed", "cancelled"]


def test_spec_fields_and_required() -> None:
    spec = open_api()["properties"]["spec"]
    assert spec["required"] == ["type", "companyId", "tenantId"]
    assert set(spec["properties"]) == {
        "type",
        "companyId",
        "tenantId",
        "parameters",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
        "cancelRequested",
        "idempotencyKey",
    }
    assert spec["properties"]["cancelRequested"]["default"] is False
    assert spec["properties"]["backoffLimit"]["nullable"] is True
    immutable = [
        name
        for name, node in spec["properties"].items()
        if {"rule": "self == oldSelf", "message": f"{name} is immutable"}
        in node.get("x-kubernetes-validations", [])
    ]
    assert immutable == ["type", "companyId", "tenantId", "idempotencyKey"]


def test_the_schema_itself_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema(open_api()))


def test_structural_rewrites_pydantic_idioms() -> None:
    defs = {"Color": {"enum": ["red"], "title": "Color", "type": "string"}}
    node = {
        "anyOf": [{"$ref": "#/$defs/Color"}, {"type": "null"}],
        "default": None,
        "title": "Favourite",
    }
    assert structural(node, defs) == {"type": "string", "nullable": True, "enum": ["red"]}
    assert structural({"type": "integer", "exclusiveMinimum": 0}, {}) == {
        "type": "integer",
        "minimum": 0,
        "exclusiveMinimum": True,
    }
    assert structural({"type": "object", "additionalProperties": True}, {}) == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }


def test_structural_refuses_real_unions() -> None:
    with pytest.raises(ValueError, match="unions"):
        structural({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {})
