"""The task container's entrypoint: ``bkjobs task run --job <namespace>/<name>``.

It reads the BookkeepingJob, runs the same task function as the embedded mode, and reports
through the status subresource (``bookkeepingjobs/status``, JSON merge patches coalesced by
the reporter). Exit codes tell the Kubernetes Job what to do:

- 0: the resource now says how it ended (complete, or failed for a fatal error);
- :data:`EXIT_RETRYABLE` (1): a retryable error; the Job's ``backoffLimit`` retries the pod.

The task functions themselves know nothing of this: only this module speaks Kubernetes.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes.client import CustomObjectsApi

from bookkeeper_jobs.errors import FatalTaskError, RetryableTaskError
from bookkeeper_jobs.jobs import Job, JobPhase, JobStatus, transition_conditions, utcnow
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, job_from_resource, status_patch
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.registry import resolve_task, task_table_for
from bookkeeper_jobs.tasks.reporter import CoalescingReporter

log = logging.getLogger(__name__)

EXIT_DONE = 0
EXIT_RETRYABLE = 1
CANCEL_CHECK_SECONDS = 1.0


@dataclass
class ResourceRef:
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ResourceRef:
        namespace, _, name = text.partition("/")
        if not namespace or not name:
            raise ValueError(f"--job must be <namespace>/<name>, not {text!r}")
        return cls(namespace, name)


@dataclass
class StatusClient:
    """Reads the resource and merge-patches its status subresource."""

    api: CustomObjectsApi
    ref: ResourceRef

    def read(self) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.ref.namespace, PLURAL, self.ref.name
            ),
        )

    def patch_status(self, body: dict[str, Any]) -> None:
        self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.ref.namespace, PLURAL, self.ref.name, body
        )


@dataclass
class StatusPatchSink:
    """The reporter's sink in a cluster: progress and message as a status patch. Progress
    never goes below what an earlier attempt reported; cancellation is read from the spec
    at most once a second."""

    client: StatusClient
    floor: int
    _cancel: bool = False
    _checked_at: float = field(default=float("-inf"))

    def write_progress(self, progress: int, message: str) -> None:
        self.floor = max(self.floor, progress)
        self.client.patch_status({"status": {"progress": self.floor, "message": message}})

    def cancel_requested(self) -> bool:
        if not self._cancel and time.monotonic() - self._checked_at >= CANCEL_CHECK_SECONDS:
            self._checked_at = time.monotonic()
            spec = self.client.read().get("spec", {})
            self._cancel = bool(spec.get("cancelRequested"))
        return self._cancel


def run_task(client: StatusClient, settings: Settings) -> int:
    obj = client.read()
    job = job_from_resource(obj)
    if job.status.phase.is_terminal or obj.get("spec", {}).get("cancelRequested"):
        log.info("%s is already %s; nothing to run", job.id, job.status.phase.value)
        return EXIT_DONE
    running = start_attempt(client, job)
    from bookkeeper_jobs.ledger import Ledger

    ledger = Ledger.from_settings(settings)
    sink = StatusPatchSink(client, floor=running.progress)
    reporter = CoalescingReporter(sink)
    try:
        result = resolve_task(task_table_for(settings)[job.spec.type])(job.spec, ledger, reporter)
        reporter.flush()
    except RetryableTaskError as exc:
        # The error stays in status so that, if the Job's backoff runs out, the operator
        # fails the resource with the task's own words; the next attempt clears it.
        note = f"Attempt {running.attempts} failed ({exc}); the Job will retry"
        client.patch_status({"status": {"message": note, "error": str(exc)}})
        return EXIT_RETRYABLE
    except FatalTaskError as exc:
        finish(client, running, JobPhase.FAILED, "TaskFailed", error=str(exc))
    except Exception as exc:
        log.error("job %s failed:\n%s", job.id, traceback.format_exc())
        finish(client, running, JobPhase.FAILED, "TaskFailed", error=f"{type(exc).__name__}: {exc}")
    else:
        if sink.cancel_requested():
            return EXIT_DONE  # the operator records the cancellation
        finish(client, running, JobPhase.COMPLETE, "Completed", result=result)
    finally:
        ledger.dispose()
    return EXIT_DONE


def start_attempt(client: StatusClient, job: Job) -> JobStatus:
    now = utcnow()
    attempt = job.status.attempts + 1
    status = job.status.model_copy(
        update={
            "phase": JobPhase.RUNNING,
            "attempts": attempt,
            "started_at": job.status.started_at or now,
            "message": "Started" if attempt == 1 else f"Started attempt {attempt}",
            "error": None,
            "conditions": transition_conditions(
                job.status.conditions, JobPhase.RUNNING, "Started", f"Attempt {attempt}", now
            ),
        }
    )
    client.patch_status(status_patch(status))
    return status


def finish(
    client: StatusClient,
    running: JobStatus,
    phase: JobPhase,
    reason: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    now = utcnow()
    latest = job_from_resource(client.read()).status
    status = latest.model_copy(
        update={
            "phase": phase,
            "progress": 100 if phase is JobPhase.COMPLETE else latest.progress,
            "message": "Complete" if phase is JobPhase.COMPLETE else "Failed",
            "result": result,
            "error": error,
            "finished_at": now,
            "attempts": running.attempts,
            "conditions": transition_conditions(
                latest.conditions, phase, reason, error or "Complete", now
            ),
        }
    )
    client.patch_status(status_patch(status))
