"""``bkjobs serve`` is alone on its data dir and its port, with real processes: a second
server on the same data dir, or on a port already in use, exits at once with one line saying
why, before its banner, its migrations or its workers."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.polling import wait_until

BKJOBS = str(Path(sys.executable).parent / "bkjobs")
REFUSAL_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_command(data_dir: Path, port: int) -> list[str]:
    return [BKJOBS, "serve", "--port", str(port), "--data-dir", str(data_dir), "--demo"]


@contextmanager
def running_server(data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``bkjobs serve`` until the block ends (then stopped with Ctrl-C, as a user does)."""
    base_url = f"http://127.0.0.1:{(port := free_port())}"
    with log.open("wb") as output:
        server = subprocess.Popen(
            serve_command(data_dir, port), stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_until(lambda: ready(base_url, server), timeout=60, what=f"{base_url} ready")
            yield server
        finally:
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=30) == 0


def ready(base_url: str, server: subprocess.Popen[bytes]) -> bool:
    assert server.poll() is None, "the server exited"
    try:
        return httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def refused_serve(data_dir: Path, port: int) -> str:
    """The one line a refused ``bkjobs serve`` printed (stdout and stderr), after exit 2."""
    done = subprocess.run(
        serve_command(data_dir, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=REFUSAL_SECONDS,
    )
    assert done.returncode == 2, done.stdout
    (line,) = done.stdout.splitlines()  # no banner, no worker or uvicorn log
    return line


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with running_server(data_dir, tmp_path / "first.log") as first:
        line = refused_serve(data_dir, free_port())

        assert line == (
            f"error: another bkjobs serve (pid {first.pid}) is using the data dir "
            f"{data_dir.resolve()}; stop it or pass another --data-dir"
        )
        assert first.poll() is None  # the first one serves on, untouched

    # Stopping the first frees the data dir (the lock dies with its holder).
    with running_server(data_dir, tmp_path / "second.log"):
        pass


def test_a_server_on_a_busy_port_is_refused_before_it_starts(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        line = refused_serve(data_dir, port)

    assert line.startswith(f"error: port {port} is in use")
    # Nothing was set up: no ledger migrated, no job store opened by workers.
    assert not (data_dir / "ledger.db").exists()
    assert not (data_dir / "jobs.db").exists()


def test_the_access_log_is_off_unless_asked_for() -> None:
    from fastapi import FastAPI

    from bookkeeper_jobs.cli import uvicorn_server
    from bookkeeper_jobs.settings import Settings

    app = FastAPI()
    shipped = uvicorn_server(app, Settings(environment="test"), "127.0.0.1", 0)
    asked = uvicorn_server(app, Settings(environment="test", access_log=True), "127.0.0.1", 0)
    assert (shipped.config.access_log, asked.config.access_log) == (False, True)
