"""What only the embedded store does: guarded worker writes, artifact cleanup, leases."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from bookkeeper_jobs.api.store.local import LocalJobStore, SQLiteDatabase
from bookkeeper_jobs.api.store.local_lifecycle import JobLifecycle, Lease
from bookkeeper_jobs.errors import InvalidCursorError
from bookkeeper_jobs.jobs import CategorizeSpec, JobPhase, UploadAndCategorizeSpec
from bookkeeper_jobs.lifecycle import Cancel, Complete, Progress, RetryPolicy
from bookkeeper_jobs.start_order import StartOrder


def make(tmp_path: Path, deleted: list[str] | None = None) -> tuple[LocalJobStore, JobLifecycle]:
    sink = deleted if deleted is not None else []
    store = LocalJobStore(tmp_path / "jobs.db", delete_artifact=sink.append)
    return store, JobLifecycle(store.db, RetryPolicy(max_attempts=2, backoff=0))


def test_progress_writes_never_lower_progress(tmp_path: Path) -> None:
    store, lifecycle = make(tmp_path)
    job_id = store.submit(CategorizeSpec(company_id="c1", tenant_id="t1")).job.id
    claim = lifecycle.claim_next("w", 10)
    assert claim is not None
    lifecycle.record(job_id, Progress(attempt=claim.attempt, progress=60, text="sixty"))
    lifecycle.record(job_id, Progress(attempt=claim.attempt, progress=30, text="thirty"))
    job = store.get(job_id)
    assert job is not None
    assert (job.status.progress, job.status.message) == (60, "thirty")


def test_a_worker_that_lost_its_attempt_cannot_write(tmp_path: Path) -> None:
    store, lifecycle = make(tmp_path)
    job_id = store.submit(CategorizeSpec(company_id="c1", tenant_id="t1")).job.id
    first = lifecycle.claim_next("w1", 10)
    assert first is not None
    store.cancel(job_id)
    assert lifecycle.record(job_id, Cancel(attempt=first.attempt)) is not None
    late = Progress(attempt=first.attempt, progress=90, text="late")
    assert lifecycle.record(job_id, late) is None
    assert lifecycle.record(job_id, Complete(attempt=first.attempt, result={"late": 1})) is None
    job = store.get(job_id)
    assert job is not None
    assert job.status.phase is JobPhase.CANCELLED
    assert job.status.progress == 0
    assert job.status.result is None


def test_only_one_claim_wins(tmp_path: Path) -> None:
    store, lifecycle = make(tmp_path)
    store.submit(CategorizeSpec(company_id="c1", tenant_id="t1"))
    assert lifecycle.claim_next("w1", 10) is not None
    assert lifecycle.claim_next("w2", 10) is None


def claim_all(path: Path, worker: str, start: Barrier, claimed: Queue[tuple[str, str]]) -> None:
    """A worker process: claim until nothing is left, reporting each claim."""
    lifecycle = JobLifecycle(SQLiteDatabase(path), RetryPolicy())
    start.wait()
    while (claim := lifecycle.claim_next(worker, 10)) is not None:
        claimed.put((claim.job.id, worker))


def test_concurrent_claims_by_racing_processes_take_each_job_exactly_once(
    tmp_path: Path,
) -> None:
    store, _ = make(tmp_path)
    ids = {store.submit(CategorizeSpec(company_id="c1", tenant_id="t1")).job.id for _ in range(200)}
    context = multiprocessing.get_context("spawn")
    start, claimed = context.Barrier(4), context.Queue()
    workers = [
        context.Process(target=claim_all, args=(store.db.path, f"w{n}", start, claimed))
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    claims = [claimed.get(timeout=5) for _ in range(len(ids))]
    assert claimed.empty()
    assert sorted(job_id for job_id, _ in claims) == sorted(ids), "every job claimed once"
    assert len({worker for _, worker in claims}) > 1, "the processes really raced"
    running = [store.get(job_id) for job_id in ids]
    assert all(job is not None and job.status.attempts == 1 for job in running)


def test_an_expired_lease_is_recovered_as_a_retry(tmp_path: Path) -> None:
    store, lifecycle = make(tmp_path)
    job_id = store.submit(CategorizeSpec(company_id="c1", tenant_id="t1")).job.id
    assert lifecycle.claim_next("w1", lease_seconds=-1) is not None
    assert lifecycle.recover_expired() == 1
    job = store.get(job_id)
    assert job is not None
    assert job.status.phase is JobPhase.PENDING
    assert "worker running this job stopped" in job.status.message
    assert lifecycle.claim_next("w2", lease_seconds=-1) is not None
    lifecycle.recover_expired()
    failed = store.get(job_id)
    assert failed is not None
    assert failed.status.phase is JobPhase.FAILED
    assert failed.status.attempts == 2


def test_sweep_deletes_the_jobs_uploads(tmp_path: Path) -> None:
    deleted: list[str] = []
    store, _ = make(tmp_path, deleted)
    spec = UploadAndCategorizeSpec(
        company_id="c1", tenant_id="t1", artifact_id="a" * 32, filename="s.csv"
    )
    job_id = store.submit(spec).job.id
    store.cancel(job_id)
    assert store.sweep(older_than=datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert deleted == ["a" * 32]


def test_a_bad_cursor_is_an_invalid_cursor_error(tmp_path: Path) -> None:
    store, _ = make(tmp_path)
    with pytest.raises(InvalidCursorError, match="cursor"):
        store.list_company("t1", "c1", cursor="not-a-cursor")


def test_a_lease_renewed_after_the_attempt_ended_is_lost_not_a_cancel(tmp_path: Path) -> None:
    """The supervisor may renew just after its child scheduled a retry: that must not read
    as a cancellation (it once cancelled jobs that were waiting to be retried)."""
    store, lifecycle = make(tmp_path)
    job_id = store.submit(CategorizeSpec(company_id="c1", tenant_id="t1")).job.id
    claim = lifecycle.claim_next("w1", 10)
    assert claim is not None
    assert lifecycle.renew_lease(job_id, claim.attempt, 10) is Lease.HELD
    lifecycle.record_failure(job_id, claim.attempt, "locked")
    assert lifecycle.renew_lease(job_id, claim.attempt, 10) is Lease.LOST
    job = store.get(job_id)
    assert job is not None
    assert job.status.phase is JobPhase.PENDING


def test_a_requested_cancel_shows_in_the_lease(tmp_path: Path) -> None:
    store, lifecycle = make(tmp_path)
    job_id = store.submit(CategorizeSpec(company_id="c1", tenant_id="t1")).job.id
    claim = lifecycle.claim_next("w1", 10)
    assert claim is not None
    store.cancel(job_id)
    assert lifecycle.renew_lease(job_id, claim.attempt, 10) is Lease.CANCEL_REQUESTED


def test_another_tenants_new_job_is_claimed_before_a_backlog(tmp_path: Path) -> None:
    """Tenant t1 queued 200 jobs and runs one; t2's job, submitted last, is the next claim
    (first come, first served would make it wait for all 200)."""
    store, lifecycle = make(tmp_path)
    for _ in range(200):
        store.submit(CategorizeSpec(company_id="c1", tenant_id="t1"))
    newcomer = store.submit(CategorizeSpec(company_id="c2", tenant_id="t2")).job.id
    first = lifecycle.claim_next("w1", 10)
    assert first is not None and first.job.tenant_id == "t1"  # the oldest job, t1 ran none

    second = lifecycle.claim_next("w2", 10)

    assert second is not None and second.job.id == newcomer


def test_a_tenant_at_its_limit_leaves_the_workers_to_others(tmp_path: Path) -> None:
    store = LocalJobStore(tmp_path / "jobs.db")
    order = StartOrder(per_tenant_limit=1, priorities={"upload-and-categorize": 5})
    lifecycle = JobLifecycle(store.db, RetryPolicy(), order)
    store.submit(CategorizeSpec(company_id="c1", tenant_id="t1"))
    urgent = store.submit(
        UploadAndCategorizeSpec(
            company_id="c1", tenant_id="t1", artifact_id="a" * 32, filename="june.csv"
        )
    ).job.id
    first = lifecycle.claim_next("w1", 10)
    assert first is not None and first.job.id == urgent  # priority within the tenant

    assert lifecycle.claim_next("w2", 10) is None  # t1 is at its limit of 1
    other = store.submit(CategorizeSpec(company_id="c2", tenant_id="t2")).job.id
    claim = lifecycle.claim_next("w2", 10)
    assert claim is not None and claim.job.id == other


def test_one_worker_alternates_between_a_backlog_and_another_tenants_jobs(
    tmp_path: Path,
) -> None:
    """With a single worker nobody is running between claims: the tenant that started a job
    least recently goes next, so t2's two jobs interleave with t1's backlog."""
    store, lifecycle = make(tmp_path)
    for _ in range(5):
        store.submit(CategorizeSpec(company_id="c1", tenant_id="t1"))
    for _ in range(2):
        store.submit(CategorizeSpec(company_id="c2", tenant_id="t2"))
    order = []
    while (claim := lifecycle.claim_next("w1", 10)) is not None:
        order.append(claim.job.tenant_id)
        lifecycle.record(claim.job.id, Complete(attempt=claim.attempt, result={}))
    assert order == ["t1", "t2", "t1", "t2", "t1", "t1", "t1"]
