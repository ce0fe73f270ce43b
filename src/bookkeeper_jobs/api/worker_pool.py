"""The embedded workers' keeper, in the server process.

It starts ``BKJOBS_WORKER_CONCURRENCY`` supervisor processes (``spawn``: nothing inherited
from a multi-threaded server) and then watches them once a second: a supervisor that died
(SIGKILL, OOM, a bug) is replaced after a backoff that doubles while replacements keep
dying and resets once one has run for a minute; and jobs whose worker died are recovered
(their lease ran out) from here too, so they are retried or failed even while no worker
lives. A storage error in that loop is logged and tried again on the next round.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

from bookkeeper_jobs.api.workers import lifecycle_for, supervise
from bookkeeper_jobs.errors import StorageError
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.registry import TaskTable, task_table_for

log = logging.getLogger(__name__)

MONITOR_SECONDS = 1.0
RECOVER_EVERY_SECONDS = 2.0
RESTART_BACKOFF_SECONDS = 1.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0
"""A supervisor that ran this long before dying starts its replacements' backoff afresh."""


@dataclass
class Slot:
    """One worker position: its current process and how its replacements are going."""

    index: int
    process: BaseProcess | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float = 0.0

    @property
    def worker_id(self) -> str:
        return f"worker-{self.index}"


@dataclass
class WorkerPool:
    settings: Settings
    task_table: TaskTable | None = None
    restarts: int = 0
    """Supervisors replaced since the pool started (for tests and logs)."""
    _slots: list[Slot] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False)
    _monitor: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.task_table = dict(self.task_table or task_table_for(self.settings))
        self._context = multiprocessing.get_context("spawn")
        self._lifecycle = lifecycle_for(self.settings)

    def start(self) -> None:
        self._recover()
        with self._lock:
            self._slots = [Slot(index) for index in range(self.settings.worker_concurrency)]
            for slot in self._slots:
                self._start(slot)
        self._monitor = threading.Thread(target=self._watch, name="bkjobs-pool", daemon=True)
        self._monitor.start()

    def alive(self) -> int:
        with self._lock:
            return sum(bool(s.process and s.process.is_alive()) for s in self._slots)

    def pids(self) -> list[int]:
        """The live supervisors' process ids."""
        with self._lock:
            return [s.process.pid for s in self._slots if s.process and s.process.pid]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM each supervisor (it stops its task and requeues the job), then wait.
        A signal, not a shared Event: a SIGKILLed process can leave an Event's lock held."""
        self._stopping.set()
        if self._monitor is not None:
            self._monitor.join()
        with self._lock:
            processes = [s.process for s in self._slots if s.process is not None]
            self._slots.clear()
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()

    def _start(self, slot: Slot) -> None:
        slot.process = self._context.Process(
            target=supervise,
            args=(self.settings, self.task_table, slot.worker_id),
            name=f"bkjobs-{slot.worker_id}",
        )
        slot.process.start()
        slot.started_at = time.monotonic()

    def _watch(self) -> None:
        next_recovery = time.monotonic() + RECOVER_EVERY_SECONDS
        while not self._stopping.wait(MONITOR_SECONDS):
            try:
                self._replace_dead()
                if time.monotonic() >= next_recovery:
                    self._recover()
                    next_recovery = time.monotonic() + RECOVER_EVERY_SECONDS
            except Exception:  # the keeper itself must not die: log it and keep watching
                log.exception("the worker pool's watch failed; watching on")

    def _replace_dead(self) -> None:
        now = time.monotonic()
        with self._lock:
            for slot in self._slots:
                process = slot.process
                if process is None or process.is_alive():
                    continue
                if slot.restart_at == 0.0:
                    ran = now - slot.started_at
                    slot.failures = 1 if ran >= STABLE_SECONDS else slot.failures + 1
                    delay = min(
                        RESTART_BACKOFF_MAX_SECONDS,
                        RESTART_BACKOFF_SECONDS * 2 ** (slot.failures - 1),
                    )
                    slot.restart_at = now + delay
                    log.warning(
                        "%s died (exit code %s); replacing it in %g s",
                        slot.worker_id,
                        process.exitcode,
                        delay,
                    )
                if now >= slot.restart_at and not self._stopping.is_set():
                    slot.restart_at = 0.0
                    self._start(slot)
                    self.restarts += 1

    def _recover(self) -> None:
        """Retry or fail the jobs of dead workers (their lease ran out)."""
        try:
            recovered = self._lifecycle.recover_expired()
        except StorageError as exc:
            log.warning("recovering jobs of dead workers failed (%s); trying again", exc)
            return
        if recovered:
            log.info("recovered %d job(s) whose worker died", recovered)
