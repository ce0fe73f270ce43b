"""What makes a ``bkjobs serve`` the only one: its data dir and its port.

Two embedded servers on one data dir would run two worker pools against one job store and
sweep each other's uploads; a server whose port is taken would fail only after printing its
banner and starting workers. So ``serve`` takes both before anything else: an exclusive
``flock`` on ``<data dir>/serve.lock`` (held for the server's lifetime; the kernel releases it
when the process dies, however it dies) and a socket bound to the port, handed to uvicorn.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from bookkeeper_jobs.errors import BookkeeperJobsError

LOCK_FILE_NAME = "serve.lock"


class InstanceConflictError(BookkeeperJobsError):
    """The data dir or the port is already in use, or cannot be used; the message says which."""


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Holds the data dir's lock for the ``with`` block; raises InstanceConflictError at once
    (never waits) when another server holds it, naming that server's pid when it recorded it."""
    lock_fd = _open_lock_file(data_dir)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InstanceConflictError(_in_use_message(data_dir, _recorded_pid(lock_fd))) from None
        # The pid is for the message a second server prints; the lock itself is the flock.
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(lock_fd)  # closing the last descriptor releases the flock


@contextlib.contextmanager
def bound_socket(host: str, port: int) -> Iterator[socket.socket]:
    """A TCP socket bound to ``host:port`` for the ``with`` block (uvicorn listens on it);
    raises InstanceConflictError when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: rebinding right after a restart must not wait for TIME_WAIT;
        # a port another process listens on still refuses the bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise InstanceConflictError(_bind_message(host, port, exc)) from None
        yield sock
    finally:
        sock.close()


def _open_lock_file(data_dir: Path) -> int:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC: worker processes (spawned, so exec'd) must not hold the lock themselves.
        return os.open(data_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InstanceConflictError(f"cannot use the data dir {data_dir}: {reason}") from None


def _recorded_pid(lock_fd: int) -> int | None:
    try:
        return int(os.pread(lock_fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None  # the other server has not written it yet, or the file was edited


def _in_use_message(data_dir: Path, pid: int | None) -> str:
    holder = f"another bkjobs serve (pid {pid})" if pid else "another bkjobs serve"
    return (
        f"{holder} is using the data dir {data_dir.resolve()}; stop it or pass another --data-dir"
    )


def _bind_message(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use (on {host}); stop what uses it or pass another --port"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
