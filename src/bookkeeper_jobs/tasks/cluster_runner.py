"""The task container's entrypoint: ``bkjobs task run --job <namespace>/<name>``.

It reads the BookkeepingJob, starts the next attempt, runs it with the same attempt runner
as the embedded mode and records the outcome, every write a guarded status patch
(:class:`~bookkeeper_jobs.status_writes.StatusWriter`). The exit code
(:class:`~bookkeeper_jobs.lifecycle.TaskExit`) tells the Kubernetes Job what to do next:
retry the pod after a retryable error, fail at once after a final one.

Retries follow the Job's own pod backoff (10 s, doubling, at most 6 min); the number of
attempts is ``BKJOBS_JOB_MAX_ATTEMPTS``, which the operator sets on the pod to the Job's
``backoffLimit`` + 1, so the task knows when its failure is the last one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from urllib3.exceptions import HTTPError

from bookkeeper_jobs.errors import BookkeeperJobsError
from bookkeeper_jobs.jobs import utcnow
from bookkeeper_jobs.lifecycle import (
    KUBERNETES_POD_BACKOFF,
    KUBERNETES_POD_BACKOFF_MAX,
    Progress,
    RetryPolicy,
    Start,
    TaskExit,
)
from bookkeeper_jobs.resource import job_from_resource
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.status_writes import StatusWriter
from bookkeeper_jobs.tasks.registry import task_table_for
from bookkeeper_jobs.tasks.runner import exit_code, run_attempt

log = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 1.0


@dataclass
class StatusPatchSink:
    """The reporter's sink in a cluster: progress as a guarded status patch. A refused
    write (the job was cancelled or ended meanwhile) reads as a request to stop; the spec's
    ``cancelRequested`` is read at most once a second."""

    writer: StatusWriter
    attempt: int
    _stop: bool = False
    _checked_at: float = field(default=float("-inf"))

    def write_progress(self, progress: int, message: str) -> None:
        event = Progress(attempt=self.attempt, progress=progress, text=message)
        try:
            self._stop = self._stop or self.writer.apply(event) is None
        except (BookkeeperJobsError, HTTPError, OSError) as exc:
            # Progress is best effort: an API server hiccup must not fail the task.
            log.warning("%s: progress not written (%s)", self.writer.ref, exc)

    def cancel_requested(self) -> bool:
        if not self._stop and time.monotonic() - self._checked_at >= CANCEL_CHECK_SECONDS:
            self._checked_at = time.monotonic()
            try:
                resource = self.writer.read()
            except (BookkeeperJobsError, HTTPError, OSError) as exc:
                log.warning("%s: cancel flag not read (%s)", self.writer.ref, exc)
                return self._stop
            self._stop = resource is None or bool(resource["spec"].get("cancelRequested"))
        return self._stop


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.job_max_attempts,
        backoff=KUBERNETES_POD_BACKOFF,
        backoff_max=KUBERNETES_POD_BACKOFF_MAX,
        # The Job's backoffLimit bounds the pods: an outage gets at most that many attempts.
        outage_attempts=settings.job_max_attempts,
    )


def run_task(writer: StatusWriter, settings: Settings) -> int:
    """One attempt of the resource's job; the process's exit code."""
    started = writer.decide(
        lambda _job, resource: None if resource["spec"].get("cancelRequested") else Start()
    )
    if started is None:
        log.info("%s: nothing to run (ended, cancelled or gone)", writer.ref)
        return TaskExit.DONE
    job = job_from_resource(started.resource)
    attempt = started.status.attempts
    log.info("%s attempt %d started at %s", writer.ref, attempt, utcnow().isoformat())
    sink = StatusPatchSink(writer, attempt)
    task_path = task_table_for(settings)[job.spec.type]
    outcome = run_attempt(job, attempt, task_path, settings, sink)
    event = outcome.event(retry_policy(settings))
    try:
        recorded = writer.apply(event)
    except Exception:  # the API server unreachable: the exit code still tells the Job
        log.exception("%s attempt %d: recording %s failed", writer.ref, attempt, event)
        return exit_code(event)
    if recorded is None:
        log.info("%s attempt %d: %s not recorded (already ended)", writer.ref, attempt, event)
        return TaskExit.DONE
    return exit_code(event)
