"""The attempt runner: how a task's ending becomes an outcome, a lifecycle event and an exit
code, the same for the embedded worker and the task container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bookkeeper_jobs.errors import FatalTaskError, RetryableTaskError, ServiceUnavailableError
from bookkeeper_jobs.jobs import CategorizeSpec, Job, utcnow
from bookkeeper_jobs.lifecycle import (
    Cancel,
    Complete,
    Fail,
    GiveUp,
    Retry,
    RetryPolicy,
    TaskExit,
    initial_status,
)
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext
from bookkeeper_jobs.tasks.runner import AttemptOutcome, Ending, exit_code, run_attempt

HERE = "tests.unit.tasks.test_runner"
POLICY = RetryPolicy(max_attempts=3, backoff=2)


class Counted(BaseModel):
    steps: int


def completes(context: TaskContext[Any]) -> Counted:
    for step in range(1, 5):
        context.reporter.update(step * 25, f"step {step}")
    return Counted(steps=4)


def locked(context: TaskContext[Any]) -> Counted:
    raise RetryableTaskError("database is locked")


def database_down(context: TaskContext[Any]) -> Counted:
    raise ServiceUnavailableError("ledger database unavailable: connection refused")


def bad_input(context: TaskContext[Any]) -> Counted:
    raise FatalTaskError("the statement has no usable rows")


def crashes(context: TaskContext[Any]) -> Counted:
    return {"not": "a model"}["missing"]  # type: ignore[return-value]


class Sink:
    def __init__(self, cancel: bool = False) -> None:
        self.writes: list[tuple[int, str]] = []
        self.cancel = cancel

    def write_progress(self, progress: int, message: str) -> None:
        self.writes.append((progress, message))

    def cancel_requested(self) -> bool:
        return self.cancel


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, environment="test")


def run(task: str, settings: Settings, sink: Sink | None = None) -> AttemptOutcome:
    job = Job(
        id="job-00000000000000000001",
        spec=CategorizeSpec(company_id="c1", tenant_id="t1"),
        status=initial_status(utcnow()),
    )
    return run_attempt(job, 2, f"{HERE}:{task}", settings, sink or Sink())


def test_a_result_model_is_stored_as_json_and_progress_reaches_the_sink(
    settings: Settings,
) -> None:
    sink = Sink()
    outcome = run("completes", settings, sink)
    assert outcome == AttemptOutcome(Ending.COMPLETED, 2, result={"steps": 4})
    assert sink.writes[-1] == (100, "step 4")
    assert outcome.event(POLICY) == Complete(attempt=2, result={"steps": 4})


def test_errors_are_sorted_into_retryable_fatal_and_unexpected(settings: Settings) -> None:
    assert run("locked", settings) == AttemptOutcome(
        Ending.RETRYABLE, 2, error="database is locked"
    )
    assert run("bad_input", settings) == AttemptOutcome(
        Ending.FAILED, 2, error="the statement has no usable rows"
    )
    assert run("crashes", settings) == AttemptOutcome(Ending.FAILED, 2, error="KeyError: 'missing'")


def test_an_outage_is_retried_past_the_task_error_budget(settings: Settings) -> None:
    outcome = run("database_down", settings)
    assert outcome.ending is Ending.UNAVAILABLE
    late = AttemptOutcome(Ending.UNAVAILABLE, 3, error="down")
    assert late.event(POLICY) == Retry(attempt=3, error="down", delay=8)
    assert AttemptOutcome(Ending.RETRYABLE, 3, error="locked").event(POLICY) == GiveUp(
        attempt=3, error="locked"
    )


def test_a_cancel_seen_by_the_end_is_a_cancellation(settings: Settings) -> None:
    outcome = run("completes", settings, Sink(cancel=True))
    assert outcome == AttemptOutcome(Ending.CANCELLED, 2, result={"steps": 4})
    assert outcome.event(POLICY) == Cancel(attempt=2, result={"steps": 4}), "what it did stays"


@pytest.mark.parametrize(
    ("outcome", "event", "code"),
    [
        (AttemptOutcome(Ending.COMPLETED, 1, result={}), Complete(attempt=1, result={}), 0),
        (AttemptOutcome(Ending.CANCELLED, 1), Cancel(attempt=1), 0),
        (
            AttemptOutcome(Ending.FAILED, 1, result={"rows": 7}, error="bad"),
            Fail(attempt=1, error="bad", result={"rows": 7}),
            3,
        ),
        (AttemptOutcome(Ending.FAILED, 1, error="bad"), Fail(attempt=1, error="bad"), 3),
        (
            AttemptOutcome(Ending.RETRYABLE, 2, error="locked"),
            Retry(attempt=2, error="locked", delay=4),
            1,
        ),
        (AttemptOutcome(Ending.RETRYABLE, 3, error="locked"), GiveUp(attempt=3, error="locked"), 3),
    ],
)
def test_outcome_event_and_exit_code(outcome: AttemptOutcome, event: Any, code: int) -> None:
    assert outcome.event(POLICY) == event
    assert exit_code(event) == TaskExit(code)
