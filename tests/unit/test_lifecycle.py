"""The lifecycle table: every event's phase, reason and message, and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bookkeeper_jobs.errors import TransitionRefusedError
from bookkeeper_jobs.jobs import ConditionType, JobPhase, JobStatus
from bookkeeper_jobs.lifecycle import (
    EVENTS,
    Cancel,
    Complete,
    ConditionReason,
    Event,
    Fail,
    GiveUp,
    Lost,
    Progress,
    Retry,
    RetryPolicy,
    Start,
    TimeOut,
    initial_status,
    lifecycle_table,
    transition,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def started(attempts: int = 1) -> JobStatus:
    status = initial_status(T0)
    for n in range(attempts):
        status = transition(status, Start(), at(n + 1))
        if n + 1 < attempts:
            status = transition(status, Retry(attempt=n + 1, error="locked", delay=2), at(n + 1))
    return status


def true_condition(status: JobStatus) -> tuple[ConditionType, str, str]:
    [only] = [c for c in status.conditions if c.status == "True"]
    return only.type, only.reason, only.message


def test_a_new_job_is_pending_queued_and_unknown() -> None:
    status = initial_status(T0)
    assert (status.phase, status.message, status.attempts) == (JobPhase.PENDING, "Queued", 0)
    assert {(c.status, c.reason) for c in status.conditions} == {("Unknown", "Pending")}


def test_start_counts_the_attempt_and_keeps_the_first_start_time() -> None:
    first = started()
    assert (first.phase, first.attempts, first.message) == (JobPhase.RUNNING, 1, "Started")
    assert first.started_at == at(1)
    assert true_condition(first) == (ConditionType.RUNNING, "Started", "Attempt 1")
    second = started(attempts=2)
    assert (second.attempts, second.message) == (2, "Started attempt 2")
    assert second.started_at == at(1)
    assert second.error is None, "a new attempt clears the last attempt's error"


def test_a_pod_replaced_without_a_word_starts_the_next_attempt_from_running() -> None:
    again = transition(started(), Start(), at(5))
    assert (again.phase, again.attempts) == (JobPhase.RUNNING, 2)


def test_progress_never_goes_back_and_keeps_conditions() -> None:
    status = transition(started(), Progress(attempt=1, progress=60, text="sixty"), at(2))
    lower = transition(status, Progress(attempt=1, progress=30, text="thirty"), at(3))
    assert (lower.progress, lower.message) == (60, "thirty")
    assert lower.conditions == started().conditions


@pytest.mark.parametrize(
    ("event", "phase", "condition", "error"),
    [
        (Complete(attempt=1, result={"n": 1}), JobPhase.COMPLETE, "Succeeded", None),
        (Fail(attempt=1, error="bad file"), JobPhase.FAILED, "Failed", "bad file"),
        (GiveUp(attempt=1, error="locked"), JobPhase.FAILED, "Failed", "locked"),
        (TimeOut(attempt=1, seconds=600), JobPhase.FAILED, "Failed", "timed out after 600 s"),
        (Lost(error="the Job was deleted"), JobPhase.FAILED, "Failed", "the Job was deleted"),
        (Cancel(attempt=1), JobPhase.CANCELLED, "Cancelled", None),
    ],
)
def test_every_ending_sets_phase_condition_error_and_finish_time(
    event: Event, phase: JobPhase, condition: str, error: str | None
) -> None:
    ended = transition(started(), event, at(9))
    assert ended.phase is phase
    kind, reason, message = true_condition(ended)
    assert (kind.value, reason) == (condition, event.RULE.reason)
    assert message == (error or event.RULE.condition_message)
    assert ended.message == event.RULE.message
    assert ended.error == error
    assert ended.finished_at == at(9)


def test_complete_sets_progress_to_100_and_stores_the_result() -> None:
    done = transition(started(), Complete(attempt=1, result={"categorized": 3}), at(2))
    assert (done.progress, done.result) == (100, {"categorized": 3})


def test_a_retry_goes_back_to_pending_with_the_error_and_the_delay() -> None:
    retry = transition(started(), Retry(attempt=1, error="locked", delay=2.5), at(2))
    assert (retry.phase, retry.error) == (JobPhase.PENDING, "locked")
    assert retry.message == "Attempt 1 failed (locked); retrying in 2.5 s"
    assert {(c.status, c.reason) for c in retry.conditions} == {("Unknown", "RetryScheduled")}
    assert retry.finished_at is None


@pytest.mark.parametrize("phase", [JobPhase.COMPLETE, JobPhase.FAILED, JobPhase.CANCELLED])
@pytest.mark.parametrize("event_type", EVENTS)
def test_nothing_leaves_a_terminal_phase(phase: JobPhase, event_type: type[Event]) -> None:
    ended = started().model_copy(update={"phase": phase})
    with pytest.raises(TransitionRefusedError, match=f"job is {phase.value}"):
        transition(ended, example(event_type), at(9))


def test_a_stale_attempt_cannot_write() -> None:
    second = started(attempts=2)
    for event in (
        Progress(attempt=1, progress=90, text="late"),
        Complete(attempt=1, result={}),
        Fail(attempt=1, error="late"),
        Cancel(attempt=1),
    ):
        with pytest.raises(TransitionRefusedError, match="attempt 1 is no longer current"):
            transition(second, event, at(9))


def test_only_a_running_job_completes_fails_or_reports_progress() -> None:
    pending = initial_status(T0)
    for event_type in (Progress, Complete, Fail, Retry):
        with pytest.raises(TransitionRefusedError, match="job is pending"):
            transition(pending, example(event_type), at(1))
    assert transition(pending, Cancel(), at(1)).phase is JobPhase.CANCELLED
    assert transition(pending, TimeOut(seconds=5), at(1)).phase is JobPhase.FAILED


def test_retry_policy_retries_with_doubling_backoff_then_gives_up() -> None:
    policy = RetryPolicy(max_attempts=3, backoff=2, backoff_max=5)
    assert policy.after_failure(1, "x") == Retry(attempt=1, error="x", delay=2)
    assert policy.after_failure(2, "x") == Retry(attempt=2, error="x", delay=4)
    assert policy.after_failure(3, "x") == GiveUp(attempt=3, error="x")
    assert policy.delay(10) == 5


def test_every_reason_is_used_by_some_event() -> None:
    used = {event.RULE.reason for event in EVENTS if event.RULE.reason} | {ConditionReason.PENDING}
    assert used == set(ConditionReason)


def test_the_architecture_doc_shows_the_table_the_code_has() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert lifecycle_table() in doc, (
        "docs/architecture.md's lifecycle table differs from the code: paste the output of "
        "`python -m bookkeeper_jobs.lifecycle`"
    )


def example(event_type: type[Event]) -> Event:
    """One instance of each event type (with attempt 1 where it takes one)."""
    examples: dict[type[Event], Event] = {
        Start: Start(),
        Progress: Progress(attempt=1, progress=50, text="half"),
        Complete: Complete(attempt=1, result={}),
        Fail: Fail(attempt=1, error="bad"),
        Retry: Retry(attempt=1, error="locked", delay=1),
        GiveUp: GiveUp(attempt=1, error="locked"),
        TimeOut: TimeOut(attempt=1, seconds=1),
        Lost: Lost(error="gone"),
        Cancel: Cancel(attempt=1),
    }
    return examples[event_type]


def test_messages_and_errors_that_quote_user_data_are_bounded() -> None:
    cell = "x" * 131_072  # a 128 KiB CSV cell quoted by an error
    failed = transition(started(), Fail(attempt=1, error=f"line 2: {cell}"), at(2))
    assert failed.error is not None and len(failed.error) <= 2000
    assert failed.error.startswith("line 2: xxx") and failed.error.endswith("more characters)")
    assert all(len(c.message) <= 2000 for c in failed.conditions)
    busy = transition(started(), Progress(attempt=1, progress=5, text=cell), at(2))
    assert len(busy.message) <= 500
    short = transition(started(), Fail(attempt=1, error="bad file"), at(2))
    assert short.error == "bad file"


def test_an_outage_gets_a_longer_budget_with_capped_waits() -> None:
    policy = RetryPolicy(max_attempts=3, backoff=2, outage_attempts=10, outage_backoff_max=30)
    assert policy.after_failure(3, "db down", outage=True) == Retry(
        attempt=3, error="db down", delay=8
    )
    assert policy.after_failure(7, "db down", outage=True) == Retry(
        attempt=7, error="db down", delay=30
    )
    assert policy.after_failure(10, "db down", outage=True) == GiveUp(attempt=10, error="db down")
    assert policy.after_failure(3, "locked") == GiveUp(attempt=3, error="locked")
