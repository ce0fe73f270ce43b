"""The JobStore contract: every backend must pass these (``make_backend`` is parametrized
over the backends in ``conftest.BACKENDS``).

Each lifecycle transition is asserted exactly (phase, the condition that became True, its
reason and message, the job's message), so the two modes cannot drift apart: the reasons
and messages are the ones the lifecycle table in ``docs/architecture.md`` lists."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bookkeeper_jobs.errors import (
    IdempotencyConflictError,
    InvalidCursorError,
    JobNotFoundError,
    JobStateError,
)
from bookkeeper_jobs.jobs import CategorizeSpec, ConditionType, Job, JobPhase
from bookkeeper_jobs.lifecycle import ConditionReason

from .conftest import Backend, finished, wait_for


def spec(scenario: str, *, tenant: str = "t1", n: int = 100) -> CategorizeSpec:
    return CategorizeSpec(company_id=scenario, tenant_id=tenant, limit=n)


def condition(job: Job, kind: ConditionType) -> str:
    return next(c.status for c in job.status.conditions if c.type is kind)


def assert_transition(
    job: Job, kind: ConditionType, reason: ConditionReason, condition_message: str, message: str
) -> None:
    """``kind`` is the one True condition, with ``reason`` and ``condition_message``; the
    job says ``message``."""
    true = [c for c in job.status.conditions if c.status == "True"]
    assert [(c.type, c.reason, c.message) for c in true] == [(kind, reason, condition_message)]
    assert {c.status for c in job.status.conditions if c.type is not kind} == {"False"}
    assert job.status.message == message


def test_submit_creates_a_pending_job_with_unknown_conditions(backend: Backend) -> None:
    before = datetime.now(UTC)
    submission = backend.store.submit(spec("ok"))
    job = submission.job
    assert submission.created
    assert job.status.phase is JobPhase.PENDING
    assert job.status.progress == 0
    assert job.status.attempts == 0
    assert job.status.started_at is None and job.status.finished_at is None
    assert before - timedelta(seconds=1) <= job.status.created_at <= datetime.now(UTC)
    assert job.status.created_at.utcoffset() == timedelta(0)
    assert {c.type for c in job.status.conditions} == set(ConditionType)
    assert all(c.status == "Unknown" for c in job.status.conditions)
    assert {c.reason for c in job.status.conditions} == {ConditionReason.PENDING}
    assert job.status.message == "Queued"
    assert backend.store.get(job.id) == job


def test_a_job_runs_to_complete_with_result(backend: Backend) -> None:
    job_id = backend.store.submit(spec("ok")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished)
    assert job.status.phase is JobPhase.COMPLETE
    assert job.status.progress == 100
    assert job.status.result == {"steps": 10, "attempt": 1}
    assert job.status.error is None
    assert job.status.attempts == 1
    assert job.status.started_at is not None and job.status.finished_at is not None
    assert job.status.created_at <= job.status.started_at <= job.status.finished_at
    assert_transition(
        job, ConditionType.SUCCEEDED, ConditionReason.COMPLETED, "Complete", "Complete"
    )


def test_a_running_job_says_which_attempt_started(backend: Backend) -> None:
    job_id = backend.store.submit(spec("slow")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, lambda j: j.status.phase is JobPhase.RUNNING)
    running = next(c for c in job.status.conditions if c.type is ConditionType.RUNNING)
    assert (running.status, running.reason, running.message) == ("True", "Started", "Attempt 1")
    assert job.status.started_at is not None and job.status.finished_at is None


def test_progress_never_decreases_while_running(backend: Backend) -> None:
    job_id = backend.store.submit(spec("slow")).job.id
    backend.start_workers()
    seen: list[int] = []
    while not finished(job := wait_for(backend.store, job_id, lambda _: True)):
        seen.append(job.status.progress)
        time.sleep(0.05)
    seen.append(job.status.progress)
    assert seen == sorted(seen)
    assert len(set(seen)) > 5, "progress was reported along the way, not only at the end"
    assert seen[-1] == 100


def test_a_fatal_error_fails_the_job_and_says_why(backend: Backend) -> None:
    job_id = backend.store.submit(spec("fatal")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished)
    assert job.status.phase is JobPhase.FAILED
    assert job.status.error == "the statement has no usable rows"
    assert job.status.attempts == 1
    assert_transition(
        job,
        ConditionType.FAILED,
        ConditionReason.TASK_FAILED,
        "the statement has no usable rows",
        "Failed",
    )


def test_an_unexpected_exception_fails_the_job_with_its_type(backend: Backend) -> None:
    job_id = backend.store.submit(spec("boom")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished)
    assert job.status.phase is JobPhase.FAILED
    assert job.status.error == "KeyError: 'unexpected'"
    assert_transition(
        job, ConditionType.FAILED, ConditionReason.TASK_FAILED, job.status.error, "Failed"
    )


def test_a_retryable_error_is_retried_then_succeeds(backend: Backend) -> None:
    job_id = backend.store.submit(spec("flaky")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished)
    assert job.status.phase is JobPhase.COMPLETE
    assert job.status.attempts == 3
    assert job.status.result == {"attempt": 3}
    assert job.status.error is None
    assert_transition(
        job, ConditionType.SUCCEEDED, ConditionReason.COMPLETED, "Complete", "Complete"
    )


def test_a_retry_waits_in_pending_and_says_why(make_backend: Callable[..., Backend]) -> None:
    backend = make_backend(retry_backoff=3.0)
    job_id = backend.store.submit(spec("flaky")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, lambda j: j.status.attempts == 1 and not running(j))
    assert job.status.phase is JobPhase.PENDING
    assert job.status.error == "database is locked (attempt 1)"
    assert job.status.message.startswith("Attempt 1 failed (database is locked (attempt 1));")
    assert {c.reason for c in job.status.conditions} == {ConditionReason.RETRY_SCHEDULED}
    assert {c.status for c in job.status.conditions} == {"Unknown"}


def running(job: Job) -> bool:
    return job.status.phase is JobPhase.RUNNING


def test_retries_stop_after_max_attempts(backend: Backend) -> None:
    job_id = backend.store.submit(spec("always-retryable")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished)
    assert job.status.phase is JobPhase.FAILED
    assert job.status.attempts == 3
    assert job.status.error == "service unavailable"
    assert_transition(
        job,
        ConditionType.FAILED,
        ConditionReason.RETRIES_EXHAUSTED,
        "service unavailable",
        "Failed",
    )


def test_a_run_longer_than_the_timeout_is_stopped_and_failed(
    make_backend: Callable[..., Backend],
) -> None:
    backend = make_backend(job_timeout=2.0, job_max_attempts=1)
    job_id = backend.store.submit(spec("hang")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished)
    assert job.status.phase is JobPhase.FAILED
    assert job.status.error == "timed out after 2 s"
    assert_transition(
        job,
        ConditionType.FAILED,
        ConditionReason.DEADLINE_EXCEEDED,
        "timed out after 2 s",
        "Failed",
    )


def test_cancel_a_pending_job(backend: Backend) -> None:
    job_id = backend.store.submit(spec("ok")).job.id
    backend.store.cancel(job_id)
    job = wait_for(backend.store, job_id, finished, timeout=5)
    assert job.status.phase is JobPhase.CANCELLED
    assert job.status.finished_at is not None
    assert_transition(
        job, ConditionType.CANCELLED, ConditionReason.CANCELLED, "Cancelled by request", "Cancelled"
    )
    backend.start_workers()
    time.sleep(1)
    after = backend.store.get(job_id)
    assert after is not None and after.status == job.status, "a cancelled job never runs"
    with pytest.raises(JobStateError):
        backend.store.cancel(job_id)


def test_cancel_a_running_job_stops_it_within_two_seconds(backend: Backend) -> None:
    job_id = backend.store.submit(spec("slow")).job.id
    backend.start_workers()
    wait_for(backend.store, job_id, lambda j: j.status.progress >= 5)
    asked = time.monotonic()
    backend.store.cancel(job_id)
    job = wait_for(backend.store, job_id, finished, timeout=5)
    assert time.monotonic() - asked < 2.0
    assert job.status.phase is JobPhase.CANCELLED
    assert_transition(
        job, ConditionType.CANCELLED, ConditionReason.CANCELLED, "Cancelled by request", "Cancelled"
    )
    progress = job.status.progress
    time.sleep(1.5)
    after = backend.store.get(job_id)
    assert after is not None and after.status.progress == progress, "the task really stopped"


def test_cancel_an_unknown_job_is_not_found(backend: Backend) -> None:
    with pytest.raises(JobNotFoundError):
        backend.store.cancel("job-00000000000000000000")


def test_a_crashed_task_process_is_retried(backend: Backend) -> None:
    job_id = backend.store.submit(spec("crash-once")).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished)
    assert job.status.phase is JobPhase.COMPLETE
    assert job.status.attempts == 2


def test_jobs_of_a_dead_worker_are_retried_after_restart(backend: Backend) -> None:
    job_id = backend.store.submit(spec("slow")).job.id
    backend.start_workers()
    wait_for(backend.store, job_id, lambda j: j.status.progress >= 3)
    backend.crash_workers()
    stuck = backend.store.get(job_id)
    assert stuck is not None and stuck.status.phase is JobPhase.RUNNING
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished, timeout=30)
    assert job.status.phase is JobPhase.COMPLETE
    assert job.status.attempts == 2


def test_each_job_runs_exactly_once_across_workers(backend: Backend) -> None:
    job_ids = [backend.store.submit(spec("ok", n=n)).job.id for n in range(1, 9)]
    backend.start_workers()
    jobs = [wait_for(backend.store, job_id, finished) for job_id in job_ids]
    assert [j.status.phase for j in jobs] == [JobPhase.COMPLETE] * 8
    assert [j.status.result for j in jobs] == [{"steps": 10, "attempt": 1}] * 8


def test_sweep_deletes_only_jobs_finished_before_the_cutoff(backend: Backend) -> None:
    done = backend.store.submit(spec("ok")).job.id
    waiting = backend.store.submit(spec("fatal")).job.id
    backend.store.cancel(done)
    wait_for(backend.store, done, finished, timeout=5)
    assert backend.sweep(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert backend.sweep(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert backend.store.get(done) is None
    assert backend.store.get(waiting) is not None


def test_idempotency_key_returns_the_same_job_for_the_same_request(backend: Backend) -> None:
    first = backend.store.submit(spec("ok"), idempotency_key="k1", request_fingerprint="a")
    again = backend.store.submit(spec("ok"), idempotency_key="k1", request_fingerprint="a")
    assert first.created and not again.created
    assert again.job.id == first.job.id
    with pytest.raises(IdempotencyConflictError):
        backend.store.submit(spec("ok"), idempotency_key="k1", request_fingerprint="b")
    other_tenant = backend.store.submit(
        spec("ok", tenant="t2"), idempotency_key="k1", request_fingerprint="a"
    )
    assert other_tenant.created and other_tenant.job.id != first.job.id


def test_company_listing_is_newest_first_and_pages_with_a_cursor(backend: Backend) -> None:
    ids = [backend.store.submit(spec("ok", n=n)).job.id for n in range(1, 6)]
    backend.store.submit(spec("fatal"))
    first = backend.store.list_company("t1", "ok", limit=2)
    assert [j.id for j in first.jobs] == ids[::-1][:2]
    assert first.next_cursor is not None
    second = backend.store.list_company("t1", "ok", limit=2, cursor=first.next_cursor)
    third = backend.store.list_company("t1", "ok", limit=2, cursor=second.next_cursor)
    assert [j.id for j in second.jobs + third.jobs] == ids[::-1][2:]
    assert third.next_cursor is None


def test_a_listing_never_shows_or_pages_over_another_tenants_jobs(backend: Backend) -> None:
    """Two tenants whose grants name the same company id: each lists only its own jobs, in
    full pages, and no cursor carries the other tenant's jobs."""
    mine = [backend.store.submit(spec("shared", n=n)).job.id for n in range(1, 4)]
    theirs = {backend.store.submit(spec("shared", tenant="t2", n=n)).job.id for n in range(1, 7)}
    listed, cursor, pages = [], None, 0
    while True:
        page = backend.store.list_company("t1", "shared", limit=2, cursor=cursor)
        pages += 1
        assert page.jobs, "no empty page with a cursor"
        listed += [job.id for job in page.jobs]
        if (cursor := page.next_cursor) is None:
            break
    assert listed == mine[::-1] and pages == 2
    assert not theirs & set(listed)
    assert {j.id for j in backend.store.list_company("t2", "shared", limit=10).jobs} == theirs


def test_a_cursor_is_opaque_and_only_pages_its_own_listing(backend: Backend) -> None:
    for n in range(1, 4):
        backend.store.submit(spec("shared", n=n))
        backend.store.submit(spec("shared", tenant="t2", n=n))
    cursor = backend.store.list_company("t1", "shared", limit=1).next_cursor
    assert cursor is not None
    other = backend.store.list_company("t2", "shared", limit=1).next_cursor
    assert other is not None
    for foreign in (cursor, "bm90LWEtam9i", "%%%"):  # its own, a made-up one, garbage
        with pytest.raises(InvalidCursorError):
            backend.store.list_company("t2", "shared", cursor=foreign)
    with pytest.raises(InvalidCursorError):
        backend.store.list_company("t1", "shared", cursor=other)


async def test_watch_yields_each_change_and_ends_after_the_terminal_one(
    backend: Backend,
) -> None:
    job_id = backend.store.submit(spec("ok")).job.id
    backend.start_workers()
    phases = [job.status.phase async for job in backend.store.watch(job_id)]
    assert phases[0] in (JobPhase.PENDING, JobPhase.RUNNING)
    assert phases[-1] is JobPhase.COMPLETE
    assert phases.count(JobPhase.COMPLETE) == 1
