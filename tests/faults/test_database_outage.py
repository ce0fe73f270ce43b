"""A PostgreSQL outage under the embedded mode: ridden out, reported, recovered from.

A real PostgreSQL server (the test's own) holds the ledger and is stopped as a crash would
stop it. Running jobs ride out an outage longer than their task-error budget; a server
started while the database is down still starts, says why it is not ready, migrates once
the database is back, and then runs jobs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bookkeeper_jobs.api.app import create_app
from tests.api.harness import KEY_A, api_settings, serve_app
from tests.postgres import ThrowawayServer
from tests.support.jobs_http import accepted_job_id, wait_for_job_status
from tests.support.polling import wait_until

pytestmark = pytest.mark.postgres

OUTAGE_SECONDS = 10.0


def categorize(http: httpx.Client) -> str:
    body = {"company_id": "c1", "tenant_id": "t1", "limit": 10}
    return accepted_job_id(http.post("/api/jobs/categorize", json=body))


def readiness(http: httpx.Client) -> httpx.Response:
    return http.get("/readyz")


@contextmanager
def serve(database_url: str, data_dir: Path) -> Iterator[httpx.Client]:
    """The real app (uvicorn, worker processes) with its ledger on ``database_url``."""
    settings = api_settings(
        data_dir, database_url=database_url, retry_backoff=0.5, job_max_attempts=3
    )
    with (
        serve_app(create_app(settings)) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=30
        ) as http,
    ):
        yield http


def test_a_running_job_rides_out_an_outage_longer_than_its_retries(
    own_postgres_server: ThrowawayServer, tmp_path: Path
) -> None:
    with serve(own_postgres_server.url, tmp_path) as http:
        wait_until(lambda: readiness(http).status_code == 200, what="ready")
        own_postgres_server.pause()
        job_id = categorize(http)
        down = wait_until(lambda: (r := readiness(http)).status_code == 503 and r, what="503")
        assert any("ledger database unavailable" in p for p in down.json()["problems"])
        time.sleep(OUTAGE_SECONDS)
        own_postgres_server.resume()
        resumed = time.monotonic()

        done = wait_for_job_status(http, job_id, {"complete", "failed"}, timeout=90)
        assert done["status"] == "complete", done["error"]
        assert done["attempts"] > 3, "it went past the task-error budget of 3 attempts"
        back = time.monotonic() - resumed
        print(f"\ndatabase down {OUTAGE_SECONDS:g} s: the job completed on attempt "
              f"{done['attempts']}, {back:.1f} s after it was back")  # fmt: skip
        assert done["error"] is None
        wait_until(lambda: readiness(http).status_code == 200, what="ready again")


def test_a_server_started_while_the_database_is_down_starts_and_becomes_ready(
    own_postgres_server: ThrowawayServer, tmp_path: object
) -> None:
    own_postgres_server.pause()
    with serve(own_postgres_server.url, tmp_path) as http:
        not_ready = readiness(http)
        assert not_ready.status_code == 503
        assert any("migrations will be tried again" in p for p in not_ready.json()["problems"])
        job_id = categorize(http)  # accepted meanwhile: the job store is not the ledger
        own_postgres_server.resume()

        wait_until(lambda: readiness(http).status_code == 200, timeout=30, what="migrated")
        done = wait_for_job_status(http, job_id, {"complete", "failed"}, timeout=90)
        assert done["status"] == "complete", done["error"]
