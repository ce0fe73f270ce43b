"""The result models as OpenAPI shows them: every field described, optional keys optional."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from bookkeeper_jobs.results import BulkApproveResult, CategorizeResult, UploadAndCategorizeResult


def _schemas(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """The model's serialization schema and those of the models it nests, by name."""
    schema = model.model_json_schema(mode="serialization")
    return {model.__name__: schema, **schema.get("$defs", {})}


@pytest.mark.parametrize("model", [CategorizeResult, BulkApproveResult, UploadAndCategorizeResult])
def test_every_field_is_described(model: type[BaseModel]) -> None:
    undescribed = [
        f"{name}.{field}"
        for name, schema in _schemas(model).items()
        for field, spec in schema["properties"].items()
        if not spec.get("description")
    ]

    assert undescribed == []


def test_the_upload_results_optional_keys_are_not_required() -> None:
    required = UploadAndCategorizeResult.model_json_schema(mode="serialization")["required"]

    assert "cancelled" not in required
    assert "categorization" not in required
