"""``GET /metrics``: Prometheus text the chart's ServiceMonitor scrapes (its path and port
are read from the rendered chart), counting jobs by type and phase, submissions, workers."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.jobs_http import accepted_job_id, wait_for_job
from tests.unit.test_chart import render

from .conftest import Company
from .harness import LiveServer


def scrape(
    live_server: LiveServer, path: str = "/metrics"
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The metrics by name, each a map from its sorted labels to its value."""
    with live_server.client(token=None) as anonymous:
        response = anonymous.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_the_service_monitors_target_answers(live_server: LiveServer) -> None:
    docs = render("ci/default-values.yaml", "--set", "serviceMonitor.enabled=true")
    [monitor] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    [endpoint] = monitor["spec"]["endpoints"]
    service = next(
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-api")
    )
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}

    with live_server.client(token=None) as prometheus:
        answer = prometheus.get(endpoint["path"])

    assert answer.status_code == 200
    families = {family.name for family in text_string_to_metric_families(answer.text)}
    assert {"bkjobs_jobs", "bkjobs_jobs_submitted", "bkjobs_workers_alive"} <= families


def test_jobs_are_counted_by_type_and_phase(live_server: LiveServer, company: Company) -> None:
    before = scrape(live_server)
    submitted_before = before.get("bkjobs_jobs_submitted_total", {}).get(
        (("type", "categorize"),), 0
    )

    job_id = accepted_job_id(
        company.http.post(
            "/api/jobs/categorize", json={"company_id": company.id, "tenant_id": "t1"}
        )
    )
    wait_for_job(company.http, job_id, lambda view: view["status"] == "complete", what="done")
    after = scrape(live_server)

    assert after["bkjobs_jobs_submitted_total"][(("type", "categorize"),)] == submitted_before + 1
    assert after["bkjobs_submit_duration_seconds_count"][(("type", "categorize"),)] >= 1
    complete = after["bkjobs_jobs"][(("phase", "complete"), ("type", "categorize"))]
    assert (
        complete
        >= before.get("bkjobs_jobs", {}).get((("phase", "complete"), ("type", "categorize")), 0) + 1
    )
    assert after["bkjobs_workers_alive"][()] == live_server.settings.worker_concurrency


def test_metrics_need_no_token_and_hold_no_tenant(
    live_server: LiveServer, company: Company
) -> None:
    company.http.post("/api/jobs/categorize", json={"company_id": company.id, "tenant_id": "t1"})
    with httpx.Client(base_url=live_server.base_url) as anonymous:
        text = anonymous.get("/metrics").text

    assert company.id not in text
    assert "t1" not in text
