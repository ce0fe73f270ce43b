"""The task container and the operator write the same status: every write is guarded by
the resourceVersion it read, so neither can overwrite what the other recorded meanwhile.

The race these tests reproduce: the task reads its BookkeepingJob (pending, no cancel
asked), the user cancels, the operator deletes the Job and records ``cancelled``, then the
task's start write lands. A blind merge patch (what the task once sent) turned the
resource back to ``running`` without ``finishedAt``; the cancel handler does not fire again
and the TTL sweep needs ``finishedAt``, so the job stayed ``running`` forever.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bookkeeper_jobs.lifecycle import Complete, Progress, Start
from bookkeeper_jobs.settings import Settings, load_settings
from bookkeeper_jobs.status_writes import ResourceRef, StatusWriter
from bookkeeper_jobs.tasks.cluster_runner import run_task
from tests.k8s.emulator import KubernetesEmulator
from tests.support.held_writer import HeldWriter
from tests.support.operator import (
    BKJ,
    CRD,
    IMAGE,
    NS,
    child_jobs,
    phase_of,
    resource,
    running_operator,
    submit,
    wait_pending,
)
from tests.support.polling import wait_until


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        kubernetes_namespace=NS,
        data_dir=tmp_path / "data",
        job_ttl=3600,
        task_template={"image": IMAGE},
        tasks={"categorize": "tests.contract.scripted:run"},
    )


@pytest.fixture
def operator(k8s_api: KubernetesEmulator, settings: Settings) -> Iterator[KubernetesEmulator]:
    k8s_api.load_crd(CRD)
    with running_operator(k8s_api, settings):
        yield k8s_api


def test_a_cancel_between_the_tasks_read_and_its_start_write_wins(
    operator: KubernetesEmulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BKJOBS_TEST_SCRIPT_DIR", str(settings.data_dir))
    name = submit(operator)
    wait_pending(operator, name)
    with operator.api_client() as api_client:
        writer = HeldWriter(client.CustomObjectsApi(api_client), ResourceRef(NS, name))
        exit_codes: list[int] = []
        task = threading.Thread(target=lambda: exit_codes.append(run_task(writer, settings)))
        task.start()
        assert writer.read_done.wait(10)
        operator.patch(BKJ, NS, name, {"spec": {"cancelRequested": True}})
        wait_until(lambda: phase_of(operator, name) == "cancelled", what="the operator's cancel")
        writer.go_on.set()
        task.join(10)
    assert exit_codes == [0]
    status = resource(operator, name)["status"]
    assert status["phase"] == "cancelled"
    assert status["finishedAt"]
    assert status["attempts"] == 0, "the task's start was refused, so it never ran"
    assert child_jobs(operator, name) == []


def test_a_task_cannot_end_or_report_on_a_job_the_operator_cancelled(
    operator: KubernetesEmulator,
) -> None:
    name = submit(operator)
    wait_pending(operator, name)
    with operator.api_client() as api_client:
        writer = StatusWriter(client.CustomObjectsApi(api_client), ResourceRef(NS, name))
        started = writer.apply(Start())
        assert started is not None and started.status.attempts == 1
        operator.patch(BKJ, NS, name, {"spec": {"cancelRequested": True}})
        wait_until(lambda: phase_of(operator, name) == "cancelled", what="the operator's cancel")
        cancelled: dict[str, Any] = resource(operator, name)["status"]
        assert writer.apply(Progress(attempt=1, progress=80, text="late")) is None
        assert writer.apply(Complete(attempt=1, result={"late": True})) is None
        assert writer.apply(Start()) is None
    assert resource(operator, name)["status"] == cancelled
