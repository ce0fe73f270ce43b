"""Waking idle embedded workers the moment a job is submitted, instead of at their next poll.

Each supervisor listens on a Unix datagram socket in Linux's abstract namespace (no file,
no path-length limit, gone with the process), named after the job store and its worker id;
the API sends every worker one byte after a submission commits. A lost or refused datagram
costs nothing: workers still poll every ``POLL_SECONDS`` (jobs submitted by another process,
retries whose backoff ran out), so the wake-up only shortens the wait. Nothing is shared
between the processes that a SIGKILL could leave locked. Elsewhere than Linux the workers
simply poll.
"""

from __future__ import annotations

import contextlib
import hashlib
import select
import socket
import sys
from pathlib import Path
from typing import Final

ABSTRACT: Final = sys.platform.startswith("linux")


def address(jobs_db: Path, worker_id: str) -> str:
    key = hashlib.sha256(f"{jobs_db.resolve()}\n{worker_id}".encode()).hexdigest()[:24]
    return f"\0bkjobs-wake-{key}"


class WakeListener:
    """A supervisor's end: :meth:`wait` returns at a wake-up or after ``timeout`` seconds."""

    def __init__(self, jobs_db: Path, worker_id: str) -> None:
        self._socket: socket.socket | None = None
        if not ABSTRACT:
            return
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            listener.bind(address(jobs_db, worker_id))
        except OSError:  # a former supervisor of this slot still holds the name: poll
            listener.close()
            return
        listener.setblocking(False)
        self._socket = listener

    def wait(self, timeout: float) -> bool:
        """True when woken (the datagrams are drained), False after the timeout."""
        if self._socket is None:
            select.select([], [], [], timeout)
            return False
        ready, _, _ = select.select([self._socket], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while self._socket.recv(16):
                pass
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()


class WakeSender:
    """The API's end: wakes the ``workers`` supervisors of the job store."""

    def __init__(self, jobs_db: Path, workers: int) -> None:
        self._addresses = [address(jobs_db, f"worker-{n}") for n in range(workers)]

    def wake(self) -> None:
        if not ABSTRACT:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for name in self._addresses:
                # No listener (starting, dead) or a full queue: it polls soon anyway.
                with contextlib.suppress(OSError):
                    sender.sendto(b"!", name)
