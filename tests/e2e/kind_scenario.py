"""The end-to-end scenario on a real cluster, run by ``make e2e-kind`` (never by
``make test``: this file is not named ``test_*``). It talks to the API installed by the
chart's ``values-dev.yaml`` and checks the resources with the project's kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bank-statement.csv"
TENANT, COMPANY = "demo", "demo-co"


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


def wait_finished(client: httpx.Client, job_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("complete", "failed", "cancelled"):
            return job
        time.sleep(1)
    raise AssertionError(f"{job_id} did not finish in {timeout} s")


def test_upload_runs_as_a_kubernetes_job_to_complete() -> None:
    with api() as client, SAMPLE.open("rb") as sample:
        response = client.post(
            "/api/jobs/upload-and-categorize",
            files={"file": ("bank-statement.csv", sample, "text/csv")},
            data={"company_id": COMPANY, "tenant_id": TENANT},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = wait_finished(client, job_id)
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
        job = wait_finished(client, job_id, timeout=60)
    assert job["status"] in ("cancelled", "complete")
