"""BookkeepingJob resources: names, labels, conversions to the job model, schema validity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from bookkeeper_jobs.crd import build_crd, json_schema
from bookkeeper_jobs.jobs import (
    BulkApproveSpec,
    CategorizeSpec,
    ConditionType,
    JobPhase,
    JobSpec,
    JobStatus,
    UploadAndCategorizeSpec,
)
from bookkeeper_jobs.lifecycle import Complete, Start, initial_status, transition
from bookkeeper_jobs.resource import (
    ANNOTATION_COMPANY,
    ANNOTATION_FINGERPRINT,
    ANNOTATION_TENANT,
    LABEL_COMPANY,
    LABEL_TENANT,
    LABEL_TYPE,
    BookkeepingJobStatus,
    idempotent_name,
    job_from_resource,
    label_value,
    resource_name,
    spec_to_resource,
    status_patch,
)

JOB_ID = "job-0123456789abcdef0123"
CREATED = "2026-11-28T12:00:00Z"
SPECS: list[JobSpec] = [
    CategorizeSpec(company_id="c1", tenant_id="t1", limit=50),
    CategorizeSpec(company_id="c1", tenant_id="t1", transaction_ids=["tx-1", "tx-2"]),
    BulkApproveSpec(company_id="c1", tenant_id="t1", transaction_ids=["tx-1"]),
    UploadAndCategorizeSpec(
        company_id="c1", tenant_id="t1", artifact_id="ab" * 16, filename="march.csv"
    ),
]


def resource_validator(*, reject_unknown: bool = True) -> jsonschema.Draft202012Validator:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return jsonschema.Draft202012Validator(
        json_schema(schema, reject_unknown=reject_unknown),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def stored(resource: dict[str, Any], **status: Any) -> dict[str, Any]:
    """The object as the API server returns it after create (and a status patch)."""
    obj = {**resource, "metadata": {**resource["metadata"]}}
    obj["metadata"].update(
        namespace="books", creationTimestamp=CREATED, resourceVersion="4711", generation=1
    )
    if status:
        obj["status"] = status
    return obj


def full_status() -> JobStatus:
    now = datetime(2026, 11, 28, 12, 5, tzinfo=UTC)
    started = transition(initial_status(now), Start(), now)
    conditions = transition(started, Complete(result={}), now).conditions
    return JobStatus(
        phase=JobPhase.COMPLETE,
        progress=100,
        message="categorized 2",
        result={"categorized": 2, "by_category": {"Meals": 1, "Travel": 1}},
        created_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        started_at=datetime(2026, 11, 28, 12, 1, tzinfo=UTC),
        finished_at=now,
        attempts=1,
        conditions=conditions,
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.type)
def test_resource_for_every_job_type_validates_against_the_crd(spec: JobSpec) -> None:
    resource = spec_to_resource(spec, job_id=JOB_ID, namespace="books", backoff_limit=2)
    resource_validator().validate(stored(resource))
    assert resource["apiVersion"] == "jobs.bookkeeper.ai/v1alpha1"
    assert resource["kind"] == "BookkeepingJob"
    assert resource["metadata"]["name"] == JOB_ID
    assert resource["metadata"]["namespace"] == "books"
    assert resource["spec"]["backoffLimit"] == 2
    assert "activeDeadlineSeconds" not in resource["spec"]  # the operator's default applies


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.type)
def test_round_trip_spec_to_resource_to_job(spec: JobSpec) -> None:
    job = job_from_resource(stored(spec_to_resource(spec, job_id=JOB_ID)))
    assert job.id == JOB_ID
    assert job.spec == spec
    assert job.version == 4711
    assert job.status.phase is JobPhase.PENDING
    assert job.status.progress == 0
    assert job.status.created_at == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_spec_is_camel_case_with_parameters() -> None:
    spec = UploadAndCategorizeSpec(
        company_id="c1", tenant_id="t1", artifact_id="cd" * 16, filename="a.ofx"
    )
    resource = spec_to_resource(spec, job_id=JOB_ID, ttl_seconds_after_finished=60)
    assert resource["spec"] == {
        "type": "upload-and-categorize",
        "companyId": "c1",
        "tenantId": "t1",
        "parameters": {"artifactId": "cd" * 16, "filename": "a.ofx"},
        "ttlSecondsAfterFinished": 60,
        "cancelRequested": False,
    }


def test_full_status_validates_and_reads_back() -> None:
    status = full_status()
    patch = status_patch(status, observed_generation=1)
    resource = spec_to_resource(SPECS[0], job_id=JOB_ID)
    obj = stored(resource, **patch["status"])
    resource_validator().validate(obj)
    assert patch["status"]["observedGeneration"] == 1
    assert {c["observedGeneration"] for c in patch["status"]["conditions"]} == {1}
    assert patch["status"]["finishedAt"] == "2026-11-28T12:05:00Z"
    assert job_from_resource(obj).status == status


def test_status_patch_of_a_core_status_clears_absent_values() -> None:
    status = JobStatus(created_at=datetime.now(UTC))
    body = status_patch(status)["status"]
    assert body["result"] is None  # merge patch: null removes a stale result
    assert body["error"] is None
    assert "observedGeneration" not in body
    assert "createdAt" not in body  # metadata.creationTimestamp holds it


def test_partial_status_patch_sends_only_the_given_fields() -> None:
    assert status_patch(BookkeepingJobStatus(progress=40, message="40 of 100")) == {
        "status": {"progress": 40, "message": "40 of 100"}
    }
    assert status_patch(BookkeepingJobStatus(phase=JobPhase.RUNNING), observed_generation=2) == {
        "status": {"phase": "running", "observedGeneration": 2}
    }


def test_a_status_with_an_undeclared_field_would_be_pruned() -> None:
    obj = stored(spec_to_resource(SPECS[0], job_id=JOB_ID), progress=5, kopf={"progress": {}})
    with pytest.raises(jsonschema.ValidationError, match="kopf"):
        resource_validator().validate(obj)


def test_labels_and_annotations_for_plain_ids() -> None:
    metadata = spec_to_resource(SPECS[2], job_id=JOB_ID)["metadata"]
    assert metadata["labels"] == {
        LABEL_TYPE: "bulk-approve",
        LABEL_COMPANY: "c1",
        LABEL_TENANT: "t1",
    }
    assert metadata["annotations"] == {ANNOTATION_COMPANY: "c1", ANNOTATION_TENANT: "t1"}


@pytest.mark.parametrize("company_id", ["c" * 70, "acme:eu-west", "-leading-dash", "trailing."])
def test_ids_that_are_not_label_values_are_hashed(company_id: str) -> None:
    spec = CategorizeSpec(company_id=company_id, tenant_id="tenant:1")
    resource = spec_to_resource(spec, job_id=JOB_ID)
    labels, annotations = resource["metadata"]["labels"], resource["metadata"]["annotations"]
    assert labels[LABEL_COMPANY] == label_value(company_id)
    assert labels[LABEL_COMPANY].startswith("h-")
    assert len(labels[LABEL_COMPANY]) <= 63
    assert labels[LABEL_TENANT].startswith("h-")
    assert annotations[ANNOTATION_COMPANY] == company_id
    assert annotations[ANNOTATION_TENANT] == "tenant:1"
    resource_validator().validate(stored(resource))


def test_label_value_is_stable_and_keeps_valid_values() -> None:
    assert label_value("acme-1.b_2") == "acme-1.b_2"
    assert label_value("c" * 63) == "c" * 63
    assert label_value("a/b") == label_value("a/b") != label_value("a/c")
    assert label_value("") == ""


def test_idempotent_names_are_deterministic_and_per_tenant() -> None:
    name = idempotent_name("t1", "key-1")
    assert name == idempotent_name("t1", "key-1")
    assert name != idempotent_name("t2", "key-1")
    assert idempotent_name("a", "bc") != idempotent_name("ab", "c")
    assert resource_name(name) == name
    resource = spec_to_resource(SPECS[0], idempotency_key="key-1", request_fingerprint="f00d")
    assert resource["metadata"]["name"] == name
    assert resource["spec"]["idempotencyKey"] == "key-1"
    assert resource["metadata"]["annotations"][ANNOTATION_FINGERPRINT] == "f00d"


def test_a_name_is_required() -> None:
    with pytest.raises(ValueError, match="job_id or an idempotency_key"):
        spec_to_resource(SPECS[0])


@pytest.mark.parametrize("job_id", ["job-XYZ", "job-", "other-123", "job-" + "a" * 60])
def test_resource_name_refuses_ids_that_are_not_names(job_id: str) -> None:
    with pytest.raises(ValueError, match="not a job id"):
        resource_name(job_id)


def test_parameters_of_another_job_type_are_ignored() -> None:
    obj = stored(spec_to_resource(SPECS[2], job_id=JOB_ID))
    obj["spec"]["parameters"]["limit"] = 10  # e.g. written with kubectl
    assert job_from_resource(obj).spec == SPECS[2]


def test_a_resource_missing_its_type_parameters_is_refused() -> None:
    obj = stored(spec_to_resource(SPECS[2], job_id=JOB_ID))
    del obj["spec"]["parameters"]["transactionIds"]
    with pytest.raises(ValidationError):
        job_from_resource(obj)


def test_running_status_reads_back() -> None:
    obj = stored(
        spec_to_resource(SPECS[0], job_id=JOB_ID),
        phase="running",
        progress=42,
        startedAt="2026-11-28T12:01:00Z",
        attempts=1,
        conditions=[
            {
                "type": "Running",
                "status": "True",
                "reason": "PodRunning",
                "lastTransitionTime": "2026-11-28T12:01:00Z",
            }
        ],
    )
    resource_validator().validate(obj)
    job = job_from_resource(obj)
    assert job.status.phase is JobPhase.RUNNING
    assert job.status.progress == 42
    assert job.status.conditions[0].type is ConditionType.RUNNING
    assert job.status.started_at == datetime(2026, 11, 28, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        ("spec", "companyId", "acme/eu"),
        ("spec", "type", "delete-everything"),
        ("spec", "backoffLimit", -1),
        ("status", "progress", 101),
        ("status", "phase", "done"),
    ],
)
def test_the_schema_refuses_bad_values(where: str, field: str, value: Any) -> None:
    obj = stored(spec_to_resource(SPECS[0], job_id=JOB_ID), progress=1)
    obj[where][field] = value
    with pytest.raises(jsonschema.ValidationError):
        resource_validator().validate(obj)
