"""A pytest plugin providing PostgreSQL for tests (registered in ``tests/conftest.py``).

``postgres_server_url`` (session): ``BKJOBS_TEST_POSTGRES_URL`` if set; otherwise a
throwaway server started from the local PostgreSQL binaries (``initdb`` into a temporary
directory, ``fsync=off``, stopped at the end of the session); otherwise the test is skipped,
except under ``CI=true``, where a missing PostgreSQL fails the test instead.

``postgres_url``: a fresh, empty database per test (dropped afterwards).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

URL_VARIABLE = "BKJOBS_TEST_POSTGRES_URL"
DRIVER = "postgresql+psycopg"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(f"no PostgreSQL: {reason}")


def _find_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = candidates[0] if candidates else shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


class ThrowawayServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="bkjobs-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres"]
        self._run([*initdb, "-A", "trust", "--no-sync", "-E", "UTF8"])
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log")]
        self._run([*pg_ctl, "-o", options, "-w", "start"])
        return self.url

    @property
    def url(self) -> str:
        return f"{DRIVER}://postgres@127.0.0.1:{self.port}/postgres"

    def pause(self) -> None:
        """Stop the server as a crash would (``-m immediate``), keeping its data."""
        pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.data)]
        self._run([*pg_ctl, "-m", "immediate", "-w", "stop"])

    def resume(self) -> None:
        """Start the paused server again on the same port."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log")]
        self._run([*pg_ctl, "-o", options, "-w", "start"])

    def stop(self) -> None:
        try:
            self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, command: list[str]) -> None:
        subprocess.run(_as_server_user(command), check=True, capture_output=True, timeout=120)


@pytest.fixture
def own_postgres_server() -> Iterator[ThrowawayServer]:
    """A throwaway server of this test's own, which the test may stop and start again."""
    bindir = _find_bindir()
    if bindir is None:
        _unavailable("install the PostgreSQL server binaries")
    assert bindir is not None
    server = ThrowawayServer(bindir)
    try:
        server.start()
    except (OSError, subprocess.SubprocessError) as exc:
        server.stop()
        _unavailable(f"could not start a throwaway server: {exc}")
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A URL of the ``postgres`` database of a server the tests may create databases on."""
    configured = os.environ.get(URL_VARIABLE)
    if configured:
        yield make_url(configured).set(drivername=DRIVER).render_as_string(hide_password=False)
        return
    bindir = _find_bindir()
    if bindir is None:
        _unavailable(f"set {URL_VARIABLE} or install the PostgreSQL server binaries")
    assert bindir is not None
    server = ThrowawayServer(bindir)
    try:
        url = server.start()
    except (OSError, subprocess.SubprocessError) as exc:
        server.stop()
        _unavailable(f"could not start a throwaway server: {exc}")
        raise
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = f"bkjobs_test_{secrets.token_hex(6)}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
