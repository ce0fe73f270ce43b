"""The end-to-end scenario on a real cluster, run by ``make e2e-kind`` (never by
``make test``: this file is not named ``test_*``). It talks to the API installed by the
chart's ``values-dev.yaml`` and checks the resources with the project's kubectl."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx

from tests.support.jobs_http import accepted_job_id, follow_job
from tests.support.uploads import upload_statement

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bank-statement.csv"
TENANT, COMPANY = "demo", "demo-co"
POLL_SECONDS = 1.0
"""How often a job is polled: a real cluster takes seconds, not milliseconds."""


def api() -> httpx.Client:
    key = os.environ["BKJOBS_E2E_KEY"]
    return httpx.Client(
        base_url=os.environ["BKJOBS_E2E_URL"],
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def kubectl(*args: str) -> str:
    command = [os.environ["BKJOBS_E2E_KUBECTL"], *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_upload_runs_as_a_kubernetes_job_to_complete() -> None:
    with api() as client:
        uploaded = upload_statement(client, COMPANY, SAMPLE.read_bytes(), tenant_id=TENANT)
        job_id = accepted_job_id(uploaded)
        job = follow_job(client, job_id, timeout=300, interval=POLL_SECONDS).view
    assert job["status"] == "complete", job
    assert job["result"]["imported"] == 300
    kubectl("wait", "--for=condition=Succeeded", f"bkj/{job_id}", "--timeout=60s")
    listed = json.loads(
        kubectl("get", "bkj", "-l", f"jobs.bookkeeper.ai/company={COMPANY}", "-o", "json")
    )
    assert job_id in {item["metadata"]["name"] for item in listed["items"]}


def test_cancel_stops_the_job() -> None:
    with api() as client:
        started = client.post(
            "/api/jobs/categorize", json={"company_id": COMPANY, "tenant_id": TENANT}
        )
        job_id = started.json()["job_id"]
        client.post(f"/api/jobs/{job_id}/cancel")
        job = follow_job(client, job_id, timeout=60, interval=POLL_SECONDS).view
    assert job["status"] in ("cancelled", "complete")
