"""The ``bkjobs`` command line against the live server: submit with ``--follow`` shows the
job to its end and its exit status says how it ended; listing and errors read well."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import SAMPLE_STATEMENT, Company
from tests.api.harness import LiveServer, make_jwt

BKJOBS = str(Path(sys.executable).parent / "bkjobs")


def bkjobs(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BKJOBS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def client_args(server: LiveServer, company: Company) -> list[str]:
    return ["--url", server.base_url, "--key", make_jwt(company.tenant_id, [company.id])]


def test_submit_follow_exits_zero_when_the_job_completes(
    live_server: LiveServer, company: Company
) -> None:
    done = bkjobs(
        "submit", "upload-and-categorize", "--company", company.id, "--tenant", "t1",
        "--file", str(SAMPLE_STATEMENT), "--follow", *client_args(live_server, company),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert job_id.startswith("job-")
    assert "complete" in done.stderr
    assert '"imported": 300' in done.stderr

    listed = bkjobs("jobs", "list", "--company", company.id, *client_args(live_server, company))
    assert listed.returncode == 0, listed.stderr
    assert job_id in listed.stdout
    assert "upload-and-categorize" in listed.stdout


def test_submit_follow_exits_non_zero_when_the_job_fails(
    live_server: LiveServer, company: Company, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Description,Amount\nnot-a-date,Coffee,abc\n")
    done = bkjobs(
        "submit", "upload-and-categorize", "--company", company.id, "--tenant", "t1",
        "--file", str(bad), "--follow", *client_args(live_server, company),
    )  # fmt: skip
    assert done.returncode == 1
    assert "failed" in done.stderr
    assert "line 2" in done.stderr


def test_api_errors_are_one_clear_line(live_server: LiveServer, company: Company) -> None:
    done = bkjobs("watch", "job-00000000000000000000", *client_args(live_server, company))
    assert done.returncode == 2
    assert "HTTP 404" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_company_outside_the_grant_is_refused(live_server: LiveServer, company: Company) -> None:
    done = bkjobs(
        "submit", "categorize", "--company", "someone-else", "--tenant", "t1",
        *client_args(live_server, company),
    )  # fmt: skip
    assert done.returncode == 2
    assert "HTTP 403" in done.stderr


def test_jobs_list_pages_with_the_cursor_it_prints(
    live_server: LiveServer, company: Company
) -> None:
    started = [
        company.http.post(
            "/api/jobs/categorize", json={"company_id": company.id, "tenant_id": "t1"}
        ).json()["job_id"]
        for _ in range(3)
    ]
    key = ["--key", make_jwt(company.tenant_id, [company.id])]

    first = bkjobs(
        "jobs", "list", "--company", company.id, "--limit", "2", "--url", live_server.base_url,
        *key,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    more = first.stderr.splitlines()[-1]
    assert more.startswith("more: bkjobs jobs list "), first.stderr
    second = bkjobs(*shlex.split(more.removeprefix("more: bkjobs ")), *key)
    assert second.returncode == 0, second.stderr
    assert not any(line.startswith("more:") for line in second.stderr.splitlines())

    listed = [line.split()[0] for line in first.stdout.splitlines() + second.stdout.splitlines()]
    assert listed == started[::-1]  # newest first, each job once
