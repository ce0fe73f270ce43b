"""The attempt runner, one for both modes: build the task's context, run the task, sort how
it ended into a typed :class:`AttemptOutcome`, and say which lifecycle event records it.

The embedded worker's child process and the task container (``bkjobs task run``) both call
:func:`run_attempt`; they differ only in the progress sink they pass (a guarded SQLite
write, a guarded status patch) and in how they persist the event.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from bookkeeper_jobs.artifacts import artifact_store
from bookkeeper_jobs.errors import (
    FatalTaskError,
    RetryableTaskError,
    ServiceUnavailableError,
    TaskError,
)
from bookkeeper_jobs.jobs import Job, utcnow
from bookkeeper_jobs.lifecycle import (
    Cancel,
    Complete,
    Event,
    Fail,
    GiveUp,
    Retry,
    RetryPolicy,
    TaskExit,
)
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext
from bookkeeper_jobs.tasks.registry import resolve_task
from bookkeeper_jobs.tasks.reporter import CoalescingReporter, ProgressSink

log = logging.getLogger(__name__)


class Ending(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    """A fatal task error or an unexpected exception: retrying cannot help."""
    RETRYABLE = "retryable"
    UNAVAILABLE = "unavailable"
    """A service the task needs was down (retried with the longer outage budget)."""
    CANCELLED = "cancelled"
    """Cancellation was requested and the task stopped (or finished) meanwhile."""


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt ended."""

    ending: Ending
    attempt: int
    result: dict[str, Any] | None = None
    error: str | None = None

    def event(self, policy: RetryPolicy) -> Event:
        """The lifecycle event that records this outcome (a retryable error retries while
        ``policy`` has attempts left). What the task did (``result``) stays on the job
        when it completed, was cancelled or failed for good."""
        if self.ending is Ending.COMPLETED:
            assert self.result is not None
            return Complete(attempt=self.attempt, result=self.result)
        if self.ending is Ending.CANCELLED:
            return Cancel(attempt=self.attempt, result=self.result)
        assert self.error is not None
        if self.ending is Ending.FAILED:
            return Fail(attempt=self.attempt, error=self.error, result=self.result)
        outage = self.ending is Ending.UNAVAILABLE
        event = policy.after_failure(self.attempt, self.error, outage=outage)
        if isinstance(event, GiveUp):
            return GiveUp(attempt=self.attempt, error=self.error, result=self.result)
        return event


def exit_code(event: Event) -> TaskExit:
    """What the task process exits with once ``event`` is recorded (``TaskExit`` says why)."""
    if isinstance(event, Fail | GiveUp):
        return TaskExit.FINAL
    if isinstance(event, Retry):
        return TaskExit.RETRY  # the Job's backoff starts the next pod
    return TaskExit.DONE


def run_attempt(
    job: Job, attempt: int, task_path: str, settings: Settings, sink: ProgressSink
) -> AttemptOutcome:
    """Run ``attempt`` of ``job`` with the task at ``task_path``; never raises for what the
    task does (its exceptions become the outcome)."""
    from bookkeeper_jobs.ledger import Ledger  # SQLAlchemy: imported where a task runs

    reporter = CoalescingReporter(sink)
    ledger = Ledger.from_settings(settings)
    context = TaskContext(
        job_id=job.id,
        attempt=attempt,
        started_at=job.status.started_at or utcnow(),
        spec=job.spec,
        ledger=ledger,
        artifacts=artifact_store(settings),
        reporter=reporter,
        settings=settings,
    )
    try:
        result = resolve_task(task_path)(context)
        reporter.flush()
    except ServiceUnavailableError as exc:
        return AttemptOutcome(Ending.UNAVAILABLE, attempt, partial(exc), error=str(exc))
    except RetryableTaskError as exc:
        return AttemptOutcome(Ending.RETRYABLE, attempt, partial(exc), error=str(exc))
    except FatalTaskError as exc:
        return AttemptOutcome(Ending.FAILED, attempt, partial(exc), error=str(exc))
    except Exception as exc:
        log.error("job %s attempt %d failed:\n%s", job.id, attempt, traceback.format_exc())
        return AttemptOutcome(Ending.FAILED, attempt, error=f"{type(exc).__name__}: {exc}")
    finally:
        ledger.dispose()
    dumped = result.model_dump(mode="json")
    if reporter.cancelled():  # the task saw the request and stopped early, or finished anyway
        return AttemptOutcome(Ending.CANCELLED, attempt, result=dumped)
    return AttemptOutcome(Ending.COMPLETED, attempt, result=dumped)


def partial(error: TaskError) -> dict[str, Any] | None:
    """What a failed task says it did (its result model), as the job's ``result``."""
    result = error.partial_result
    return result.model_dump(mode="json") if isinstance(result, BaseModel) else None
