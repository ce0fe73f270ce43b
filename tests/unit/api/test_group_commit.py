"""The embedded store's group commit: a submission is answered only once its transaction
committed, and a refusal or a storage error fails only its own submission."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from bookkeeper_jobs.api.store.group_commit import GroupCommit
from bookkeeper_jobs.api.store.local import LocalJobStore, SQLiteDatabase
from bookkeeper_jobs.api.store.protocol import Submission
from bookkeeper_jobs.errors import IdempotencyConflictError, StorageError
from bookkeeper_jobs.jobs import CategorizeSpec

DISK_FULL = sqlite3.OperationalError("database or disk is full")


def spec(company_id: str = "c1") -> CategorizeSpec:
    return CategorizeSpec(company_id=company_id, tenant_id="t1")


def stored_ids(path: Path) -> set[str]:
    """What another connection sees: committed rows only."""
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM jobs")}


def test_concurrent_submissions_are_each_committed_before_they_are_answered(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    store = LocalJobStore(path)
    seen_at_answer: list[bool] = []

    def submit(n: int) -> Submission:
        future = store.submit_later(spec(f"c{n % 7}"), None, None)
        done = threading.Event()

        def check(answered: Future[Submission]) -> None:
            seen_at_answer.append(answered.result().job.id in stored_ids(path))
            done.set()

        future.add_done_callback(check)
        submission = future.result(timeout=30)
        done.wait(30)
        return submission

    with ThreadPoolExecutor(16) as pool:
        submissions = list(pool.map(submit, range(200)))

    ids = {submission.job.id for submission in submissions}
    assert len(ids) == 200
    assert all(submission.created for submission in submissions)
    assert seen_at_answer == [True] * 200
    assert stored_ids(path) == ids


def test_a_conflict_inside_a_batch_fails_only_its_own_submission(tmp_path: Path) -> None:
    store = LocalJobStore(tmp_path / "jobs.db")
    release = threading.Event()
    # Hold the writer inside a commit so that everything below lands in one batch.
    blocker = store._submissions
    original = blocker._apply

    def slow_first(conn: sqlite3.Connection, work: object) -> Submission:
        release.wait(10)
        return original(conn, work)  # type: ignore[arg-type]

    blocker._apply = slow_first  # type: ignore[method-assign]
    first = store.submit_later(spec("c0"), None, None)
    batch = [
        store.submit_later(spec("c1"), "key-1", "fp-1"),
        store.submit_later(spec("c1"), "key-1", "fp-1"),  # a replay within the batch
        store.submit_later(spec("c2"), "key-1", "fp-other"),  # same key, another body
        store.submit_later(spec("c3"), None, None),
    ]
    release.set()
    assert first.result(30).created
    created, replayed, conflict, other = batch
    assert created.result(30).created
    assert not replayed.result(30).created
    assert replayed.result().job.id == created.result().job.id
    with pytest.raises(IdempotencyConflictError):
        conflict.result(30)
    assert other.result(30).created
    assert len(stored_ids(tmp_path / "jobs.db")) == 3


class LogTable:
    """Work that inserts its name into a table; ``first`` waits for :attr:`release` (so
    what is submitted meanwhile lands in one batch), ``no room`` meets a full disk."""

    def __init__(self, path: Path) -> None:
        self.db = SQLiteDatabase(path)
        with self.db.transaction() as conn:
            conn.execute("CREATE TABLE log (work TEXT)")
        self.release = threading.Event()

    def apply(self, conn: sqlite3.Connection, work: str) -> str:
        if work == "first":
            self.release.wait(10)
        if work == "no room":
            raise DISK_FULL
        conn.execute("INSERT INTO log VALUES (?)", (work,))
        return work

    def rows(self) -> list[str]:
        return sorted(row[0] for row in self.db.query("SELECT work FROM log"))


def test_a_storage_error_fails_only_the_submission_that_meets_it(tmp_path: Path) -> None:
    log = LogTable(tmp_path / "log.db")
    group: GroupCommit[str, str] = GroupCommit(log.db, log.apply)
    first = group.submit("first")
    futures = {work: group.submit(work) for work in ("a", "no room", "b")}
    log.release.set()
    assert first.result(30) == "first"
    assert futures["a"].result(30) == "a"
    assert futures["b"].result(30) == "b"
    with pytest.raises(StorageError):
        futures["no room"].result(30)
    assert log.rows() == ["a", "b", "first"]


def test_a_failure_after_the_commit_does_not_apply_the_batch_twice(tmp_path: Path) -> None:
    log = LogTable(tmp_path / "log.db")

    def committed(results: list[str]) -> None:
        raise RuntimeError("the wake-up failed")

    group: GroupCommit[str, str] = GroupCommit(log.db, log.apply, committed=committed)
    first = group.submit("first")
    rest = [group.submit(work) for work in ("a", "b")]
    log.release.set()
    assert [first.result(30), *(f.result(30) for f in rest)] == ["first", "a", "b"]
    assert log.rows() == ["a", "b", "first"]
