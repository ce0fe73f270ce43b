"""The job type registry: what a registration checks, and what follows from it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from bookkeeper_jobs.crd import build_crd
from bookkeeper_jobs.errors import UnknownJobTypeError
from bookkeeper_jobs.jobs import (
    BulkApproveSpec,
    JobSpec,
    JobSpecBase,
    JobTypeInfo,
    job_type,
    job_types,
    register_job_type,
    unregister_job_type,
)

ROOT = Path(__file__).resolve().parents[2]
SPEC: TypeAdapter[JobSpec] = TypeAdapter(JobSpec)


class EchoSpec(JobSpecBase):
    type: Literal["echo"] = "echo"
    words: list[str]


class EchoResult(BaseModel):
    words: list[str]


ECHO = JobTypeInfo(
    name="echo", spec=EchoSpec, result=EchoResult, task="x:echo", summary="Say it back."
)


def test_the_built_in_types_are_registered_in_order() -> None:
    names = [info.name for info in job_types()]
    assert names == ["categorize", "bulk-approve", "upload-and-categorize", "ocr", "export-qbo"]


def test_a_spec_parses_by_its_type_and_an_unknown_type_is_refused() -> None:
    data = {"type": "bulk-approve", "company_id": "c", "tenant_id": "t", "transaction_ids": ["a"]}
    assert SPEC.validate_python(data) == BulkApproveSpec(**data)
    with pytest.raises(ValidationError, match="unknown job type 'nope'"):
        SPEC.validate_python({**data, "type": "nope"})
    with pytest.raises(UnknownJobTypeError, match="known: categorize, bulk-approve"):
        job_type("nope")


def test_a_registration_must_name_its_spec_type() -> None:
    with pytest.raises(ValueError, match=r"EchoSpec.type must be Literal\['other'\]"):
        JobTypeInfo(name="other", spec=EchoSpec, result=EchoResult, task="x:y", summary="")


def test_a_name_cannot_be_registered_twice_differently() -> None:
    register_job_type(ECHO)
    try:
        assert register_job_type(ECHO) is ECHO
        other = JobTypeInfo(name="echo", spec=EchoSpec, result=EchoResult, task="y:z", summary="")
        with pytest.raises(ValueError, match="already registered differently"):
            register_job_type(other)
    finally:
        unregister_job_type("echo")


def test_the_crd_follows_the_registry() -> None:
    register_job_type(ECHO)
    try:
        spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    finally:
        unregister_job_type("echo")
    assert spec["properties"]["type"]["enum"][-1] == "echo"
    words = spec["properties"]["parameters"]["properties"]["words"]
    assert (words["type"], words["items"]["type"], words["description"]) == (
        "array",
        "string",
        "echo",
    )
    assert {
        "rule": "self.type != 'echo' || (has(self.parameters) && has(self.parameters.words))",
        "message": "echo needs parameters.words",
    } in spec["x-kubernetes-validations"]


def test_a_field_two_types_share_keeps_only_the_limits_both_set() -> None:
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    ids = spec["properties"]["parameters"]["properties"]["transactionIds"]
    assert ids["maxItems"] == 10_000
    assert "minItems" not in ids, "bulk-approve's minimum must not bind categorize"
    assert "default" not in spec["properties"]["parameters"]["properties"]["limit"]


def test_the_docs_worked_example_is_the_tested_toy_module() -> None:
    toy = (ROOT / "tests" / "support" / "toy_job.py").read_text()
    body = toy.split("from __future__ import annotations\n\n", 1)[1]
    doc = (ROOT / "docs" / "adding-a-job-type.md").read_text()
    assert f"```python\n{body}```" in doc
