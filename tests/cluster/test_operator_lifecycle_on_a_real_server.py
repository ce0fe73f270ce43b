"""The operator's handling of a job's life on the real control plane (issue 12: "no behaviour
may be proven only on the emulator"; these were ``tests/k8s/test_operator.py``'s alone).

Each test runs in a namespace of the contract suite's ``kubernetes-real`` backend
(``tests/contract/real_cluster_backend.py``): the chart's accounts and Roles, the real
operator in a thread under the operator account's token, the store under the api account's.
No test plays the Job controller: the real one runs the Job's pod on the node agent, which
runs the task (``tests/contract/scripted.py``: the spec's ``company_id`` picks what it does),
and Jobs are deleted with the admin client as a person with ``kubectl`` would. Until a test
calls ``start_workers`` the node holds the namespace's pods, so a Job stays unstarted.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bookkeeper_jobs.jobs import CategorizeSpec, JobPhase, new_job_id
from bookkeeper_jobs.operator.manifests import job_name
from bookkeeper_jobs.operator.reconcile import JOB_DELETED_MESSAGE, NO_RESULT
from bookkeeper_jobs.resource import GROUP, LABEL_NAME, PLURAL, VERSION, spec_to_resource
from tests.contract.real_cluster_backend import (
    RealCluster,
    RealClusterBackend,
    make_real_cluster_backend,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

DIFFBASE = f"{GROUP}/last-handled-configuration"  # kopf's record of a handled create


class Namespace:
    """Reads and writes of one backend's namespace, with the admin's credentials."""

    def __init__(self, backend: RealClusterBackend) -> None:
        self.backend, self.cluster, self.name = backend, backend.cluster, backend.namespace
        self.resources = f"/apis/{GROUP}/{VERSION}/namespaces/{self.name}/{PLURAL}"
        self.jobs = f"/apis/batch/v1/namespaces/{self.name}/jobs"

    def submit(self, scenario: str, **fields: Any) -> str:
        """A categorize job through the store (the api account), whose task plays
        ``scenario``; its resource's name."""
        spec = CategorizeSpec(company_id=scenario, tenant_id="t1", **fields)
        return self.backend.store.submit(spec).job.id

    def resource(self, name: str) -> dict[str, Any]:
        return dict(self.cluster.must("GET", f"{self.resources}/{name}"))

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.resource(name).get("status") or {})

    def phase(self, name: str) -> str | None:
        return self.status(name).get("phase")

    def wait_phase(self, name: str, phase: str, timeout: float = 120) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status(name)
            return status if status.get("phase") == phase else None

        found: dict[str, Any] = wait_until(
            reached, timeout=timeout, interval=0.2, what=f"{name} to be {phase}"
        )
        return found

    def child_jobs(self, name: str) -> list[dict[str, Any]]:
        found = self.cluster.must("GET", f"{self.jobs}?labelSelector={LABEL_NAME}%3D{name}")
        return list(found["items"])

    def all_jobs(self) -> list[dict[str, Any]]:
        return list(self.cluster.must("GET", self.jobs)["items"])

    def delete_job(self, name: str) -> None:
        """``kubectl delete job`` (background propagation: the garbage collector deletes the
        pod afterwards)."""
        self.cluster.must(
            "DELETE",
            f"{self.jobs}/{job_name(name)}",
            {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
        )

    def wait_job_complete(self, name: str) -> None:
        """Until the real Job controller has marked the Job ``Complete``."""
        wait_until(
            lambda: any(
                c["type"] == "Complete" and c["status"] == "True"
                for c in (self.child_jobs(name)[0].get("status") or {}).get("conditions") or []
            ),
            timeout=60,
            what="the Job controller to complete the Job",
        )

    def reasons(self, name: str) -> list[str]:
        events = self.cluster.must("GET", f"/api/v1/namespaces/{self.name}/events")["items"]
        return [e["reason"] for e in events if e["involvedObject"].get("name") == name]

    def wait_reason(self, name: str, reason: str) -> None:
        wait_until(
            lambda: reason in self.reasons(name), timeout=60, what=f"a {reason} Event of {name}"
        )


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    [found] = [c for c in status["conditions"] if c["type"] == kind]
    return dict(found)


def test_a_restarted_operator_adopts_the_job_instead_of_creating_a_second(
    backend: RealClusterBackend,
) -> None:
    """An operator that died after creating a Job but before recording the handling runs the
    create handler again when it restarts: the server answers 409 AlreadyExists and the
    operator adopts the Job it made (same uid), posts no second JobCreated, and goes on
    handling new resources."""
    ns = Namespace(backend)
    first = ns.submit("ok")
    ns.wait_phase(first, "pending")
    [job] = ns.child_jobs(first)
    ns.wait_reason(first, "JobCreated")
    backend.stop_operator()
    # As if it died before kopf wrote its diff-base annotation.
    ns.cluster.must(
        "PATCH",
        f"{ns.resources}/{first}",
        {"metadata": {"annotations": {DIFFBASE: None}}},
    )
    assert DIFFBASE not in ns.resource(first)["metadata"].get("annotations", {})

    backend.start_operator()
    wait_until(
        lambda: DIFFBASE in ns.resource(first)["metadata"].get("annotations", {}),
        timeout=120,
        what="the restarted operator to handle the resource again",
    )
    second = ns.submit("ok", limit=2)
    ns.wait_phase(second, "pending")

    [again] = ns.child_jobs(first)
    assert again["metadata"]["uid"] == job["metadata"]["uid"]
    assert ns.reasons(first).count("JobCreated") == 1
    assert len(ns.all_jobs()) == 2
    assert ns.phase(first) == "pending"


def test_a_resource_created_cancelled_gets_no_job(backend: RealClusterBackend) -> None:
    """A BookkeepingJob whose ``spec.cancelRequested`` is true from the start is cancelled
    without a Job ever being created."""
    ns = Namespace(backend)
    body = spec_to_resource(
        CategorizeSpec(company_id="ok", tenant_id="t1"), job_id=new_job_id(), namespace=ns.name
    )
    body["spec"]["cancelRequested"] = True
    name = body["metadata"]["name"]
    ns.cluster.must("POST", ns.resources, body)
    status = ns.wait_phase(name, "cancelled")
    assert condition(status, "Cancelled")["status"] == "True"
    assert ns.all_jobs() == []
    assert "JobCreated" not in ns.reasons(name)


def test_a_job_that_completes_without_a_result_fails_its_resource(
    backend: RealClusterBackend,
) -> None:
    """The task exits 0 without reporting a result (its process ended early): the real Job
    controller marks the Job Complete, and the operator fails the resource, saying so,
    instead of leaving it running for ever."""
    ns = Namespace(backend)
    name = ns.submit("vanish")
    backend.start_workers()
    status = ns.wait_phase(name, "failed")
    assert status["error"] == NO_RESULT
    assert condition(status, "Failed")["reason"] == "AttemptLost"
    ns.wait_job_complete(name)


def test_a_job_deleted_while_its_task_runs_fails_its_resource(backend: RealClusterBackend) -> None:
    """``kubectl delete job`` under a running task: the operator sees the Job go and fails
    the resource with the reason; the garbage collector deletes the pod and the node stops
    the task."""
    ns = Namespace(backend)
    name = ns.submit("hang")
    backend.start_workers()
    ns.wait_phase(name, "running")
    ns.delete_job(name)
    status = ns.wait_phase(name, "failed")
    assert status["error"] == JOB_DELETED_MESSAGE
    assert condition(status, "Failed")["reason"] == "AttemptLost"
    wait_until(
        lambda: not backend.cluster.must("GET", f"/api/v1/namespaces/{ns.name}/pods")["items"],
        timeout=60,
        what="the garbage collector to delete the task's pod",
    )
    assert ns.phase(name) == "failed"


def test_a_job_deleted_while_the_operator_was_down_fails_its_resource(
    backend: RealClusterBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two jobs got their Jobs; with the operator down one Job is deleted (no watch event
    reaches anyone). The restarted operator's orphan sweep finds the resource without its
    Job and fails it; the other, whose Job is there, stays pending."""
    ns = Namespace(backend)
    orphan, kept = ns.submit("ok"), ns.submit("ok", limit=2)
    for name in (orphan, kept):
        ns.wait_phase(name, "pending")
    backend.stop_operator()
    ns.delete_job(orphan)
    wait_until(lambda: not ns.child_jobs(orphan), timeout=60, what="the Job to be gone")
    # No grace (the resources are seconds old; the grace spares one still getting its Job).
    monkeypatch.setattr("bookkeeper_jobs.operator.ttl.ORPHAN_GRACE_SECONDS", 0.0)

    backend.start_operator()
    status = ns.wait_phase(orphan, "failed")
    assert status["error"] == JOB_DELETED_MESSAGE
    assert ns.phase(kept) == "pending"
    assert len(ns.child_jobs(kept)) == 1


def test_a_reported_success_stays_and_gets_one_event(backend: RealClusterBackend) -> None:
    """The task reports its result and exits 0; the real Job controller then completes the
    Job. The operator keeps the task's success (phase, result) and posts one Succeeded
    Event."""
    ns = Namespace(backend)
    name = ns.submit("ok")
    backend.start_workers()
    ns.wait_reason(name, "Succeeded")
    ns.wait_job_complete(name)
    job = backend.store.get(name)
    assert job is not None
    assert job.status.phase is JobPhase.COMPLETE
    assert job.status.result == {"steps": 10, "attempt": 1}
    assert ns.reasons(name).count("Succeeded") == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> str | None:
    try:
        answer = httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None
    return answer.text if answer.status_code == 200 else None


def test_the_operator_serves_liveness_and_metrics_of_its_jobs(
    cluster: RealCluster, tmp_path: Path
) -> None:
    """An operator serving its liveness endpoint and ``/metrics``: ``/healthz`` answers 200
    while it runs; a job run to its end by the real Job controller is counted as created and
    finished, with its run time, and a task still running is counted in the task Jobs
    gauge."""
    (tmp_path / "script").mkdir()
    health, metrics = free_port(), free_port()
    made = make_real_cluster_backend(
        tmp_path,
        cluster=cluster,
        health_host="127.0.0.1",
        operator_health_port=health,
        operator_metrics_port=metrics,
    )
    try:
        wait_until(
            lambda: scrape(f"http://127.0.0.1:{health}/healthz") is not None,
            timeout=60,
            what="the liveness endpoint",
        )
        ns = Namespace(made)
        name, hanging = ns.submit("ok"), ns.submit("hang", limit=2)
        made.start_workers()
        ns.wait_phase(name, "complete")
        ns.wait_phase(hanging, "running")
        ns.wait_job_complete(name)
        running = 'bkjobs_operator_task_jobs{state="running"} 1.0'  # the hanging one

        def scraped() -> str | None:
            text = scrape(f"http://127.0.0.1:{metrics}/metrics") or ""
            return (
                text if "bkjobs_operator_jobs_finished_total{" in text and running in text else None
            )

        text: str = wait_until(
            scraped,
            timeout=120,
            what="the ending and the one running Job in the operator's metrics",
        )
        started_at = ns.status(name)["startedAt"]
        finished_at = ns.status(name)["finishedAt"]
    finally:
        made.close()

    assert 'bkjobs_operator_jobs_created_total{type="categorize"} 2.0' in text
    assert 'bkjobs_operator_jobs_finished_total{phase="complete",type="categorize"} 1.0' in text
    assert 'bkjobs_job_run_duration_seconds_count{type="categorize"} 1.0' in text
    run = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('bkjobs_job_run_duration_seconds_sum{type="categorize"}')
    ]
    expected = (_parse(finished_at) - _parse(started_at)).total_seconds()
    assert run == [pytest.approx(expected, abs=1.0)], (run, started_at, finished_at)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
