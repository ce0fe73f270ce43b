"""Cancelling: a pending job stops at once, a running one within about two seconds, a
finished one cannot be cancelled, and another tenant's job is not there to cancel."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.jobs_http import accepted_job_id, follow_job, wait_for_job_status
from tests.support.uploads import generated_statement, upload_statement

from .conftest import Company
from .harness import KEY_B, LiveServer

BIG_ROWS = 100_000
CANCEL_WITHIN_SECONDS = 2.0


@pytest.fixture(scope="module")
def big_csv() -> bytes:
    return generated_statement(BIG_ROWS, year=2024)


def cancel(http: httpx.Client, job_id: str) -> httpx.Response:
    return http.post(f"/api/jobs/{job_id}/cancel")


@pytest.fixture
def busy_workers(company: Company, big_csv: bytes) -> Iterator[list[str]]:
    """Both workers running a long import (one per company), cancelled afterwards."""
    running = [
        accepted_job_id(upload_statement(company.http, company_id, big_csv, filename="big.csv"))
        for company_id in (company.id, company.sibling)
    ]
    for job_id in running:
        wait_for_job_status(company.http, job_id, {"running"}, timeout=60)
    yield running
    for job_id in running:
        cancel(company.http, job_id)
        wait_for_job_status(company.http, job_id, {"cancelled", "complete", "failed"})


def test_a_pending_job_is_cancelled_at_once(company: Company, busy_workers: list[str]) -> None:
    queued = company.http.post(
        "/api/jobs/categorize", json={"company_id": company.id, "tenant_id": "t1"}
    ).json()["job_id"]
    assert company.http.get(f"/api/jobs/{queued}").json()["status"] == "pending"

    response = cancel(company.http, queued)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    time.sleep(0.5)  # a worker that frees up must not pick it up any more
    assert company.http.get(f"/api/jobs/{queued}").json()["status"] == "cancelled"


def test_a_running_job_is_cancelled_within_two_seconds(
    live_server: LiveServer, company: Company, busy_workers: list[str]
) -> None:
    job_id = busy_workers[0]
    before = company.http.get(f"/api/jobs/{job_id}").json()
    assert before["status"] == "running"

    asked = time.monotonic()
    response = cancel(company.http, job_id)
    assert response.status_code == 200
    assert response.json()["status"] in {"running", "cancelled"}
    view = wait_for_job_status(company.http, job_id, {"cancelled"}, timeout=CANCEL_WITHIN_SECONDS)

    assert time.monotonic() - asked <= CANCEL_WITHIN_SECONDS
    assert view["finished_at"] is not None
    with live_server.ledger() as ledger:
        assert ledger.count_transactions(company.id) < BIG_ROWS
    time.sleep(0.5)
    assert company.http.get(f"/api/jobs/{job_id}").json()["status"] == "cancelled"


def test_cancelling_a_finished_job_is_a_409(company: Company) -> None:
    job_id = company.http.post(
        "/api/jobs/categorize", json={"company_id": company.id, "tenant_id": "t1"}
    ).json()["job_id"]
    finished = follow_job(company.http, job_id).view

    response = cancel(company.http, job_id)

    assert response.status_code == 409
    assert finished["status"] in response.json()["detail"]
    assert company.http.get(f"/api/jobs/{job_id}").json()["status"] == finished["status"]


def test_cancelling_another_tenants_job_is_a_404(
    live_server: LiveServer, company: Company, sample_statement: bytes
) -> None:
    job_id = accepted_job_id(upload_statement(company.http, company.id, sample_statement))

    with live_server.client(KEY_B) as other_tenant:
        response = cancel(other_tenant, job_id)

    assert response.status_code == 404
    assert response.json() == {"detail": f"job {job_id!r} not found"}
    assert follow_job(company.http, job_id).view["status"] == "complete"
