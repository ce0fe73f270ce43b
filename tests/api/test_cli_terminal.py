"""What ``bkjobs`` prints of the server's text reaches the terminal as text.

Job errors and results quote the uploaded file (a row's content, its name), so a hostile
statement must neither crash ``watch`` / ``submit --follow`` with ``rich`` markup (``[/red]``),
nor make a clickable link (``[link=...]``), nor send escape sequences (a title change, a
clear screen) to the terminal of whoever lists the company's jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bookkeeper_jobs.cli import main
from tests.api.conftest import Company
from tests.api.harness import LiveServer, make_jwt
from tests.support.jobs_http import accepted_job_id, wait_for_job_status
from tests.support.uploads import upload_statement

MARKUP = "[/red][link=https://evil.example]click[/link]"
ESCAPES = "\x1b]0;pwned\x07\x1b[2J"
"""A terminal title change (OSC 0 ... BEL), then clear screen (CSI 2 J)."""
ESCAPES_SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J"
HOSTILE = f"{MARKUP} {ESCAPES}"
PADDING = "x" * 200
"""Keeps control characters under the 2 % at which the server calls a file binary."""


def hostile_statement(good_rows: int) -> bytes:
    """Three rows whose date is the hostile text (each row error quotes it), then good rows."""
    bad = [f"{HOSTILE},{PADDING},-1.00\n"] * 3
    good = [f"01/{day:02d}/2024,Coffee {day},-{day}.50\n" for day in range(1, good_rows + 1)]
    return "".join(["Date,Description,Amount\n", *bad, *good]).encode()


def client_args(server: LiveServer, company: Company) -> list[str]:
    return ["--url", server.base_url, "--key", make_jwt(company.tenant_id, [company.id])]


def failed_hostile_job(company: Company) -> str:
    response = upload_statement(company.http, company.id, hostile_statement(good_rows=0))
    job_id = accepted_job_id(response)
    view = wait_for_job_status(company.http, job_id, {"complete", "failed"})
    assert view["status"] == "failed"
    assert ESCAPES in view["error"]  # the server quotes the row as it was
    return job_id


def assert_shown_as_text(printed: str) -> None:
    assert MARKUP in printed  # markup kept literally, not interpreted (no link, no crash)
    assert ESCAPES_SHOWN in printed  # escape sequences visible as text
    assert "\x1b" not in printed
    assert "\x07" not in printed


def test_watch_prints_a_failed_jobs_hostile_error_as_text(
    live_server: LiveServer, company: Company, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = failed_hostile_job(company)

    exit_code = main(["watch", job_id, *client_args(live_server, company)])

    printed = capsys.readouterr()
    assert exit_code == 1  # the job failed
    assert_shown_as_text(printed.err)
    assert printed.err.splitlines()[-1].startswith("failed: no usable rows")


def test_submit_follow_prints_a_hostile_result_as_text(
    live_server: LiveServer,
    company: Company,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    statement = tmp_path / f"statement {ESCAPES}.csv"  # the file name is quoted too
    statement.write_bytes(hostile_statement(good_rows=5))

    exit_code = main(
        ["submit", "upload-and-categorize", "--company", company.id, "--tenant", "t1",
         "--file", str(statement), "--follow", *client_args(live_server, company)]
    )  # fmt: skip

    printed = capsys.readouterr()
    assert exit_code == 0, printed.err
    complete = printed.err.splitlines()[-1]
    assert complete.startswith("complete: ")
    assert '"imported": 5' in complete
    assert MARKUP in complete
    assert "\x1b" not in printed.out + printed.err
    assert "\x07" not in printed.out + printed.err


def test_jobs_list_shows_escape_sequences_in_errors_as_text(
    live_server: LiveServer, company: Company, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = failed_hostile_job(company)

    exit_code = main(["jobs", "list", "--company", company.id, *client_args(live_server, company)])

    printed = capsys.readouterr()
    assert exit_code == 0, printed.err
    (line,) = printed.out.splitlines()
    assert line.startswith(job_id)
    assert_shown_as_text(line)


def test_an_api_error_quoting_a_hostile_job_id_is_one_line_of_text(
    live_server: LiveServer, company: Company, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = main(["cancel", f"job-{HOSTILE}", *client_args(live_server, company)])

    printed = capsys.readouterr()
    assert exit_code == 2
    (line,) = printed.err.splitlines()
    assert line.startswith("error: HTTP 4")
    assert "\x1b" not in line
