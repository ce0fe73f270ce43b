"""The embedded supervisor's watch over one attempt and its warm task process
(``api/workers.py``: ``AttemptWatch``, ``TaskProcess``).

Real forked task processes on a real SQLite store; the tasks are this module's functions.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.workers import (
    POLL_SECONDS,
    AttemptWatch,
    TaskProcess,
    lifecycle_for,
    peak_rss_mib,
)
from bookkeeper_jobs.jobs import CategorizeSpec, Job, JobPhase
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext

RELEASE = "release"
"""A file under the data dir that lets the lingering task's thread end."""


class Pid(BaseModel):
    pid: int
    peak_rss_mib: float = 0.0


def whoami(context: TaskContext[CategorizeSpec]) -> Pid:
    del context
    return Pid(pid=os.getpid(), peak_rss_mib=peak_rss_mib())


def lingering(context: TaskContext[CategorizeSpec]) -> Pid:
    """A task that leaves a thread behind, running until the test releases it."""
    release = context.settings.data_dir / RELEASE
    threading.Thread(target=wait_for_file, args=(release,)).start()
    return Pid(pid=os.getpid())


def wait_for_file(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


def hungry(context: TaskContext[CategorizeSpec]) -> Pid:
    """A task whose process peaks at 300 MiB more than it started with."""
    del context
    block = bytearray(300 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not reserved
    del block
    return Pid(pid=os.getpid())


def hanging(context: TaskContext[CategorizeSpec]) -> Pid:
    context.reporter.update(5, "Hanging")
    context.reporter.flush()
    time.sleep(3600)
    raise AssertionError("not reached")


def crashing(context: TaskContext[CategorizeSpec]) -> Pid:
    os._exit(137)


class Worker:
    """One supervisor's view: a job store, its lifecycle and a warm task process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = LocalJobStore(settings.jobs_db)
        self.lifecycle = lifecycle_for(settings)
        self.task_process = TaskProcess(settings)

    def run(self, task: str, *, counted: bool = False) -> tuple[Job, int]:
        """Submit a job, run its attempt with ``task``; the job after it and the number of
        cancel-flag reads the watch made."""
        job_id = self.store.submit(CategorizeSpec(company_id="c1", tenant_id="t1")).job.id
        claim = self.lifecycle.claim_next("worker-1", self.settings.lease_seconds)
        assert claim is not None and claim.job.id == job_id
        reads = 0
        asked = self.lifecycle.cancel_requested

        def count(job: str) -> bool:
            nonlocal reads
            reads += 1
            return asked(job)

        self.lifecycle.cancel_requested = count  # type: ignore[method-assign]
        try:
            AttemptWatch(
                self.settings, self.lifecycle, claim, threading.Event(), self.task_process
            ).run(f"{__name__}:{task}")
        finally:
            self.lifecycle.cancel_requested = asked  # type: ignore[method-assign]
        job = self.store.get(job_id)
        assert job is not None
        return job, reads

    def pid_of(self, job: Job) -> int:
        assert job.status.phase is JobPhase.COMPLETE, job.status
        assert job.status.result is not None
        return int(job.status.result["pid"])


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    one = Worker(Settings(environment="test", data_dir=tmp_path, task_process_max_attempts=3))
    yield one
    one.task_process.stop()


def test_jobs_run_one_after_another_in_one_warm_task_process_until_its_attempt_limit(
    worker: Worker,
) -> None:
    """No process is started per job (that fork cost more than a trivial job); after
    ``task_process_max_attempts`` (3 here) a fresh process takes over."""
    pids = [worker.pid_of(worker.run("whoami")[0]) for _ in range(4)]
    assert pids[0] != os.getpid()
    assert pids[:3] == [pids[0]] * 3, "the first three attempts share one task process"
    assert pids[3] != pids[0], "the fourth runs in a fresh one"


def test_a_task_that_leaves_a_thread_behind_ends_its_job_at_once_without_spinning(
    worker: Worker,
) -> None:
    """The reply ends the attempt: the supervisor neither waits for the thread nor polls
    the pipe in a loop (that read the cancel flag ~113,000 times a second once: bench/README,
    "Pick-up and throughput against RQ workers"). The process stays for the next job."""
    began = time.monotonic()
    job, reads = worker.run("lingering")
    waited = time.monotonic() - began
    task_pid = worker.pid_of(job)
    assert worker.task_process.process is not None
    assert worker.task_process.process.pid == task_pid and worker.task_process.process.is_alive()
    assert reads <= waited / POLL_SECONDS + 2, f"{reads} cancel checks in {waited:.1f} s"
    assert worker.pid_of(worker.run("whoami")[0]) == task_pid
    (worker.settings.data_dir / RELEASE).touch()


def test_a_cancelled_attempts_process_is_stopped_and_the_next_job_gets_a_fresh_one(
    worker: Worker,
) -> None:
    first = worker.pid_of(worker.run("whoami")[0])
    stopper = threading.Thread(target=cancel_when_running, args=(worker,))
    stopper.start()
    cancelled, _ = worker.run("hanging")
    stopper.join()
    assert cancelled.status.phase is JobPhase.CANCELLED
    assert not pid_alive(first), "the hanging task's process was stopped"
    assert worker.pid_of(worker.run("whoami")[0]) != first


def cancel_when_running(worker: Worker) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [j for j in worker.store.list_company("t1", "c1").jobs if j.status.progress == 5]
        if running:
            worker.store.cancel(running[0].id)
            return
        time.sleep(0.05)


def test_a_crashed_task_process_fails_its_attempt_with_the_exit_code_and_is_replaced(
    worker: Worker,
) -> None:
    first = worker.pid_of(worker.run("whoami")[0])
    crashed, _ = worker.run("crashing")
    assert crashed.status.phase in (JobPhase.PENDING, JobPhase.FAILED)  # retried later
    assert crashed.status.error == "task process exited unexpectedly (exit code 137)"
    assert worker.pid_of(worker.run("whoami")[0]) != first


def test_a_task_process_whose_memory_grew_past_the_limit_is_replaced_after_its_attempt(
    tmp_path: Path,
) -> None:
    probe = Worker(Settings(environment="test", data_dir=tmp_path))
    try:  # a task process starts as a copy of this one: its peak, whatever ran here before
        started_with = probe.run("whoami")[0].status.result
    finally:
        probe.task_process.stop()
    assert started_with is not None
    limit = int(started_with["peak_rss_mib"]) + 150
    worker = Worker(
        Settings(environment="test", data_dir=tmp_path, task_process_max_memory_mb=limit)
    )
    try:
        first = worker.pid_of(worker.run("whoami")[0])
        assert worker.pid_of(worker.run("whoami")[0]) == first, "below the limit: kept"
        assert worker.pid_of(worker.run("hungry")[0]) == first
        assert not pid_alive(first), "replaced after the attempt that passed the limit"
        assert worker.pid_of(worker.run("whoami")[0]) != first
    finally:
        worker.task_process.stop()


def test_a_task_process_killed_while_idle_is_replaced_before_the_next_job(
    worker: Worker,
) -> None:
    first = worker.pid_of(worker.run("whoami")[0])
    os.kill(first, 9)
    job, _ = worker.run("whoami")
    assert job.status.phase is JobPhase.COMPLETE and job.status.attempts == 1
    assert worker.pid_of(job) != first


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
