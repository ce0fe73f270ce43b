"""The whole embedded server SIGKILLed while uploads arrive and run, then started again.

A real ``bkjobs serve`` (its workers and their task processes die with it) takes uploads of
distinct statements from several clients at once and is killed halfway. Started again on
the same data dir, it finishes every job that got a 202, by itself: each ends ``complete``,
and the ledger holds every row of every accepted statement exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bookkeeper_jobs.ledger import Ledger
from bookkeeper_jobs.settings import Settings
from tests.support.jobs_http import wait_for_job_status
from tests.support.polling import wait_until
from tests.support.uploads import generated_statement

BKJOBS = str(Path(sys.executable).parent / "bkjobs")
KEY = "fault-suite-key-0123456789"
UPLOADS = 9
ROWS = 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    environment = {
        **os.environ,
        "BKJOBS_API_KEYS": json.dumps({KEY: {"tenant_id": "t1", "company_ids": ["c1"]}}),
        "BKJOBS_LEASE_SECONDS": "2",
        "BKJOBS_RETRY_BACKOFF": "0.2",
        "BKJOBS_ENVIRONMENT": "test",
    }
    command = [BKJOBS, "serve", "--port", str(port), "--data-dir", str(data_dir)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=30)


def running(base_url: str, job_ids: list[str]) -> bool:
    """Whether one of the jobs is halfway through its import."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        views = [http.get(f"/api/jobs/{job_id}").json() for job_id in job_ids]
    return any(view["status"] == "running" and view["progress"] > 0 for view in views)


def ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_every_accepted_upload_completes_once_after_the_server_was_killed(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "server.log"
    base_url = f"http://127.0.0.1:{port}"
    accepted: dict[str, int] = {}  # job id -> rows of its statement
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(base_url=base_url, timeout=10) as http:
            for n in range(index, UPLOADS, 3):
                content = generated_statement(ROWS, year=2000 + n)
                try:
                    answer = http.post(
                        "/api/jobs/upload-and-categorize",
                        headers={"Authorization": f"Bearer {KEY}"},
                        data={"company_id": "c1", "tenant_id": "t1"},
                        files={"file": (f"s{n}.csv", content, "text/csv")},
                    )
                except httpx.TransportError:
                    return  # the server is gone: this upload got no 202
                if answer.status_code == 202:
                    with lock:
                        accepted[answer.json()["job_id"]] = ROWS

    with server(data_dir, port, log) as first:
        wait_until(lambda: ready(base_url), timeout=60, what="the first server")
        clients = [threading.Thread(target=client, args=(i,)) for i in range(3)]
        for thread in clients:
            thread.start()
        wait_until(lambda: len(accepted) >= 3, timeout=60, what="some uploads accepted")
        wait_until(lambda: running(base_url, list(accepted)), timeout=60, what="a job running")
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait()
        for thread in clients:
            thread.join()

    with server(data_dir, port, log):
        wait_until(lambda: ready(base_url), timeout=60, what="the restarted server")
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        ) as http:
            ends = [
                wait_for_job_status(http, job, {"complete", "failed"}, timeout=120)
                for job in accepted
            ]
        recovered = time.monotonic() - killed_at
    assert [end["status"] for end in ends] == ["complete"] * len(accepted), ends
    assert sum(end["result"]["imported"] for end in ends) == sum(accepted.values())
    settings = Settings(data_dir=data_dir, environment="test")
    ledger = Ledger.from_settings(settings)
    try:
        rows = ledger.count_transactions("c1")
    finally:
        ledger.dispose()
    assert rows == ROWS * len(accepted), "every accepted row once: none lost, none doubled"
    retried = sum(end["attempts"] > 1 for end in ends)
    assert retried >= 1, "a job was running when the server died"
    print(
        f"\nserver killed: {len(accepted)} accepted uploads ({retried} retried), "
        f"{rows} ledger rows checked, all complete {recovered:.1f} s after the kill"
    )
