"""Embedded workers: N supervisor processes, each running one job at a time in a child.

A supervisor claims a job (atomically, see ``JobLifecycle.claim_next``), forks a child that
runs the task, and watches it: it renews the job's lease every second, stops the child when
cancellation is requested or the timeout passes, and records a crash when the child dies
without finishing the job. Running tasks in a child is what makes timeout and cancel
reliable: a task stuck in C code cannot ignore a signal from outside.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import signal
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing.process import BaseProcess

from bookkeeper_jobs.api.store.local import SQLiteDatabase
from bookkeeper_jobs.api.store.local_lifecycle import Claim, JobLifecycle, Lease
from bookkeeper_jobs.jobs import load_job_type_modules
from bookkeeper_jobs.lifecycle import Cancel, Progress, RetryPolicy, TimeOut
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.registry import TaskTable, resolve_task, task_table_for
from bookkeeper_jobs.tasks.runner import run_attempt

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
LEASE_RENEW_SECONDS = 1.0
RECOVER_EVERY_SECONDS = 5.0
STOP_GRACE_SECONDS = 1.0
PR_SET_PDEATHSIG = 1


def lifecycle_for(settings: Settings) -> JobLifecycle:
    policy = RetryPolicy(
        max_attempts=settings.job_max_attempts,
        backoff=settings.retry_backoff,
        backoff_max=settings.retry_backoff_max,
    )
    return JobLifecycle(SQLiteDatabase(settings.jobs_db), policy)


class WorkerPool:
    """Starts and stops the supervisor processes (``spawn``: no state inherited from a
    multi-threaded server)."""

    def __init__(self, settings: Settings, task_table: TaskTable | None = None) -> None:
        self.settings = settings
        self.task_table = dict(task_table or task_table_for(settings))
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []

    def start(self) -> None:
        lifecycle_for(self.settings).recover_expired()
        for index in range(self.settings.worker_concurrency):
            process = self._context.Process(
                target=supervise,
                args=(self.settings, self.task_table, f"worker-{index}"),
                name=f"bkjobs-worker-{index}",
            )
            process.start()
            self._processes.append(process)

    def alive(self) -> int:
        return sum(process.is_alive() for process in self._processes)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM each supervisor (it stops its task and requeues the job), then wait.
        A signal, not a shared Event: a SIGKILLed process can leave an Event's lock held."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        self._processes.clear()


def supervise(settings: Settings, task_table: TaskTable, worker_id: str) -> None:
    """A supervisor's main loop (runs in its own process until SIGTERM)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool stops us, not the terminal's ^C
    die_with_parent()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(processName)s %(message)s")
    logging.getLogger("bookkeeper_jobs").setLevel(logging.INFO)
    load_job_type_modules(settings.job_type_modules)  # a spawned process starts bare
    lifecycle = lifecycle_for(settings)
    for path in task_table.values():
        resolve_task(path)  # import once here, so each forked attempt starts warm
    next_recovery = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_recovery:
            lifecycle.recover_expired()
            next_recovery = time.monotonic() + RECOVER_EVERY_SECONDS
        claim = lifecycle.claim_next(worker_id, settings.lease_seconds)
        if claim is None:
            stop.wait(POLL_SECONDS)
            continue
        AttemptWatch(settings, lifecycle, claim, stop).run(task_table[claim.job.spec.type])


class WatchEnding(StrEnum):
    """Why the supervisor stopped watching an attempt's child process."""

    EXITED = "exited"
    """The child ended by itself (it recorded the outcome, unless it crashed)."""
    CANCELLED = "cancelled"
    TIMED_OUT = "timed-out"
    LOST = "lost"
    """The attempt is no longer current (it ended, or was recovered): nothing to record."""
    SHUTDOWN = "shutdown"


@dataclass
class AttemptWatch:
    """Runs one claimed attempt in a forked child and enforces lease, cancel and timeout."""

    settings: Settings
    lifecycle: JobLifecycle
    claim: Claim
    stop: threading.Event

    def run(self, task_path: str) -> None:
        job, attempt = self.claim.job, self.claim.attempt
        log.info("job %s (%s) attempt %d started", job.id, job.spec.type, attempt)
        child = multiprocessing.get_context("fork").Process(
            target=execute_attempt, args=(self.settings, task_path, self.claim)
        )
        child.start()
        ending = self._watch(child)
        if ending is WatchEnding.CANCELLED:
            self.lifecycle.record(job.id, Cancel(attempt=attempt))
        elif ending is WatchEnding.TIMED_OUT:
            self.lifecycle.record(
                job.id, TimeOut(attempt=attempt, seconds=self.settings.job_timeout)
            )
        elif ending is WatchEnding.SHUTDOWN:
            self.lifecycle.record_failure(job.id, attempt, "the worker shut down")
        elif ending is WatchEnding.EXITED:
            # Refused (a no-op) when the child recorded its outcome before exiting.
            crashed = f"task process exited unexpectedly (exit code {child.exitcode})"
            self.lifecycle.record_failure(job.id, attempt, crashed)
        log.info("job %s attempt %d ended: %s", job.id, attempt, ending.value)

    def _watch(self, child: BaseProcess) -> WatchEnding:
        deadline = time.monotonic() + self.settings.job_timeout
        next_renewal = time.monotonic() + LEASE_RENEW_SECONDS
        while True:
            child.join(POLL_SECONDS)
            if not child.is_alive():
                return WatchEnding.EXITED
            ending = self._reason_to_stop(deadline, next_renewal)
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + LEASE_RENEW_SECONDS
            if ending is not None:
                stop_process(child)
                return ending

    def _reason_to_stop(self, deadline: float, next_renewal: float) -> WatchEnding | None:
        now = time.monotonic()
        if now >= next_renewal:
            lease = self._renew()
            if lease is Lease.CANCEL_REQUESTED:
                return WatchEnding.CANCELLED
            if lease is Lease.LOST:
                return WatchEnding.LOST
        elif self.lifecycle.cancel_requested(self.claim.job.id):
            return WatchEnding.CANCELLED
        if now >= deadline:
            return WatchEnding.TIMED_OUT
        if self.stop.is_set():
            return WatchEnding.SHUTDOWN
        return None

    def _renew(self) -> Lease:
        job, attempt = self.claim.job, self.claim.attempt
        return self.lifecycle.renew_lease(job.id, attempt, self.settings.lease_seconds)


def stop_process(child: BaseProcess) -> None:
    child.terminate()
    child.join(STOP_GRACE_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()


@dataclass
class LocalProgressSink:
    """Progress as a guarded row update; a refused write means the attempt is no longer
    current (cancelled, recovered), which the task reads as a request to stop."""

    lifecycle: JobLifecycle
    job_id: str
    attempt: int
    _lost: bool = field(default=False, init=False)

    def write_progress(self, progress: int, message: str) -> None:
        event = Progress(attempt=self.attempt, progress=progress, text=message)
        self._lost = self._lost or self.lifecycle.record(self.job_id, event) is None

    def cancel_requested(self) -> bool:
        return self._lost or self.lifecycle.cancel_requested(self.job_id)


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies: a task whose supervisor died
    must not go on beside the retry (the attempt guard would only block its writes), and a
    supervisor must not outlive its server."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the attempt guard still blocks its writes
        pass


def execute_attempt(settings: Settings, task_path: str, claim: Claim) -> None:
    """The child: run the attempt and record how it ended."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()
    lifecycle = lifecycle_for(settings)
    job, attempt = claim.job, claim.attempt
    sink = LocalProgressSink(lifecycle, job.id, attempt)
    outcome = run_attempt(job, attempt, task_path, settings, sink)
    lifecycle.record(job.id, outcome.event(lifecycle.policy))
