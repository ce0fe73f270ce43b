"""The ``BookkeepingJob`` custom resource: its schema models and the conversions to the job model.

The pydantic models here are the single source of the CRD (``core/crd.py`` turns their JSON
schema into ``crds/bookkeepingjobs.yaml``; a test keeps the two in sync). Field names are the
Kubernetes camelCase ones (aliases); Python code uses the snake_case attribute names.

The resource's name is the job's id (``job-`` and hex digits). A submission with an
idempotency key gets a name derived from the tenant and the key, so a repeated create is a
409 ``AlreadyExists`` instead of a duplicate job.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel, to_snake

from bookkeeper_jobs.jobs import (
    CompanyId,
    Condition,
    Job,
    JobSpecBase,
    JobStatus,
    StatusFields,
    TenantId,
    job_type,
)
from bookkeeper_jobs.lifecycle import initial_conditions, initial_status

GROUP = "jobs.bookkeeper.ai"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "BookkeepingJob"
PLURAL = "bookkeepingjobs"
SINGULAR = "bookkeepingjob"
SHORT_NAMES = ("bkj",)
CATEGORIES = ("bookkeeping",)

LABEL_TYPE = f"{GROUP}/type"
LABEL_COMPANY = f"{GROUP}/company"
LABEL_TENANT = f"{GROUP}/tenant"
LABEL_NAME = f"{GROUP}/name"
ANNOTATION_COMPANY = f"{GROUP}/company-id"
ANNOTATION_TENANT = f"{GROUP}/tenant-id"
ANNOTATION_FINGERPRINT = f"{GROUP}/request-fingerprint"
ANNOTATION_CREATED = f"{GROUP}/created-at"
"""The submission time to the microsecond (creationTimestamp has whole seconds only), so a
company's jobs list newest first even when several arrive within one second."""

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_RESOURCE_NAME = re.compile(r"^job-[0-9a-f]{1,59}$")
_NAME_HEX_DIGITS = 20  # as many as new_job_id() draws: 80 bits

_BASE_FIELDS = frozenset(JobSpecBase.model_fields)


def _immutable(what: str) -> dict[str, Any]:
    """A CEL transition rule: the API server refuses updates that change the field."""
    return {
        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": f"{what} is immutable"}]
    }


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class BookkeepingJobSpec(_CamelModel):
    """What was asked: the job type, whose books, its parameters, retry and deadline settings."""

    # ``parameters`` holds the job type's own spec fields in camelCase; the CRD's schema for
    # it (and the ``type`` enum, and the rules that each type's required fields are there) is
    # generated from the registered job types (``crd.py``), never declared twice.

    type: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", json_schema_extra=_immutable("type")
    )
    company_id: CompanyId = Field(json_schema_extra=_immutable("companyId"))
    tenant_id: TenantId = Field(json_schema_extra=_immutable("tenantId"))
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The job type's own fields (its spec, in camelCase)."
    )
    backoff_limit: int | None = Field(
        default=None, ge=0, le=20, description="Retries of the child Job (operator default)."
    )
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Seconds the child Job may run in all (operator default)."
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, description="Seconds a finished child Job is kept (operator default)."
    )
    cancel_requested: bool = Field(
        default=False,
        description="Set to true to cancel: the operator deletes the child Job.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "!oldSelf || self", "message": "a cancel cannot be withdrawn"}
            ]
        },
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The submission's Idempotency-Key; the name derives from it.",
        json_schema_extra=_immutable("idempotencyKey"),
    )


class ResourceCondition(Condition):
    """A Kubernetes-style condition; `type` is the list's map key."""

    model_config = _CamelModel.model_config
    reason: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=1024)
    message: str = Field(default="", max_length=32768)
    observed_generation: int | None = Field(default=None, ge=0)


class BookkeepingJobStatus(StatusFields[ResourceCondition]):
    """What happened: the status subresource, written only by the operator and the task."""

    model_config = _CamelModel.model_config
    result: dict[str, Any] | None = Field(
        default=None, description="The task's summary (small; large data lives in the ledger)."
    )
    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[ResourceCondition] = Field(
        default_factory=list,
        description="Kubernetes-style conditions: Running, Succeeded, Failed, Cancelled.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


class BookkeepingJob(_CamelModel):
    """The resource's ``spec`` and ``status`` (metadata is the API server's)."""

    spec: BookkeepingJobSpec
    status: BookkeepingJobStatus = Field(default_factory=BookkeepingJobStatus)


# -- names and labels ---------------------------------------------------------------------


def label_value(value: str) -> str:
    """``value`` itself if it is a valid label value, else ``h-`` and a stable sha256 prefix.

    Use it for label selectors too: ``jobs.bookkeeper.ai/company=<label_value(company_id)>``.
    """
    if len(value) <= 63 and _LABEL_VALUE.fullmatch(value):
        return value
    return "h-" + hashlib.sha256(value.encode()).hexdigest()[:40]


def is_resource_name(name: str) -> bool:
    """Whether ``name`` is shaped like the names jobs get (``job-`` and hex digits)."""
    return _RESOURCE_NAME.fullmatch(name) is not None


def resource_name(job_id: str) -> str:
    """The resource's name for a job id (they are the same: ``job-`` and hex digits)."""
    if not is_resource_name(job_id):
        raise ValueError(f"not a job id usable as a resource name: {job_id!r}")
    return job_id


def idempotent_name(tenant_id: str, idempotency_key: str) -> str:
    """``job-`` and hex from sha256(tenant, key): the same submission always gets this name.

    A newline separates the two (tenant ids cannot contain one), so ("a", "bc") and
    ("ab", "c") differ.
    """
    digest = hashlib.sha256(f"{tenant_id}\n{idempotency_key}".encode()).hexdigest()
    return "job-" + digest[:_NAME_HEX_DIGITS]


def resource_labels(spec: JobSpecBase) -> dict[str, str]:
    return {
        LABEL_TYPE: label_value(spec.type),
        LABEL_COMPANY: label_value(spec.company_id),
        LABEL_TENANT: label_value(spec.tenant_id),
    }


# -- job model ⇄ resource -------------------------------------------------------------------


def _parameters_of(spec: JobSpecBase) -> dict[str, Any]:
    fields = spec.model_dump(mode="json", exclude=set(_BASE_FIELDS), exclude_none=True)
    return {to_camel(name): value for name, value in fields.items()}


def spec_to_resource(
    spec: JobSpecBase,
    *,
    job_id: str | None = None,
    namespace: str | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
    backoff_limit: int | None = None,
    active_deadline_seconds: int | None = None,
    ttl_seconds_after_finished: int | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The full ``BookkeepingJob`` body to create for ``spec``.

    The name is ``job_id`` or, with an idempotency key, derived from tenant and key; one of
    the two is required. Retry and deadline fields left ``None`` take the operator's defaults.
    """
    if idempotency_key is not None:
        name = idempotent_name(spec.tenant_id, idempotency_key)
    elif job_id is not None:
        name = resource_name(job_id)
    else:
        raise ValueError("spec_to_resource needs a job_id or an idempotency_key")
    resource_spec = BookkeepingJobSpec(
        type=spec.type,
        company_id=spec.company_id,
        tenant_id=spec.tenant_id,
        parameters=_parameters_of(spec),
        backoff_limit=backoff_limit,
        active_deadline_seconds=active_deadline_seconds,
        ttl_seconds_after_finished=ttl_seconds_after_finished,
        idempotency_key=idempotency_key,
    )
    annotations = {ANNOTATION_COMPANY: spec.company_id, ANNOTATION_TENANT: spec.tenant_id}
    if created_at is not None:
        annotations[ANNOTATION_CREATED] = created_at.isoformat()
    if request_fingerprint is not None:
        annotations[ANNOTATION_FINGERPRINT] = request_fingerprint
    metadata: dict[str, Any] = {
        "name": name,
        "labels": resource_labels(spec),
        "annotations": annotations,
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": resource_spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def job_spec_from_resource(spec: BookkeepingJobSpec) -> JobSpecBase:
    """The core spec: only the fields the job type has (others in ``parameters`` are ignored).

    Raises :class:`~bookkeeper_jobs.errors.UnknownJobTypeError` for a type this process has
    not registered, and pydantic's ``ValidationError`` for parameters the type refuses."""
    model = job_type(spec.type).spec
    given = {to_snake(key): value for key, value in spec.parameters.items() if value is not None}
    wanted = {key: value for key, value in given.items() if key in model.model_fields}
    return model(company_id=spec.company_id, tenant_id=spec.tenant_id, **wanted)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def job_from_resource(obj: dict[str, Any]) -> Job:
    """The core :class:`Job` of a stored resource (id = name, version = resourceVersion).

    A resource the operator has not reconciled yet has no status: it reads as a new job.
    """
    metadata = obj.get("metadata") or {}
    resource = BookkeepingJob.model_validate(
        {"spec": obj.get("spec") or {}, "status": obj.get("status") or {}}
    )
    annotations = metadata.get("annotations") or {}
    created = annotations.get(ANNOTATION_CREATED) or metadata.get("creationTimestamp")
    created_at = _parse_time(created) if created else datetime.now(UTC)
    if not (obj.get("status") or {}).get("phase"):
        status = initial_status(created_at)
    else:
        data = resource.status.model_dump(exclude={"observed_generation"})
        conditions = [_without_generation(c) for c in data["conditions"]]
        status = JobStatus.model_validate(
            {**data, "conditions": conditions or initial_conditions(created_at)}
            | {"created_at": created_at}
        )
    resource_version = metadata.get("resourceVersion")
    return Job(
        id=metadata["name"],
        spec=job_spec_from_resource(resource.spec),
        status=status,
        version=int(resource_version) if resource_version else 1,
    )


def _without_generation(condition: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in condition.items() if key != "observed_generation"}


def resource_status(
    status: JobStatus, *, observed_generation: int | None = None
) -> BookkeepingJobStatus:
    """The resource's status for a core status (``created_at`` lives in metadata instead)."""
    data = status.model_dump(exclude={"created_at"})
    conditions = [{**c, "observed_generation": observed_generation} for c in data["conditions"]]
    return BookkeepingJobStatus.model_validate(
        {**data, "conditions": conditions, "observed_generation": observed_generation}
    )


def status_patch(
    status: JobStatus | BookkeepingJobStatus, *, observed_generation: int | None = None
) -> dict[str, Any]:
    """A JSON merge patch body for the ``/status`` subresource.

    A core :class:`JobStatus` gives every field (``None`` as ``null``, which removes it).
    A :class:`BookkeepingJobStatus` gives only the fields set when it was built, so
    ``status_patch(BookkeepingJobStatus(progress=40, message="…"))`` touches just those two.
    Lists (``conditions``) are replaced whole: merge patches have no list merging.
    """
    if isinstance(status, JobStatus):
        body = resource_status(status, observed_generation=observed_generation).model_dump(
            mode="json", by_alias=True
        )
        if observed_generation is None:
            body.pop("observedGeneration")
    else:
        body = status.model_dump(mode="json", by_alias=True, exclude_unset=True)
        if observed_generation is not None:
            body["observedGeneration"] = observed_generation
    for condition in body.get("conditions", []):
        if condition.get("observedGeneration") is None:
            condition.pop("observedGeneration", None)
    return {"status": body}


__all__ = [
    "ANNOTATION_COMPANY",
    "ANNOTATION_CREATED",
    "ANNOTATION_FINGERPRINT",
    "ANNOTATION_TENANT",
    "API_VERSION",
    "CATEGORIES",
    "GROUP",
    "KIND",
    "LABEL_COMPANY",
    "LABEL_NAME",
    "LABEL_TENANT",
    "LABEL_TYPE",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "BookkeepingJob",
    "BookkeepingJobSpec",
    "BookkeepingJobStatus",
    "ResourceCondition",
    "idempotent_name",
    "job_from_resource",
    "job_spec_from_resource",
    "label_value",
    "resource_labels",
    "resource_name",
    "resource_status",
    "spec_to_resource",
    "status_patch",
]
