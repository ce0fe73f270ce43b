"""Cluster mode end to end on one machine: every request goes over real HTTP to the real app
(KubernetesJobStore over its watch cache), which creates BookkeepingJob resources in the API
server; the real operator (kopf) runs each as a batch/v1 Job; that Job's pod, the real
``bkjobs task run --job <ns>/<name>``, reports through the status subresource.

Every test runs twice (``conftest.py``): on the API-server emulator with the test kubelet,
and on the real control plane (kube-apiserver with RBAC, the real Job controller) with the
node agent, where the API, the operator and the task pods each hold a token of their chart
ServiceAccount. ``clusters.py`` has the wiring and what tests read of each."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bookkeeper_jobs.ledger import NewTransaction
from bookkeeper_jobs.lifecycle import TaskExit
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.resource import API_VERSION, KIND
from tests.support.jobs_http import (
    TERMINAL,
    JobView,
    accepted_job_id,
    wait_for_job,
    wait_for_job_status,
)
from tests.support.polling import wait_until
from tests.support.sse import read_job_events
from tests.support.uploads import generated_statement, upload_statement

from .clusters import Cluster
from .conftest import COMPANY, OTHER_COMPANY, TENANT

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bank-statement.csv"
SAMPLE_ROWS = 300
BIG_ROWS = 60_000
"""Enough for several seconds of importing: the cancellation lands while it runs."""
CANCEL_SECONDS = 30.0
CLEANUP_SECONDS = 30.0
"""Bounds of the waits after a cancel (times ``cluster.patience``); that a cancel is quick
is the contract suite's ``test_cancel_a_running_job_stops_it_within_two_seconds``."""


@pytest.fixture
def http(cluster: Cluster) -> Iterator[httpx.Client]:
    """Authenticated with the key of tenant t1 (companies c1 and c2)."""
    with cluster.client() as client:
        yield client


def start(http: httpx.Client, job_type: str, **fields: Any) -> str:
    body = {"company_id": COMPANY, "tenant_id": TENANT, **fields}
    response = http.post(f"/api/jobs/{job_type}", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def condition(resource: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = (resource.get("status") or {}).get("conditions") or []
    found: list[dict[str, Any]] = [c for c in conditions if c.get("type") == kind]
    assert len(found) == 1, conditions
    return found[0]


def wait_for_progress(cluster: Cluster, http: httpx.Client, job_id: str) -> JobView:
    """The job's view once its task reported progress above 0 (or it ended)."""
    return wait_for_job(
        http,
        job_id,
        lambda view: view["progress"] > 0 or view["status"] in TERMINAL,
        what="to report progress",
        timeout=30.0 * cluster.patience,
    )


def pods_stopped(cluster: Cluster, job_id: str) -> bool:
    return all(run.finished.is_set() for run in cluster.pod_runs(job_id))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_api_is_ready_once_its_watch_cache_synced(cluster: Cluster) -> None:
    with cluster.client(token=None) as anonymous:
        wait_until(lambda: anonymous.get("/readyz").status_code == 200, what="/readyz")
        assert anonymous.get("/readyz").json() == {
            "status": "ready",
            "problems": [],
            "degraded": [],
        }
        assert anonymous.get("/healthz").status_code == 200


def test_an_upload_runs_as_one_kubernetes_job_to_complete(
    cluster: Cluster, http: httpx.Client
) -> None:
    uploaded = upload_statement(http, COMPANY, SAMPLE.read_bytes(), tenant_id=TENANT)
    job_id = accepted_job_id(uploaded)

    followed = cluster.follow(http, job_id)

    view = followed.view
    assert view["status"] == "complete", cluster.pod_logs(job_id)
    assert followed.progress == sorted(followed.progress), "progress went down"
    assert followed.progress[-1] == 100
    assert view["result"]["imported"] == SAMPLE_ROWS
    assert view["result"]["row_errors"] == 0
    categorization = view["result"]["categorization"]
    assert categorization["processed"] == SAMPLE_ROWS
    assert categorization["model"]["trained"], "the approved history was not learned"
    assert categorization["by_source"]["rule"] > 0
    assert categorization["by_source"]["model"] > 0

    resource = cluster.resource(job_id)
    assert resource["status"]["phase"] == "complete"
    assert resource["status"]["progress"] == 100
    assert condition(resource, "Succeeded")["status"] == "True"
    assert condition(resource, "Failed")["status"] == "False"

    created = cluster.jobs_created_for(job_id)
    assert len(created) == 1, [job["metadata"]["name"] for job in created]
    job = created[0]
    assert job["metadata"]["name"] == job_name(job_id)
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["apiVersion"], owner["kind"], owner["name"]) == (API_VERSION, KIND, job_id)
    assert owner["uid"] == resource["metadata"]["uid"]
    assert owner["controller"] is True
    [container] = job["spec"]["template"]["spec"]["containers"]
    command = ["bkjobs", "task", "run", "--job", f"{cluster.namespace}/{job_id}"]
    assert container["command"] == command
    finished = cluster.wait_for_job(job_id, "Complete")
    assert finished["status"]["succeeded"] == 1
    [pod] = cluster.pod_runs(job_id)
    assert pod.exit_code == 0


def test_categorize_and_bulk_approve_complete_through_the_api(
    cluster: Cluster, http: httpx.Client
) -> None:
    categorize_id = start(http, "categorize", limit=10)
    categorized = cluster.follow(http, categorize_id).view
    assert categorized["status"] == "complete", categorized
    assert categorized["progress"] == 100
    assert categorized["result"]["requested"] == 10
    assert categorized["result"]["processed"] == 10

    with cluster.ledger() as ledger:
        ids = [t.id for t in ledger.list_transactions(COMPANY, approval="pending", limit=20)]
        [foreign] = [t.id for t in ledger.list_transactions(OTHER_COMPANY, limit=1)]
    assert len(ids) == 20
    approve_id = start(http, "bulk-approve", transaction_ids=[*ids, foreign])
    approved = cluster.follow(http, approve_id).view

    assert approved["status"] == "complete", approved
    result = approved["result"]
    assert result["requested"] == 21
    assert result["approved"] == 20
    assert result["not_found"] == [foreign]
    assert result["not_found_count"] == 1
    with cluster.ledger() as ledger:
        assert {t.approval for t in ledger.get_transactions(COMPANY, ids)} == {"approved"}
        assert ledger.get_transactions(OTHER_COMPANY, [foreign])[0].approval == "pending"
    for job_id in (categorize_id, approve_id):
        assert cluster.resource(job_id)["status"]["phase"] == "complete"
        assert len(cluster.jobs_created_for(job_id)) == 1


def test_events_stream_a_job_to_its_end_from_the_watch_cache(
    cluster: Cluster, http: httpx.Client
) -> None:
    job_id = start(http, "categorize", limit=5)

    events = read_job_events(http, job_id).events

    assert len(events) >= 2, events
    assert {event.name for event in events} == {"status"}
    assert all(event.data["id"] == job_id for event in events)
    versions = [int(event.id) for event in events]
    assert versions == sorted(set(versions))
    progress = [event.data["progress"] for event in events]
    assert progress == sorted(progress)
    assert all(event.data["status"] not in TERMINAL for event in events[:-1])
    last = events[-1].data
    assert last["status"] == "complete", cluster.pod_logs(job_id)
    assert last["progress"] == 100
    assert http.get(f"/api/jobs/{job_id}").json() == last

    # A finished job's stream is its one last event, and costs the API server no request.
    with cluster.requests_naming(job_id) as requests:
        replayed = read_job_events(http, job_id).events
    assert [event.data for event in replayed] == [last]
    assert requests == []


def test_cancel_stops_a_running_job_and_its_pod(cluster: Cluster, http: httpx.Client) -> None:
    big = generated_statement(BIG_ROWS, year=2025)
    job_id = accepted_job_id(upload_statement(http, OTHER_COMPANY, big, tenant_id=TENANT))
    running = wait_for_progress(cluster, http, job_id)  # the pod is importing rows
    assert running["status"] == "running"
    assert running["progress"] < 100
    [pod] = wait_until(
        lambda: cluster.pod_runs(job_id), timeout=5 * cluster.patience, what="the pod"
    )
    assert pod.pid is not None and not pod.finished.is_set()

    response = http.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] in {"running", "cancelled"}
    view = wait_for_job_status(
        http, job_id, {"cancelled"}, timeout=CANCEL_SECONDS * cluster.patience
    )

    assert view["finished_at"] is not None
    cleanup = CLEANUP_SECONDS * cluster.patience
    wait_until(lambda: not cluster.job_exists(job_id), timeout=cleanup, what="the Job to go")
    wait_until(lambda: pods_stopped(cluster, job_id), timeout=cleanup, what="the pod to stop")
    assert not process_alive(pod.pid)
    assert pod.exit_code != 0  # stopped by the pod's deletion, not finished
    resource = cluster.resource(job_id)
    assert resource["spec"]["cancelRequested"] is True
    assert resource["status"]["phase"] == "cancelled"
    assert condition(resource, "Cancelled")["status"] == "True"
    with cluster.ledger() as ledger:
        assert 1 < ledger.count_transactions(OTHER_COMPANY) < BIG_ROWS  # 1: the seeded row
    time.sleep(0.5)
    assert http.get(f"/api/jobs/{job_id}").json()["status"] == "cancelled"
    assert http.post(f"/api/jobs/{job_id}/cancel").status_code == 409


def test_an_upload_of_bad_rows_fails_naming_the_lines(cluster: Cluster, http: httpx.Client) -> None:
    content = (
        b"Date,Description,Amount\n"
        b"13/45/2024,STARBUCKS STORE 1187,-4.50\n"
        b"01/02/2024,SHELL OIL 57444,12.3.4\n"
        b"01/03/2024,UBER *TRIP,N/A\n"
    )
    job_id = accepted_job_id(upload_statement(http, COMPANY, content, tenant_id=TENANT))

    view = cluster.follow(http, job_id).view

    assert view["status"] == "failed", view
    assert view["error"] is not None
    for line in ("line 2", "line 3", "line 4"):
        assert line in view["error"], view["error"]
    # The task wrote "failed" itself and exited 3 (TaskExit.FINAL): the Job's podFailurePolicy
    # fails it at once, without retrying, and the operator's reflection of that Job failure
    # leaves the task's own error alone (the lifecycle refuses to leave "failed").
    cluster.wait_for_job(job_id, "Failed")
    [pod] = cluster.pod_runs(job_id)
    assert pod.exit_code == TaskExit.FINAL
    resource = cluster.resource(job_id)
    assert resource["status"]["phase"] == "failed"
    assert condition(resource, "Failed")["status"] == "True"
    assert condition(resource, "Failed")["reason"] == "TaskFailed"
    time.sleep(0.5)
    assert http.get(f"/api/jobs/{job_id}").json()["error"] == view["error"]


def test_a_company_lists_its_jobs_newest_first(cluster: Cluster, http: httpx.Client) -> None:
    first = start(http, "categorize", limit=1)
    second = start(http, "categorize", limit=1)

    response = http.get(f"/api/jobs/company/{COMPANY}")

    assert response.status_code == 200, response.text
    listing = response.json()
    jobs = listing["jobs"]
    assert [job["id"] for job in jobs[:2]] == [second, first]
    assert listing["count"] == len(jobs)
    assert {(job["company_id"], job["tenant_id"]) for job in jobs} == {(COMPANY, TENANT)}
    created = [datetime.fromisoformat(job["created_at"]) for job in jobs]
    assert created == sorted(created, reverse=True)
    for job_id in (first, second):
        assert cluster.follow(http, job_id).view["status"] == "complete"
    other = http.get(f"/api/jobs/company/{OTHER_COMPANY}").json()["jobs"]
    assert not {first, second} & {job["id"] for job in other}


RECEIPT = Path(__file__).resolve().parents[1] / "fixtures" / "receipts" / "X51006556830.jpg"
"""PINGHWAI TRADING SDN BHD, 23/09/2017, total 1,007.50 (its ground truth)."""


def test_a_receipt_is_uploaded_read_by_a_task_pod_and_matched(
    cluster: Cluster, http: httpx.Client
) -> None:
    with cluster.ledger() as ledger:
        ledger.add_transactions(
            COMPANY,
            [seed_row_on(datetime(2017, 9, 25), "PINGHWAI TRADING KEPONG", "-1007.50")],
        )
        paid = next(
            t.id
            for t in ledger.list_transactions(COMPANY, limit=1000)
            if "PINGHWAI" in t.description
        )
    uploaded = http.post(
        "/api/receipts",
        data={"company_id": COMPANY, "tenant_id": TENANT},
        files={"file": ("scan.jpg", RECEIPT.read_bytes(), "image/jpeg")},
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    receipt_id = uploaded.json()["receipt_id"]

    job_id = start(http, "ocr", receipt_id=receipt_id)
    view = cluster.follow(http, job_id, timeout=120.0).view

    assert view["status"] == "complete", cluster.pod_logs(job_id)
    assert cluster.resource(job_id)["spec"]["parameters"] == {"receiptId": receipt_id}
    receipt = http.get(f"/api/receipts/{receipt_id}").json()
    assert (receipt["date"], receipt["total"]) == ("2017-09-23", "1007.50")
    assert receipt["match"]["status"] == "matched"
    assert receipt["matched_transaction_id"] == paid
    assert receipt["ocr_job_id"] == job_id


def seed_row_on(day: datetime, description: str, amount: str) -> NewTransaction:
    return NewTransaction(
        date=day.date(), description=description, amount=Decimal(amount), currency="MYR"
    )


def test_metrics_count_the_cached_resources(cluster: Cluster, http: httpx.Client) -> None:
    """The API's ``/metrics`` (what the chart's ServiceMonitor scrapes) in cluster mode: the
    watch cache's size, sync and relists; how long submitted jobs took to arrive through the
    watch (the lag histogram: the job this test submits is counted once it arrived, in well
    under the histogram's last bucket); and how long the API server has been silent."""
    start(http, "categorize")

    def scrape() -> dict[str, float]:
        with cluster.client(token=None) as prometheus:
            text = prometheus.get("/metrics").text
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if not sample.labels
            or (sample.name.endswith("_bucket") and sample.labels.get("le") == "30.0")
        }

    samples = wait_until(
        lambda: (found := scrape()).get("bkjobs_watch_cache_lag_seconds_count", 0) >= 1 and found,
        timeout=30,
        what="the submitted job counted in the lag histogram",
    )
    assert samples["bkjobs_watch_cache_synced"] == 1
    assert samples["bkjobs_watch_cache_objects"] >= 1
    assert samples["bkjobs_watch_cache_relists_total"] >= 1
    lagged = samples["bkjobs_watch_cache_lag_seconds_count"]
    assert samples["bkjobs_watch_cache_lag_seconds_bucket"] == lagged  # each within 30 s
    assert 0 <= samples["bkjobs_watch_cache_lag_seconds_sum"] < 30 * lagged
    assert 0 <= samples["bkjobs_watch_cache_silence_seconds"] < 120
    assert "bkjobs_workers_alive" not in samples  # no embedded workers in cluster mode
