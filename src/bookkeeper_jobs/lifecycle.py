"""The job lifecycle, written once: pure transitions on a :class:`JobStatus`.

Every change of a job's status in either mode is one of the events below, applied by
:func:`transition`. The backends only persist what it returns: the embedded store as one
UPDATE guarded by the row's version, the cluster as a status patch guarded by the
resourceVersion it read (``bookkeeper_jobs.status_writes``, shared by the operator and the
task container). So the same event gives the same phase, condition reason and message in
both modes, and a transition the table does not allow (anything from a terminal phase, a
stale attempt writing after a newer one started) is refused everywhere.

``python -m bookkeeper_jobs.lifecycle`` prints the table that ``docs/architecture.md``
shows; a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Literal

from bookkeeper_jobs.errors import TransitionRefusedError
from bookkeeper_jobs.jobs import Condition, ConditionType, JobPhase, JobStatus

ACTIVE = frozenset({JobPhase.PENDING, JobPhase.RUNNING})
RUNNING = frozenset({JobPhase.RUNNING})


class ConditionReason(StrEnum):
    """The ``reason`` of the condition a transition sets (CamelCase, as Kubernetes wants)."""

    PENDING = "Pending"
    STARTED = "Started"
    COMPLETED = "Completed"
    TASK_FAILED = "TaskFailed"
    RETRY_SCHEDULED = "RetryScheduled"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    CANCELLED = "Cancelled"
    ATTEMPT_LOST = "AttemptLost"


class TaskExit(IntEnum):
    """Exit codes of a task process (``bkjobs task run``), read by the Job's
    ``podFailurePolicy``: a retryable error exits ``RETRY`` so the Job's backoff retries the
    pod; an ending the task already recorded (failed for good) exits ``FINAL`` so the Job
    fails at once even if that status write was lost. Anything else (a crash, OOM) is
    retried by the Job's backoff like ``RETRY``."""

    DONE = 0
    RETRY = 1
    FINAL = 3


@dataclass(frozen=True)
class Rule:
    """One row of the lifecycle table."""

    sources: frozenset[JobPhase]
    target: JobPhase | None
    """``None``: the phase stays what it was."""
    reason: ConditionReason | None
    """``None``: the conditions stay as they are."""
    message: str
    """The job's ``message`` afterwards (``{…}`` parts come from the event)."""
    condition_message: str = ""
    """The message of the condition that becomes True."""
    when: str = ""
    """Who sends the event and why, in each mode (for the table)."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """A lifecycle event. ``attempt`` (when given) must be the job's current attempt:
    a worker or pod that lost its attempt can no longer change the job."""

    RULE: ClassVar[Rule]
    attempt: int | None = None

    def message(self, status: JobStatus) -> str:
        return self.RULE.message

    def condition_message(self, status: JobStatus) -> str:
        return self.RULE.condition_message

    def changes(self, status: JobStatus, now: datetime) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class Start(Event):
    """A worker or pod starts the next attempt (from ``running`` when the previous attempt
    ended without a word: a killed pod the Job controller replaced)."""

    RULE = Rule(
        ACTIVE,
        JobPhase.RUNNING,
        ConditionReason.STARTED,
        "Started (from attempt 2: Started attempt {n})",
        "Attempt {n}",
        when="a worker claims the job (embedded); the Job's pod starts (cluster)",
    )

    def message(self, status: JobStatus) -> str:
        n = status.attempts + 1
        return "Started" if n == 1 else f"Started attempt {n}"

    def condition_message(self, status: JobStatus) -> str:
        return f"Attempt {status.attempts + 1}"

    def changes(self, status: JobStatus, now: datetime) -> dict[str, Any]:
        return {
            "attempts": status.attempts + 1,
            "started_at": status.started_at or now,
            "error": None,
        }


@dataclass(frozen=True, kw_only=True)
class Progress(Event):
    """The task reported progress; it never goes back."""

    RULE = Rule(
        RUNNING,
        None,
        None,
        "{the task's message}",
        when="the task reports progress (coalesced: each step, at most 2 a second, else every 5 s)",
    )
    progress: int
    text: str

    def message(self, status: JobStatus) -> str:
        return self.text

    def changes(self, status: JobStatus, now: datetime) -> dict[str, Any]:
        return {"progress": max(status.progress, min(100, max(0, self.progress)))}


@dataclass(frozen=True, kw_only=True)
class Complete(Event):
    RULE = Rule(
        RUNNING,
        JobPhase.COMPLETE,
        ConditionReason.COMPLETED,
        "Complete",
        "Complete",
        when="the task returned its result",
    )
    result: dict[str, Any]

    def changes(self, status: JobStatus, now: datetime) -> dict[str, Any]:
        return {"progress": 100, "result": self.result, "error": None, "finished_at": now}


@dataclass(frozen=True, kw_only=True)
class _Failure(Event):
    """Failed for good; the condition's message is the error. ``result`` says what the task
    did before it failed, when it can (an import whose categorizing failed)."""

    error: str
    result: dict[str, Any] | None = None

    def condition_message(self, status: JobStatus) -> str:
        return self.error

    def changes(self, status: JobStatus, now: datetime) -> dict[str, Any]:
        return {"error": self.error, "finished_at": now, "result": self.result}


@dataclass(frozen=True, kw_only=True)
class Fail(_Failure):
    """A fatal task error (or an unexpected exception): retrying cannot help."""

    RULE = Rule(
        RUNNING,
        JobPhase.FAILED,
        ConditionReason.TASK_FAILED,
        "Failed",
        "{error}",
        when="the task raised FatalTaskError or an unexpected exception",
    )


@dataclass(frozen=True, kw_only=True)
class GiveUp(_Failure):
    """A retryable error (or a lost attempt) when no attempt is left."""

    RULE = Rule(
        ACTIVE,
        JobPhase.FAILED,
        ConditionReason.RETRIES_EXHAUSTED,
        "Failed",
        "{error}",
        when="the same on the last attempt; in a cluster also the Job's BackoffLimitExceeded",
    )


@dataclass(frozen=True, kw_only=True)
class TimeOut(Event):
    """The attempt (embedded) or the Job (cluster) ran past its deadline."""

    RULE = Rule(
        ACTIVE,
        JobPhase.FAILED,
        ConditionReason.DEADLINE_EXCEEDED,
        "Failed",
        "timed out after {seconds} s",
        when="the attempt passed BKJOBS_JOB_TIMEOUT (embedded); the Job's DeadlineExceeded",
    )
    seconds: float

    @property
    def error(self) -> str:
        return f"timed out after {self.seconds:g} s"

    def condition_message(self, status: JobStatus) -> str:
        return self.error

    def changes(self, status: JobStatus, now: datetime) -> dict[str, Any]:
        return {"error": self.error, "finished_at": now}


@dataclass(frozen=True, kw_only=True)
class Lost(_Failure):
    """What ran the job is gone and will not come back (its Job was deleted, or ended
    without the task reporting a result)."""

    RULE = Rule(
        ACTIVE,
        JobPhase.FAILED,
        ConditionReason.ATTEMPT_LOST,
        "Failed",
        "{error}",
        when="cluster: the Job was deleted, or ended without the task's result",
    )


@dataclass(frozen=True, kw_only=True)
class Retry(Event):
    """A retryable error (or a lost attempt) while attempts remain: back to ``pending``
    until the backoff ``delay`` has passed. The error stays in ``error`` meanwhile."""

    RULE = Rule(
        RUNNING,
        JobPhase.PENDING,
        ConditionReason.RETRY_SCHEDULED,
        "Attempt {n} failed ({error}); retrying in {delay} s",
        "Attempt {n} failed ({error}); retrying in {delay} s",
        when="a retryable error or a crashed/lost attempt, attempts left",
    )
    error: str
    delay: float

    def message(self, status: JobStatus) -> str:
        return f"Attempt {status.attempts} failed ({self.error}); retrying in {self.delay:g} s"

    def condition_message(self, status: JobStatus) -> str:
        return self.message(status)

    def changes(self, status: JobStatus, now: datetime) -> dict[str, Any]:
        return {"error": self.error}


@dataclass(frozen=True, kw_only=True)
class Cancel(Event):
    """Cancelled by request: at once while pending, once the task stopped while running."""

    RULE = Rule(
        ACTIVE,
        JobPhase.CANCELLED,
        ConditionReason.CANCELLED,
        "Cancelled",
        "Cancelled by request",
        when="cancel of a pending job; a running one once its task stopped",
    )
    result: dict[str, Any] | None = None
    """What the task did before it stopped, when it returned that."""

    def changes(self, status: JobStatus, now: datetime) -> dict[str, Any]:
        return {"finished_at": now, "result": self.result}


EVENTS: tuple[type[Event], ...] = (
    Start,
    Progress,
    Complete,
    Fail,
    Retry,
    GiveUp,
    TimeOut,
    Lost,
    Cancel,
)


def initial_status(created_at: datetime, *, now: datetime | None = None) -> JobStatus:
    """A new job: ``pending``, "Queued", every condition ``Unknown`` (since ``now``)."""
    return JobStatus(
        created_at=created_at, message="Queued", conditions=initial_conditions(now or created_at)
    )


def initial_conditions(now: datetime) -> list[Condition]:
    return [
        Condition(
            type=kind, status="Unknown", reason=ConditionReason.PENDING, last_transition_time=now
        )
        for kind in ConditionType
    ]


def transition(status: JobStatus, event: Event, now: datetime) -> JobStatus:
    """The status after ``event``; raises :class:`TransitionRefusedError` where the table
    does not allow it (a terminal phase, a phase the event does not start from, or an
    ``attempt`` that is not the job's current one)."""
    rule = event.RULE
    if status.phase not in rule.sources:
        raise TransitionRefusedError(f"{type(event).__name__} refused: job is {status.phase}")
    if event.attempt is not None and event.attempt != status.attempts:
        raise TransitionRefusedError(
            f"{type(event).__name__} refused: attempt {event.attempt} is no longer current"
            f" (attempt {status.attempts})"
        )
    update = {"message": event.message(status), **event.changes(status, now)}
    update["message"] = bounded(update["message"], MAX_MESSAGE_CHARS)
    if update.get("error"):
        update["error"] = bounded(update["error"], MAX_ERROR_CHARS)
    if rule.target is not None:
        update["phase"] = rule.target
    if rule.reason is not None:
        update["conditions"] = _conditions(
            status.conditions,
            rule.target or status.phase,
            rule.reason,
            bounded(event.condition_message(status), MAX_ERROR_CHARS),
            now,
        )
    return status.model_copy(update=update)


MAX_MESSAGE_CHARS = 500
MAX_ERROR_CHARS = 2000
"""Messages and errors quote user data (file names, CSV cells): bounded, so that every poll
of a job stays small and a resource stays far below the API server's size limits."""


def bounded(text: str, limit: int) -> str:
    """``text``, or its start and how much was left out when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    keep = limit - 40
    return f"{text[:keep]}… ({len(text) - keep} more characters)"


def _conditions(
    conditions: list[Condition],
    phase: JobPhase,
    reason: ConditionReason,
    message: str,
    now: datetime,
) -> list[Condition]:
    """Conditions after entering ``phase``; unchanged ones keep their transition time."""
    true_for = {
        JobPhase.RUNNING: ConditionType.RUNNING,
        JobPhase.COMPLETE: ConditionType.SUCCEEDED,
        JobPhase.FAILED: ConditionType.FAILED,
        JobPhase.CANCELLED: ConditionType.CANCELLED,
    }
    current = {c.type: c for c in conditions}
    updated = []
    for kind in ConditionType:
        wanted: Literal["True", "False", "Unknown"] = (
            "Unknown"
            if phase is JobPhase.PENDING
            else "True"
            if true_for[phase] is kind
            else "False"
        )
        old = current.get(kind)
        if old is not None and old.status == wanted:
            updated.append(old)
            continue
        updated.append(
            Condition(
                type=kind,
                status=wanted,
                reason=reason,
                message=message if wanted == "True" or phase is JobPhase.PENDING else "",
                last_transition_time=now,
            )
        )
    return updated


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a job gets and how long to wait between them.

    A task's own retryable error gets ``max_attempts``; an outage of what it needs (the
    ledger database down: ``ServiceUnavailableError``) gets ``outage_attempts`` with waits
    of at most ``outage_backoff_max``, so a job rides out a restart of the database
    (2, 4, 8, 16 s, then 30 s five times: about three minutes with the defaults)."""

    max_attempts: int = 3
    backoff: float = 2.0
    backoff_max: float = 300.0
    outage_attempts: int = 10
    outage_backoff_max: float = 30.0

    def delay(self, attempt: int, *, outage: bool = False) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = self.outage_backoff_max if outage else self.backoff_max
        return float(min(ceiling, self.backoff * 2 ** (attempt - 1)))

    def after_failure(self, attempt: int, error: str, *, outage: bool = False) -> Retry | GiveUp:
        """``Retry`` while attempts remain, else ``GiveUp``."""
        if attempt < max(self.max_attempts, self.outage_attempts if outage else 0):
            return Retry(attempt=attempt, error=error, delay=self.delay(attempt, outage=outage))
        return GiveUp(attempt=attempt, error=error)


KUBERNETES_POD_BACKOFF = 10.0
"""The Job controller waits 10 s after a pod's first failure, doubling, at most 6 min."""
KUBERNETES_POD_BACKOFF_MAX = 360.0


def lifecycle_table() -> str:
    """The lifecycle as the markdown table ``docs/architecture.md`` shows."""
    rows = [
        "| event | when | from | to | condition reason | message | condition message |",
        "|---|---|---|---|---|---|---|",
    ]
    for event in EVENTS:
        rule = event.RULE
        sources = ", ".join(p.value for p in JobPhase if p in rule.sources)
        target = rule.target.value if rule.target else "(same)"
        reason = f"`{rule.reason.value}`" if rule.reason else "(unchanged)"
        rows.append(
            f"| {event.__name__} | {rule.when} | {sources} | {target} | {reason} "
            f"| {rule.message} | {rule.condition_message} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(lifecycle_table(), end="")
