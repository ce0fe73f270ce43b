"""Lifecycle events on a BookkeepingJob's status subresource, for the operator and the task.

Both write the same status (the task: running, progress, its ending; the operator: the
first status, cancelled, and endings the task could not write), so every write is
read, :func:`~bookkeeper_jobs.lifecycle.transition`, then a merge patch carrying the
``resourceVersion`` it read. A write that would overwrite something newer is a 409 and is
decided again on a fresh read; an event the lifecycle refuses (the job already ended, the
attempt is no longer current) writes nothing. No blind patch remains: a task that read its
job just before the operator recorded ``cancelled`` can no longer turn it back to running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from kubernetes.client import CustomObjectsApi

from bookkeeper_jobs.errors import (
    BookkeeperJobsError,
    ResourceConflictError,
    ResourceNotFoundError,
    TransitionRefusedError,
)
from bookkeeper_jobs.jobs import Job, JobStatus, utcnow
from bookkeeper_jobs.kube import kube_errors
from bookkeeper_jobs.lifecycle import Event, initial_status, transition
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, job_from_resource, status_patch

WRITE_ATTEMPTS = 5

Resource = dict[str, Any]
Decision = Callable[[Job, Resource], Event | None]
"""Which event to apply, given the job as just read (``None``: nothing to write)."""


class StatusKeptChangingError(BookkeeperJobsError):
    """Every write attempt met a newer resourceVersion (the caller retries later)."""


@dataclass(frozen=True)
class ResourceRef:
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ResourceRef:
        namespace, _, name = text.partition("/")
        if not namespace or not name:
            raise ValueError(f"--job must be <namespace>/<name>, not {text!r}")
        return cls(namespace, name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Written:
    """A status write that happened: the resource as stored afterwards and the new status."""

    resource: Resource
    status: JobStatus


@dataclass(frozen=True)
class StatusWriter:
    """Guarded status writes to one BookkeepingJob."""

    api: CustomObjectsApi
    ref: ResourceRef

    def read(self) -> Resource | None:
        """The resource, or ``None`` if it does not exist (any more)."""
        try:
            with kube_errors():
                return cast(
                    Resource,
                    self.api.get_namespaced_custom_object(
                        GROUP, VERSION, self.ref.namespace, PLURAL, self.ref.name
                    ),
                )
        except ResourceNotFoundError:
            return None

    def apply(self, event: Event) -> Written | None:
        """Apply ``event``; ``None`` if the lifecycle refused it or the resource is gone."""
        return self.decide(lambda _job, _resource: event)

    def decide(self, decision: Decision) -> Written | None:
        """Apply the event ``decision`` picks from a fresh read, until no newer write beats it."""
        for _ in range(WRITE_ATTEMPTS):
            resource = self.read()
            if resource is None or resource["metadata"].get("deletionTimestamp"):
                return None
            job = job_from_resource(resource)
            event = decision(job, resource)
            if event is None:
                return None
            try:
                status = transition(job.status, event, utcnow())
            except TransitionRefusedError:
                return None
            try:
                return self._patch(resource, status)
            except ResourceConflictError:
                continue
            except ResourceNotFoundError:
                return None
        raise StatusKeptChangingError(f"the status of {self.ref} kept changing")

    def initialise(self) -> Written | None:
        """The first status (``pending``, every condition ``Unknown``) of a resource that has
        none yet; a create cannot set status, so the operator writes it on the first
        reconcile."""
        for _ in range(WRITE_ATTEMPTS):
            resource = self.read()
            if resource is None or (resource.get("status") or {}).get("phase"):
                return None
            created_at = job_from_resource(resource).status.created_at
            try:
                return self._patch(resource, initial_status(created_at, now=utcnow()))
            except ResourceConflictError:
                continue
            except ResourceNotFoundError:
                return None
        raise StatusKeptChangingError(f"the status of {self.ref} kept changing")

    def _patch(self, resource: Resource, status: JobStatus) -> Written:
        metadata = resource["metadata"]
        body = status_patch(status, observed_generation=metadata.get("generation"))
        body["metadata"] = {"resourceVersion": metadata["resourceVersion"]}
        with kube_errors():
            stored = self.api.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.ref.namespace, PLURAL, self.ref.name, body
            )
        return Written(cast(Resource, stored), status)
