"""The operator's writes to a BookkeepingJob's status subresource.

The task writes the same status (running, progress, complete), so every operator write is
read-decide-patch with the read ``resourceVersion`` as a precondition: a write that would
overwrite something newer is a 409, and the decision is made again on a fresh read. A
decision of ``None`` (already terminal, already initialised) writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import kopf
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from bookkeeper_jobs.jobs import (
    JobPhase,
    JobStatus,
    initial_conditions,
    transition_conditions,
    utcnow,
)
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, job_from_resource, status_patch

NOT_FOUND = 404
CONFLICT = 409
ATTEMPTS = 5

Resource = dict[str, Any]
Decision = Callable[[Resource], JobStatus | None]


@dataclass(frozen=True)
class Written:
    """A status write that happened: the resource as stored afterwards and the new status."""

    resource: Resource
    status: JobStatus


def read_resource(api: CustomObjectsApi, namespace: str, name: str) -> Resource | None:
    try:
        return cast(
            Resource, api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        )
    except ApiException as exc:
        if exc.status == NOT_FOUND:
            return None
        raise


def update_status(
    api: CustomObjectsApi, namespace: str, name: str, decide: Decision
) -> Written | None:
    """Apply ``decide``'s status unless the resource changed in between (then decide again)."""
    for _ in range(ATTEMPTS):
        resource = read_resource(api, namespace, name)
        if resource is None or resource["metadata"].get("deletionTimestamp"):
            return None
        status = decide(resource)
        if status is None:
            return None
        metadata = resource["metadata"]
        body = status_patch(status, observed_generation=metadata.get("generation"))
        body["metadata"] = {"resourceVersion": metadata["resourceVersion"]}
        try:
            stored = api.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, body
            )
        except ApiException as exc:
            if exc.status == CONFLICT:
                continue
            if exc.status == NOT_FOUND:
                return None
            raise
        return Written(cast(Resource, stored), status)
    raise kopf.TemporaryError(f"the status of {namespace}/{name} kept changing", delay=1)


def initial(message: str) -> Decision:
    """Pending with every condition ``Unknown``, for a resource that has no status yet."""

    def decide(resource: Resource) -> JobStatus | None:
        if (resource.get("status") or {}).get("phase"):
            return None
        current = job_from_resource(resource).status
        now = utcnow()
        return current.model_copy(
            update={
                "phase": JobPhase.PENDING,
                "message": message,
                "conditions": initial_conditions(now),
            }
        )

    return decide


def finished(
    phase: JobPhase,
    reason: str,
    message: str,
    error: str | None = None,
    *,
    prefer_task_error: bool = False,
) -> Decision:
    """``phase`` (a terminal one) now, unless the resource already ended. With
    ``prefer_task_error``, an error the task left in status (its last retryable failure)
    says why better than the Job's condition does."""

    def decide(resource: Resource) -> JobStatus | None:
        current = job_from_resource(resource).status
        if current.phase.is_terminal:
            return None
        final_error = current.error if prefer_task_error and current.error else error
        now = utcnow()
        return current.model_copy(
            update={
                "phase": phase,
                "message": message,
                "error": final_error,
                "finished_at": now,
                "conditions": transition_conditions(
                    current.conditions, phase, reason, final_error or message, now
                ),
            }
        )

    return decide
