"""The task and the operator write the same status on a real kube-apiserver: every write is
guarded by the resourceVersion it read, so neither overwrites what the other recorded
meanwhile (``tests/k8s/test_status_race.py`` on the emulator; the race it reproduces is
described there: a blind start write once turned a cancelled job back to ``running`` for
good).

Each test runs in a namespace of the contract suite's ``kubernetes-real`` backend: the
chart's accounts and Roles, the real operator under the operator account's token, the store
under the api account's. The node agent holds the namespace's pods, so the task is this
test's ``run_task`` under a TokenRequest token of the chart's **task** account (what its pod
would run with), held between its read and its start write (``HeldWriter``); the real API
server decides the 409 that refuses the stale write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.lifecycle import Complete, Progress, Start
from bookkeeper_jobs.resource import GROUP, LABEL_NAME, PLURAL, VERSION
from bookkeeper_jobs.status_writes import ResourceRef, StatusWriter
from bookkeeper_jobs.tasks.cluster_runner import run_task
from tests.contract.real_cluster_backend import RealClusterBackend
from tests.support.held_writer import HeldWriter
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def task_api(backend: RealClusterBackend) -> Iterator[client.CustomObjectsApi]:
    """The API as the task's pod reaches it: the chart's task account."""
    kubeconfig = backend.token_kubeconfig("task")
    with client.ApiClient(load_kube_configuration(kubeconfig)) as api_client:
        yield client.CustomObjectsApi(api_client)


def resource(backend: RealClusterBackend, name: str) -> dict[str, Any]:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{backend.namespace}/{PLURAL}/{name}"
    return dict(backend.cluster.must("GET", path))


def phase(backend: RealClusterBackend, name: str) -> str | None:
    phase_now: str | None = (resource(backend, name).get("status") or {}).get("phase")
    return phase_now


def child_jobs(backend: RealClusterBackend, name: str) -> list[dict[str, Any]]:
    path = f"/apis/batch/v1/namespaces/{backend.namespace}/jobs?labelSelector={LABEL_NAME}%3D{name}"
    return list(backend.cluster.must("GET", path)["items"])


def submitted_with_its_job(backend: RealClusterBackend) -> str:
    """A categorize job whose task Job the operator created (its pod held by the node)."""
    name = backend.store.submit(CategorizeSpec(company_id="ok", tenant_id="t1")).job.id
    wait_until(
        lambda: child_jobs(backend, name) and phase(backend, name) == "pending",
        timeout=60,
        what="the operator's Job and its pending status",
    )
    return name


def cancelled(backend: RealClusterBackend, name: str) -> None:
    """The user cancels through the API's store; the operator records ``cancelled``."""
    backend.store.cancel(name)
    wait_until(
        lambda: phase(backend, name) == "cancelled", timeout=60, what="the operator's cancel"
    )


def test_a_cancel_between_the_tasks_read_and_its_start_write_wins(
    backend: RealClusterBackend,
    task_api: client.CustomObjectsApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BKJOBS_TEST_SCRIPT_DIR", str(tmp_path / "script"))
    name = submitted_with_its_job(backend)
    writer = HeldWriter(task_api, ResourceRef(backend.namespace, name))
    exit_codes: list[int] = []
    task = threading.Thread(target=lambda: exit_codes.append(run_task(writer, backend.settings)))
    task.start()
    try:
        assert writer.read_done.wait(30), "the task never read its resource"
        cancelled(backend, name)
    finally:
        writer.go_on.set()
        task.join(30)
    assert exit_codes == [0]
    status = resource(backend, name)["status"]
    assert status["phase"] == "cancelled"
    assert status["finishedAt"]
    assert status["attempts"] == 0, "the task's start was refused, so it never ran"
    wait_until(
        lambda: not child_jobs(backend, name), timeout=60, what="the cancelled job's Job deleted"
    )


def test_a_task_cannot_end_or_report_on_a_job_the_operator_cancelled(
    backend: RealClusterBackend, task_api: client.CustomObjectsApi
) -> None:
    name = submitted_with_its_job(backend)
    writer = StatusWriter(task_api, ResourceRef(backend.namespace, name))
    started = writer.apply(Start())
    assert started is not None and started.status.attempts == 1
    cancelled(backend, name)
    status_then = resource(backend, name)["status"]

    assert writer.apply(Progress(attempt=1, progress=80, text="late")) is None
    assert writer.apply(Complete(attempt=1, result={"late": True})) is None
    assert writer.apply(Start()) is None
    assert resource(backend, name)["status"] == status_then
