"""A full disk under the embedded mode: reported, survived, and recovered from by itself.

The server (real uvicorn, real worker processes) keeps its data dir on a small tmpfs that
the test fills. While it is full: a submission answers 507 naming the cause, ``/readyz`` is
503 saying why, no worker dies, and a job that finished meanwhile keeps its real ending.
Once space is freed, everything works again without a restart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.api.worker_pool import WorkerPool
from tests.api.harness import api_settings, make_jwt, serve_app
from tests.contract.scripted import note
from tests.support.jobs_http import accepted_job_id, job_view, wait_for_job, wait_for_job_status
from tests.support.polling import wait_until

from .conftest import fill

SCRIPTED = "tests.contract.scripted:run"


@dataclass
class Server:
    http: httpx.Client
    workers: WorkerPool


@pytest.fixture
def server(small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("BKJOBS_TEST_SCRIPT_DIR", str(tmp_path))  # the scripted task's notes
    settings = api_settings(
        small_disk, tasks={"categorize": SCRIPTED}, retry_backoff=0.1, lease_seconds=30
    )
    app = create_app(settings)
    with serve_app(app) as base_url:
        token = make_jwt("t1", ["ok", "slow"])
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            yield Server(http, app.state.workers)


def start(http: httpx.Client, scenario: str, n: int) -> httpx.Response:
    body = {"company_id": scenario, "tenant_id": "t1", "limit": n}
    return http.post("/api/jobs/categorize", json=body)


def test_a_full_disk_is_reported_survived_and_recovered_from(
    server: Server, small_disk: Path
) -> None:
    http = server.http
    before = accepted_job_id(start(http, "ok", 1))
    assert wait_for_job_status(http, before, {"complete"})["result"] == {"steps": 10, "attempt": 1}

    running = accepted_job_id(start(http, "slow", 2))  # 100 steps of 0.1 s
    wait_for_job(http, running, lambda job: job["progress"] >= 5, what="the slow job to run")
    filler = fill(small_disk)

    refused = start(http, "ok", 3)
    assert refused.status_code == 507, refused.text
    assert "storage unavailable" in refused.json()["detail"]
    assert "full" in refused.json()["detail"]
    ready = http.get("/readyz")
    assert ready.status_code == 503
    assert any("full" in problem for problem in ready.json()["problems"])

    # The slow job's task ends while nothing can be written: its ending waits, not lost.
    wait_until(lambda: note("slow-t1-2.done").exists(), timeout=30, what="the slow task's end")
    assert job_view(http, running)["status"] == "running", "its ending is not written yet"
    assert server.workers.alive() == 2 and server.workers.restarts == 0
    os.remove(filler)
    freed = time.monotonic()

    wait_until(lambda: http.get("/readyz").status_code == 200, timeout=15, what="ready again")
    ready_after = time.monotonic() - freed
    done = wait_for_job_status(http, running, {"complete"}, timeout=30)
    print(f"\nfull disk: ready {ready_after:.1f} s after space was freed, the waiting ending "
          f"recorded {time.monotonic() - freed:.1f} s after")  # fmt: skip
    assert (done["result"], done["attempts"]) == ({"steps": 100}, 1)
    after = accepted_job_id(start(http, "ok", 4))
    assert wait_for_job_status(http, after, {"complete"})["status"] == "complete"
    assert server.workers.alive() == 2 and server.workers.restarts == 0, "no worker died"
