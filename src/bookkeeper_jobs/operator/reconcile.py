"""What the operator does for a BookkeepingJob: start its Job, cancel it, reflect its end.

Each function does one step and returns at once (no waiting for Jobs inside handlers). It
returns the :class:`Outcome` worth an Event, or ``None`` when nothing changed; the kopf
handlers in ``handlers.py`` post the Events. Writes to the resource's status go through
``status.py`` (read, decide, patch with a resourceVersion precondition).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import kopf
import pydantic
from kubernetes.client.exceptions import ApiException

from bookkeeper_jobs.jobs import JobPhase
from bookkeeper_jobs.operator.context import OperatorContext
from bookkeeper_jobs.operator.manifests import build_job_manifest, job_name
from bookkeeper_jobs.operator.status import (
    CONFLICT,
    NOT_FOUND,
    Resource,
    finished,
    initial,
    read_resource,
    update_status,
)
from bookkeeper_jobs.resource import API_VERSION, KIND

ALREADY_EXISTS = CONFLICT
UNPROCESSABLE = 422
RETRY_DELAY = 5.0
NO_RESULT = "the task exited without reporting a result"
JOB_DELETED = "the Job was deleted before the task reported a result"
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
        manifest = build_job_manifest(body, context.template)
    except pydantic.ValidationError as exc:
        raise kopf.PermanentError(f"invalid spec: {exc}") from exc
    kopf.adopt(manifest, owner=cast(kopf.Body, body))
    created = create_job(context, namespace, manifest, owner_uid=metadata["uid"])
    message = f"Job {manifest['metadata']['name']} created"
    written = update_status(context.custom, namespace, name, initial(message))
    if not created:
        return None
    return Outcome(written.resource if written else dict(body), "JobCreated", message)


def create_job(
    context: OperatorContext, namespace: str, manifest: dict[str, Any], *, owner_uid: str
) -> bool:
    """``True`` if created now, ``False`` if this resource's Job already exists."""
    try:
        # The client serialises a plain dict as it is (its type hints ask for a V1Job).
        context.batch.create_namespaced_job(namespace, cast(Any, manifest))
    except ApiException as exc:
        if exc.status == UNPROCESSABLE:
            raise kopf.PermanentError(f"the API server refused the Job: {exc.body}") from exc
        if exc.status != ALREADY_EXISTS:
            raise kopf.TemporaryError(
                f"creating the Job failed: {exc.reason}", RETRY_DELAY
            ) from exc
    else:
        return True
    existing = context.batch.read_namespaced_job(manifest["metadata"]["name"], namespace)
    owners = (existing.metadata.owner_references if existing.metadata else None) or []
    if not any(owner.uid == owner_uid for owner in owners):
        # A former resource of the same name still has its Job (being garbage-collected).
        raise kopf.TemporaryError("a Job of that name belongs to another object", RETRY_DELAY)
    return False


def cancel(context: OperatorContext, namespace: str, name: str) -> Outcome | None:
    """Delete the Job (its pods first) and record the cancellation, unless already ended."""
    resource = read_resource(context.custom, namespace, name)
    if resource is None:
        return None
    phase = JobPhase((resource.get("status") or {}).get("phase", "pending"))
    if phase in (JobPhase.COMPLETE, JobPhase.FAILED):
        return None  # nothing left to cancel; the finished Job keeps its logs until its TTL
    delete_job(context, namespace, job_name(name))
    message = "Cancelled by request"
    written = update_status(
        context.custom, namespace, name, finished(JobPhase.CANCELLED, "Cancelled", message)
    )
    if written is None:
        return None
    return Outcome(written.resource, "Cancelled", f"{message}; Job {job_name(name)} deleted")


def delete_job(context: OperatorContext, namespace: str, name: str) -> None:
    try:
        context.batch.delete_namespaced_job(name, namespace, propagation_policy="Foreground")
    except ApiException as exc:
        if exc.status != NOT_FOUND:
            raise


def reflect_job(context: OperatorContext, job: Mapping[str, Any], deleted: bool) -> Outcome | None:
    """Fail the owning resource when its Job ended (or vanished) without the task saying so."""
    owner = controller_name(job)
    ending = job_ending(job, deleted)
    if owner is None or ending is None:
        return None
    namespace = job["metadata"]["namespace"]
    resource = read_resource(context.custom, namespace, owner)
    if resource is None or (resource.get("spec") or {}).get("cancelRequested"):
        return None  # gone, or the cancellation records itself
    reason, error = ending
    decision = finished(
        JobPhase.FAILED,
        reason,
        "Failed",
        error=error,
        prefer_task_error=reason == "BackoffLimitExceeded",
    )
    written = update_status(context.custom, namespace, owner, decision)
    return None if written is None else Outcome(written.resource, "Failed", error)


def controller_name(job: Mapping[str, Any]) -> str | None:
    """The name of the BookkeepingJob controlling ``job``, if one does."""
    for owner in job["metadata"].get("ownerReferences") or []:
        if owner.get("controller") and (owner["apiVersion"], owner["kind"]) == (API_VERSION, KIND):
            return str(owner["name"])
    return None


def job_ending(job: Mapping[str, Any], deleted: bool) -> tuple[str, str] | None:
    """``(reason, error)`` if the Job is over: failed, complete, or deleted while running.

    A complete Job is an error here: the task reports its own result before it exits, so
    the resource is terminal already unless the task never did.
    """
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Failed":
            reason = str(condition.get("reason") or "JobFailed")
            message = condition.get("message") or "the Job failed"
            error = f"{reason}: {message}"
            if reason == "DeadlineExceeded":  # said as the embedded mode says a timeout
                deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
                error = f"timed out after {deadline} s ({error})"
            return (reason if _REASON.fullmatch(reason) else "JobFailed"), error
        if condition.get("type") == "Complete":
            return "TaskNoResult", NO_RESULT
    return ("JobDeleted", JOB_DELETED) if deleted else None
