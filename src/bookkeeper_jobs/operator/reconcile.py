"""What the operator does for a BookkeepingJob: start its Job, cancel it, reflect its end.

Each function does one step and returns at once (no waiting for Jobs inside handlers). It
returns the :class:`Outcome` worth an Event, or ``None`` when nothing changed; the kopf
handlers in ``handlers.py`` post the Events. Status writes are lifecycle events applied by
:class:`~bookkeeper_jobs.status_writes.StatusWriter` (read, transition, patch with a
resourceVersion precondition), exactly as the task container writes its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import kopf
import pydantic

from bookkeeper_jobs.errors import (
    KubernetesApiError,
    ResourceConflictError,
    ResourceInvalidError,
    ResourceNotFoundError,
    UnknownJobTypeError,
)
from bookkeeper_jobs.jobs import Job, JobPhase
from bookkeeper_jobs.kube import kube_errors
from bookkeeper_jobs.lifecycle import Cancel, Event, GiveUp, Lost, TimeOut
from bookkeeper_jobs.operator import admission
from bookkeeper_jobs.operator.context import OperatorContext
from bookkeeper_jobs.operator.manifests import build_job_manifest, job_name
from bookkeeper_jobs.operator.task_jobs import as_body
from bookkeeper_jobs.resource import (
    API_VERSION,
    KIND,
    LABEL_TENANT,
    BookkeepingJobSpec,
    job_spec_from_resource,
)
from bookkeeper_jobs.status_writes import (
    Resource,
    ResourceRef,
    StatusKeptChangingError,
    StatusWriter,
    Written,
)

RETRY_DELAY = 5.0
NO_RESULT = "the task exited without reporting a result"
JOB_DELETED_MESSAGE = "the Job was deleted before the task reported a result"
_REASON = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class Outcome:
    """An Event to post about ``resource``."""

    resource: Resource
    reason: str
    message: str


def start(context: OperatorContext, body: Mapping[str, Any]) -> Outcome | None:
    """Create the resource's Job (a 409 adopts the existing one) and its first status."""
    spec, status = body.get("spec") or {}, body.get("status") or {}
    if spec.get("cancelRequested") or JobPhase(status.get("phase", "pending")).is_terminal:
        return None  # the cancel handler (or nobody) deals with it
    metadata = body["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    try:
        job_spec_from_resource(BookkeepingJobSpec.model_validate(body["spec"]))
    except (pydantic.ValidationError, UnknownJobTypeError) as exc:
        raise kopf.PermanentError(f"invalid spec: {exc}") from exc
    if started_before(context, body):
        return None
    tenant = (metadata.get("labels") or {}).get(LABEL_TENANT, "")
    try:
        with kube_errors():
            admission.refresh(context, namespace)
    except KubernetesApiError as exc:
        message = f"listing the task Jobs failed: {exc}"
        raise kopf.TemporaryError(message, RETRY_DELAY) from exc
    with admission.deciding():  # count and create as one step: a burst cannot overshoot
        try:
            with kube_errors():
                wait = admission.must_wait(context, namespace, tenant)
        except KubernetesApiError as exc:
            message = f"counting the running Jobs failed: {exc}"
            raise kopf.TemporaryError(message, RETRY_DELAY) from exc
        manifest = build_job_manifest(body, context.template, suspend=wait)
        kopf.adopt(manifest, owner=cast(kopf.Body, body))
        created = create_job(context, namespace, manifest, owner_uid=metadata["uid"])
    with temporary_on_contention():
        written = writer(context, namespace, name).initialise()
    if not created:
        return None
    message = f"Job {manifest['metadata']['name']} created"
    return Outcome(written.resource if written else dict(body), "JobCreated", message)


def started_before(context: OperatorContext, body: Mapping[str, Any]) -> bool:
    """Whether this resource's Job exists (this operator created or saw it) and its first
    status is written: kopf runs the create handler again when a resource's events before
    kopf's own annotation patch are handled as current (``startup.CONSISTENCY_TIMEOUT``), and
    such a run then needs no API call and no admission lock."""
    metadata = body["metadata"]
    known = context.task_jobs.known(metadata["namespace"], job_name(metadata["name"]))
    initialised = bool((body.get("status") or {}).get("phase"))
    return initialised and known is not None and known.owner_uid == metadata["uid"]


def writer(context: OperatorContext, namespace: str, name: str) -> StatusWriter:
    return StatusWriter(context.custom, ResourceRef(namespace, name))


@contextmanager
def temporary_on_contention() -> Iterator[None]:
    """A status that kept changing under our writes: kopf retries the handler soon."""
    try:
        yield
    except StatusKeptChangingError as exc:
        raise kopf.TemporaryError(str(exc), delay=1) from exc


def create_job(
    context: OperatorContext, namespace: str, manifest: dict[str, Any], *, owner_uid: str
) -> bool:
    """``True`` if created now, ``False`` if this resource's Job already exists."""
    try:
        with kube_errors():
            # The client serialises a plain dict as it is (its type hints ask for a V1Job).
            created = context.batch.create_namespaced_job(namespace, cast(Any, manifest))
    except ResourceInvalidError as exc:
        raise kopf.PermanentError(f"the API server refused the Job: {exc}") from exc
    except ResourceConflictError:
        pass  # AlreadyExists: adopt it below if it is ours
    except KubernetesApiError as exc:
        raise kopf.TemporaryError(f"creating the Job failed: {exc}", RETRY_DELAY) from exc
    else:
        context.task_jobs.observe(namespace, as_body(context.batch.api_client, created))
        return True
    existing = context.batch.read_namespaced_job(manifest["metadata"]["name"], namespace)
    owners = (existing.metadata.owner_references if existing.metadata else None) or []
    if not any(owner.uid == owner_uid for owner in owners):
        # A former resource of the same name still has its Job (being garbage-collected).
        raise kopf.TemporaryError("a Job of that name belongs to another object", RETRY_DELAY)
    return False


def cancel(context: OperatorContext, namespace: str, name: str) -> Outcome | None:
    """Delete the Job (its pods first) and record the cancellation, unless already ended."""
    status_writer = writer(context, namespace, name)
    resource = status_writer.read()
    if resource is None:
        return None
    phase = JobPhase((resource.get("status") or {}).get("phase", "pending"))
    if phase in (JobPhase.COMPLETE, JobPhase.FAILED):
        return None  # nothing left to cancel; the finished Job keeps its logs until its TTL
    delete_job(context, namespace, job_name(name))
    with temporary_on_contention():
        written = status_writer.apply(Cancel())
    if written is None:
        return None
    message = f"{written.status.message}; Job {job_name(name)} deleted"
    return Outcome(written.resource, "Cancelled", message)


def delete_job(context: OperatorContext, namespace: str, name: str) -> None:
    try:
        with kube_errors():
            context.batch.delete_namespaced_job(name, namespace, propagation_policy="Foreground")
    except ResourceNotFoundError:
        pass


def reflect_job(context: OperatorContext, job: Mapping[str, Any], deleted: bool) -> Outcome | None:
    """Fail the owning resource when its Job ended (or vanished) without the task saying so."""
    owner = controller_name(job)
    ending = job_ending(job, deleted)
    if owner is None or ending is None:
        return None
    status_writer = writer(context, job["metadata"]["namespace"], owner)

    def decide(current: Job, resource: Resource) -> Event | None:
        if (resource.get("spec") or {}).get("cancelRequested"):
            return None  # the cancellation records itself
        return ending.event(current)

    with temporary_on_contention():
        written: Written | None = status_writer.decide(decide)
    if written is None:
        return None
    return Outcome(written.resource, "Failed", written.status.error or "failed")


def controller_name(job: Mapping[str, Any]) -> str | None:
    """The name of the BookkeepingJob controlling ``job``, if one does."""
    for owner in job["metadata"].get("ownerReferences") or []:
        if owner.get("controller") and (owner["apiVersion"], owner["kind"]) == (API_VERSION, KIND):
            return str(owner["name"])
    return None


@dataclass(frozen=True)
class JobEnding:
    """How a Job ended without its task recording the end: the Job condition's reason and
    message, or ``deleted``/``complete`` when it vanished or succeeded without a result."""

    reason: str
    message: str
    deadline_seconds: float | None = None

    def event(self, current: Job) -> Event:
        """The lifecycle event: a deadline is a timeout, as in the embedded mode; a Job
        whose backoff ran out gave up (with the task's last own error, which says why
        better than the Job's condition); anything else lost the attempt for good."""
        if self.reason == "DeadlineExceeded" and self.deadline_seconds is not None:
            return TimeOut(seconds=self.deadline_seconds)
        error = current.status.error or f"{self.reason}: {self.message}"
        if self.reason == "BackoffLimitExceeded":
            return GiveUp(error=error)
        if self.reason in (JOB_COMPLETE, JOB_DELETED):
            return Lost(error=self.message)
        return Lost(error=error)


JOB_COMPLETE, JOB_DELETED = "Complete", "Deleted"


def job_ending(job: Mapping[str, Any], deleted: bool) -> JobEnding | None:
    """How the Job ended, if it is over: failed, complete, or deleted while running.

    A complete Job is an error here: the task reports its own result before it exits, so
    the resource is terminal already unless the task never did.
    """
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Failed":
            reason = str(condition.get("reason") or "JobFailed")
            deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
            return JobEnding(
                reason if _REASON.fullmatch(reason) else "JobFailed",
                condition.get("message") or "the Job failed",
                float(deadline) if deadline is not None else None,
            )
        if condition.get("type") == "Complete":
            return JobEnding(JOB_COMPLETE, NO_RESULT)
    return JobEnding(JOB_DELETED, JOB_DELETED_MESSAGE) if deleted else None
