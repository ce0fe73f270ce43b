"""Embedded workers: a supervisor process runs one job at a time in its task process.

A supervisor claims a job (atomically, see ``JobLifecycle.claim_next``), hands it to its
task process, and watches it: it renews the job's lease every second, stops the task process
when cancellation is requested or the timeout passes, and records how the attempt ended.
Running tasks in a child is what makes timeout and cancel reliable: a task stuck in C code
cannot ignore a signal from outside.

The task process is forked from the supervisor (every task's modules already imported) while
the worker is idle, and kept warm: it runs attempt after attempt sent over a pipe, so a job
starts without a process start (forking the ~200 MiB supervisor cost more than a trivial
job: bench/README.md, "Pick-up and throughput against RQ workers"). It is replaced after it
was stopped (cancel, timeout, lease lost, shutdown) or crashed, after
``task_process_max_attempts`` attempts, and once its peak memory passed
``task_process_max_memory_mb``, so what one job leaks reaches only a bounded number of others.

The task process sends each attempt's outcome (a lifecycle event) to the supervisor and the
supervisor records it, retrying while the job store cannot be written (a full disk), so the
job keeps the task's real ending instead of "exited unexpectedly". A storage error never
kills a supervisor: it waits and tries again. ``worker_pool.py`` starts the supervisors and
replaces any that dies.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import NamedTuple

from bookkeeper_jobs.api.store.local import SQLiteDatabase
from bookkeeper_jobs.api.store.local_lifecycle import Claim, JobLifecycle, Lease
from bookkeeper_jobs.api.wakeup import WakeListener
from bookkeeper_jobs.errors import StorageError
from bookkeeper_jobs.jobs import load_job_type_modules
from bookkeeper_jobs.lifecycle import Cancel, Event, Progress, RetryPolicy, TimeOut
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.start_order import StartOrder
from bookkeeper_jobs.tasks.registry import TaskTable, resolve_task
from bookkeeper_jobs.tasks.runner import run_attempt

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
LEASE_RENEW_SECONDS = 1.0
STORAGE_BACKOFF_MAX_SECONDS = 5.0
STOP_GRACE_SECONDS = 1.0
HANDOVER_SECONDS = 5.0
"""How long an idle task process may take to say it took an attempt."""
TAKEN = "taken"
PR_SET_PDEATHSIG = 1


def lifecycle_for(settings: Settings) -> JobLifecycle:
    policy = RetryPolicy(
        max_attempts=settings.job_max_attempts,
        backoff=settings.retry_backoff,
        backoff_max=settings.retry_backoff_max,
        outage_attempts=settings.job_max_outage_attempts,
        outage_backoff_max=settings.retry_outage_backoff_max,
    )
    order = StartOrder(settings.max_running_jobs_per_tenant, settings.job_type_priorities)
    return JobLifecycle(SQLiteDatabase(settings.jobs_db), policy, order)


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
        resolve_task(path)  # import once here, so the task process starts warm
    # The imports are most of the heap and live as long as the process: leave them out of
    # garbage collection, here and in the task processes forked from here. Full collections
    # walking them took half a trivial job's CPU in a warm task process and paused it for
    # ~150 ms now and then (bench/pickup_side_by_side.py); they also dirtied shared pages.
    gc.freeze()
    failures = 0
    wakeups = WakeListener(settings.jobs_db, worker_id)
    task_process = TaskProcess(settings)
    while not stop.is_set():
        task_process.ready()  # forked while idle: never between a claim and its start
        try:
            claim = lifecycle.claim_next(worker_id, settings.lease_seconds)
        except StorageError as exc:
            failures += 1
            log.warning("%s cannot claim jobs (%s); trying again", worker_id, exc)
            stop.wait(storage_backoff(failures))
            continue
        failures = 0
        if claim is None:
            wakeups.wait(POLL_SECONDS)  # a submission wakes us at once (api/wakeup.py)
            continue
        AttemptWatch(settings, lifecycle, claim, stop, task_process).run(
            task_table[claim.job.spec.type]
        )
    task_process.stop()
    wakeups.close()


def storage_backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` storage errors in a row (0.5 s doubling, <= 5 s)."""
    return float(min(STORAGE_BACKOFF_MAX_SECONDS, 0.5 * 2 ** (failures - 1)))


class AttemptReply(NamedTuple):
    """What the task process sends back after an attempt."""

    event: Event
    """How the attempt ended, for the supervisor to record."""
    peak_rss_mib: float
    """The task process's peak memory so far."""


class TaskProcess:
    """A supervisor's warm task process (see the module's docstring): forked on
    :meth:`ready`, handed attempts by :meth:`send`, replaced by :meth:`stop` or, between
    attempts, by :meth:`attempt_done` once it reached a limit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: BaseProcess | None = None
        self.connection: Connection | None = None
        self.attempts = 0

    def ready(self) -> tuple[BaseProcess, Connection]:
        """The live task process and the supervisor's end of its pipe (forked if needed)."""
        if self.process is not None and not self.process.is_alive():
            self.stop()  # it died while idle (killed from outside): reap it, fork anew
        if self.process is None or self.connection is None:
            context = multiprocessing.get_context("fork")
            ours, theirs = context.Pipe()
            self.process = context.Process(
                target=serve_attempts, args=(self.settings, theirs), name="bkjobs-task"
            )
            self.process.start()
            theirs.close()  # the child holds the only other end: EOF once it is gone
            self.connection, self.attempts = ours, 0
        return self.process, self.connection

    def send(self, task_path: str, claim: Claim) -> tuple[BaseProcess, Connection]:
        """Start ``claim``'s attempt in the task process; its pipe then yields the reply.
        A process that dies before it took the attempt (killed while idle: the OOM killer
        picks large processes) costs the job nothing: a fresh one takes it."""
        process, connection = self.ready()
        if not handed_over(connection, task_path, claim):
            self.stop()
            process, connection = self.ready()
            handed_over(connection, task_path, claim)  # if this one dies too, the watch says
        self.attempts += 1
        return process, connection

    def attempt_done(self, reply: AttemptReply) -> None:
        """After a reply: keep the process for the next attempt unless it reached a limit."""
        worn = self.attempts >= self.settings.task_process_max_attempts
        if worn or reply.peak_rss_mib > self.settings.task_process_max_memory_mb:
            self.stop()

    def stop(self) -> None:
        """End the task process (SIGTERM, then SIGKILL after a grace) and reap it."""
        if self.connection is not None:
            self.connection.close()
        if self.process is not None:
            stop_process(self.process)
        self.process, self.connection = None, None


def handed_over(connection: Connection, task_path: str, claim: Claim) -> bool:
    """Send an attempt to a task process; whether it said it took it."""
    try:
        connection.send((task_path, claim))
        return connection.poll(HANDOVER_SECONDS) and connection.recv() == TAKEN
    except (OSError, EOFError):
        return False


class WatchEnding(StrEnum):
    """Why the supervisor stopped watching an attempt."""

    FINISHED = "finished"
    """The task process sent the attempt's outcome (and stays for the next attempt)."""
    EXITED = "exited"
    """The task process ended without an outcome: it crashed or exited mid-task."""
    CANCELLED = "cancelled"
    TIMED_OUT = "timed-out"
    LOST = "lost"
    """The attempt is no longer current (it ended, or was recovered): nothing to record."""
    SHUTDOWN = "shutdown"


@dataclass
class AttemptWatch:
    """Runs one claimed attempt in the task process and enforces lease, cancel and timeout."""

    settings: Settings
    lifecycle: JobLifecycle
    claim: Claim
    stop: threading.Event
    task_process: TaskProcess

    reply: AttemptReply | None = None
    """What the task process sent: how the task ended."""

    @property
    def outcome(self) -> Event | None:
        return None if self.reply is None else self.reply.event

    def run(self, task_path: str) -> None:
        job, attempt = self.claim.job, self.claim.attempt
        log.info("job %s (%s) attempt %d started", job.id, job.spec.type, attempt)
        child, connection = self.task_process.send(task_path, self.claim)
        ending = self._watch(child, connection)
        if self.reply is not None:
            self.task_process.attempt_done(self.reply)
        else:  # stopped, crashed or lost: the next attempt gets a fresh process
            self.task_process.stop()
        event = self._event_for(ending, child.exitcode)
        if event is not None:
            self._record(event)
        log.info("job %s attempt %d ended: %s", job.id, attempt, ending.value)

    def _event_for(self, ending: WatchEnding, exitcode: int | None) -> Event | None:
        attempt = self.claim.attempt
        if self.outcome is not None:
            return self.outcome  # the task's own ending wins over what happened after
        if ending is WatchEnding.CANCELLED:
            return Cancel(attempt=attempt)
        if ending is WatchEnding.TIMED_OUT:
            return TimeOut(attempt=attempt, seconds=self.settings.job_timeout)
        if ending is WatchEnding.SHUTDOWN:
            return self.lifecycle.policy.after_failure(attempt, "the worker shut down")
        if ending is WatchEnding.EXITED:
            crashed = f"task process exited unexpectedly (exit code {exitcode})"
            return self.lifecycle.policy.after_failure(attempt, crashed)
        return None

    def _record(self, event: Event) -> None:
        """Record ``event``, waiting out storage errors (a full disk frees up, a locked
        database unlocks) unless the worker is shutting down; then the lease runs out and
        the job is recovered as a retry."""
        failures = 0
        while True:
            try:
                self.lifecycle.record(self.claim.job.id, event)
                return
            except StorageError as exc:
                failures += 1
                log.warning("recording %s failed (%s); trying again", type(event).__name__, exc)
                if self.stop.wait(storage_backoff(failures)):
                    return

    def _watch(self, child: BaseProcess, connection: Connection) -> WatchEnding:
        """Wait for the attempt's reply (or the task process's end) while renewing the
        lease; the reason to stop the task, if one comes first."""
        deadline = time.monotonic() + self.settings.job_timeout
        next_renewal = time.monotonic() + LEASE_RENEW_SECONDS
        while True:
            ready = wait([connection, child.sentinel], POLL_SECONDS)
            if ready:
                if self._receive(connection):
                    return WatchEnding.FINISHED
                child.join()  # EOF or its exit: it ended without a reply
                return WatchEnding.EXITED
            ending = self._reason_to_stop(deadline, next_renewal)
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + LEASE_RENEW_SECONDS
            if ending is not None:
                return ending

    def _receive(self, connection: Connection) -> bool:
        """Take the attempt's reply if the task process sent one; False if it sent none
        (EOF: it ended)."""
        if connection.poll():
            try:
                self.reply = connection.recv()
            except EOFError:
                return False
        return self.reply is not None

    def _reason_to_stop(self, deadline: float, next_renewal: float) -> WatchEnding | None:
        now = time.monotonic()
        if now >= next_renewal:
            lease = self._renew()
            if lease is Lease.CANCEL_REQUESTED:
                return WatchEnding.CANCELLED
            if lease is Lease.LOST:
                return WatchEnding.LOST
        elif self._cancel_requested():
            return WatchEnding.CANCELLED
        if now >= deadline:
            return WatchEnding.TIMED_OUT
        if self.stop.is_set():
            return WatchEnding.SHUTDOWN
        return None

    def _cancel_requested(self) -> bool:
        try:
            return self.lifecycle.cancel_requested(self.claim.job.id)
        except StorageError:  # unreadable for now: the next renewal asks again
            return False

    def _renew(self) -> Lease:
        job, attempt = self.claim.job, self.claim.attempt
        try:
            return self.lifecycle.renew_lease(job.id, attempt, self.settings.lease_seconds)
        except StorageError as exc:
            log.warning("renewing the lease of %s failed (%s)", job.id, exc)
            return Lease.HELD  # keep the attempt running: its lease runs out if this lasts


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
        try:
            self._lost = self._lost or self.lifecycle.record(self.job_id, event) is None
        except StorageError as exc:  # progress is best effort; the ending is what counts
            log.warning("progress of %s not recorded (%s)", self.job_id, exc)

    def cancel_requested(self) -> bool:
        try:
            return self._lost or self.lifecycle.cancel_requested(self.job_id)
        except StorageError:
            return False


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies: a task whose supervisor died
    must not go on beside the retry (the attempt guard would only block its writes), and a
    supervisor must not outlive its server."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the attempt guard still blocks its writes
        pass


def serve_attempts(settings: Settings, connection: Connection) -> None:
    """The task process: run each attempt the supervisor sends and reply with its ending
    (which the supervisor records), until the supervisor closes the pipe."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()
    lifecycle = lifecycle_for(settings)
    while True:
        try:
            task_path, claim = connection.recv()
        except EOFError:
            return  # replaced: the supervisor closed its end
        connection.send(TAKEN)
        job, attempt = claim.job, claim.attempt
        sink = LocalProgressSink(lifecycle, job.id, attempt)
        outcome = run_attempt(job, attempt, task_path, settings, sink)
        connection.send(AttemptReply(outcome.event(lifecycle.policy), peak_rss_mib()))


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
