"""``bkjobs`` errors a user can cause and fix are one line on stderr naming the cause, and
exit 2: the server is down, ``--file`` is missing, a setting does not validate. No traceback,
no pydantic dump (and never a secret from the environment)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bookkeeper_jobs.cli import main

BKJOBS = str(Path(sys.executable).parent / "bkjobs")


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def one_error_line(captured: pytest.CaptureFixture[str]) -> str:
    printed = captured.readouterr()
    (line,) = printed.err.splitlines()
    assert line.startswith("error: ")
    assert printed.out == ""
    return line


@pytest.mark.parametrize(
    "command",
    [
        ["watch", "job-00000000000000000000"],
        ["jobs", "list", "--company", "c1"],
        ["submit", "categorize", "--company", "c1", "--tenant", "t1"],
    ],
)
def test_a_server_that_is_down_is_one_line_naming_its_url(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    exit_code = main([*command, "--url", url, "--key", "some-key"])

    assert exit_code == 2
    line = one_error_line(capsys)
    assert f"cannot reach the API at {url}" in line
    assert "Connection refused" in line


def test_upload_without_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    command = ["submit", "upload-and-categorize", "--company", "c1", "--tenant", "t1"]

    exit_code = main([*command, "--url", f"http://127.0.0.1:{closed_port()}"])

    assert exit_code == 2
    assert "needs --file" in one_error_line(capsys)


def test_upload_of_a_missing_file_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "statement.csv"
    command = ["submit", "upload-and-categorize", "--company", "c1", "--tenant", "t1"]

    # The server is down too: the file is checked first, before anything is sent.
    exit_code = main(
        [*command, "--file", str(missing), "--url", f"http://127.0.0.1:{closed_port()}"]
    )

    assert exit_code == 2
    assert one_error_line(capsys) == f"error: --file {missing}: no such file"


def serve_with(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """``bkjobs serve`` as a user starts it, with ``environment`` on top of a clean one."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BKJOBS_")}
    env.update(environment)
    command = [BKJOBS, "serve", "--data-dir", str(tmp_path / "var"), "--port", str(closed_port())]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "BKJOBS_WORKER_CONCURRENCY",
            "abc",
            "error: BKJOBS_WORKER_CONCURRENCY: Input should be a valid integer",
        ),
        (
            "BKJOBS_API_KEYS",
            '{"sk-live-0123456789abcdef": ',
            "error: BKJOBS_API_KEYS: not valid JSON",
        ),
        (
            "BKJOBS_API_KEYS",
            '{"sk-live-0123456789abcdef": {"company_ids": ["c1"]}}',
            "error: BKJOBS_API_KEYS (tenant_id): Field required",
        ),
    ],
)
def test_bad_configuration_at_start_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    done = serve_with(tmp_path, **{variable: value})

    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(expected)
    assert "sk-live-0123456789abcdef" not in done.stderr  # an API key is a secret
    assert done.stdout == ""
    assert not (tmp_path / "var").exists()  # refused before touching the data dir
