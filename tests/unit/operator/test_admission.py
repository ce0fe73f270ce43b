"""Resuming waiting task Jobs from the operator's index: the start order's pick, one tenant's
next Job at a time (the operator-level behaviour is in tests/k8s/test_operator.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from bookkeeper_jobs.operator import admission
from bookkeeper_jobs.operator.context import OperatorContext
from bookkeeper_jobs.operator.manifests import TASK_LABELS, JobTemplateConfig
from bookkeeper_jobs.operator.task_jobs import TaskJobIndex
from bookkeeper_jobs.resource import ANNOTATION_CREATED, LABEL_TENANT, LABEL_TYPE

NS = "default"


def job(name: str, tenant: str, second: int, *, waiting: bool, job_type: str = "x") -> dict:
    return {
        "metadata": {
            "name": name,
            "resourceVersion": str(second),
            "annotations": {ANNOTATION_CREATED: f"2026-11-30T10:00:{second:02d}+00:00"},
            "labels": {**TASK_LABELS, LABEL_TENANT: tenant, LABEL_TYPE: job_type},
        },
        "spec": {"suspend": waiting},
        "status": {} if waiting else {"startTime": f"2026-11-30T10:01:{second:02d}Z"},
    }


class Batch:
    """Records the resumes; answers each with the Job as resumed."""

    def __init__(self, index: TaskJobIndex) -> None:
        self.index, self.resumed = index, []
        self.api_client = SimpleNamespace(sanitize_for_serialization=lambda body: body)

    def list_namespaced_job(self, namespace: str, **_: Any) -> SimpleNamespace:
        return SimpleNamespace(data=b'{"metadata": {"resourceVersion": "1"}, "items": []}')

    def patch_namespaced_job(self, name: str, namespace: str, patch: Any) -> dict:
        self.resumed.append(name)
        body = job(name, "?", 59, waiting=False)
        body["metadata"]["resourceVersion"] = "100"
        return body


def resume(*jobs: dict, room: int, per_tenant: int, priorities: dict | None = None) -> list:
    index = TaskJobIndex()
    batch = Batch(index)
    index.refresh(cast(Any, batch), NS)
    for body in jobs:
        index.observe(NS, body)
    template = JobTemplateConfig(
        image="registry.test/bk:1",
        max_running=room,
        max_running_per_tenant=per_tenant,
        priorities=priorities or {},
    )
    context = SimpleNamespace(task_jobs=index, template=template, batch=batch)
    admission.resume_waiting(cast(OperatorContext, context), NS)
    return batch.resumed


def test_the_tenant_running_fewest_goes_first_then_each_tenants_oldest() -> None:
    jobs = [job(f"a-run-{n}", "a", n, waiting=False) for n in range(3)]
    jobs += [job(f"a-wait-{n}", "a", 10 + n, waiting=True) for n in (3, 1, 2)]
    jobs += [job("b-wait", "b", 30, waiting=True)]
    assert resume(*jobs, room=6, per_tenant=5) == ["b-wait", "a-wait-1", "a-wait-2"]


def test_a_tenants_next_job_follows_its_priorities_then_its_age() -> None:
    jobs = [job(f"wait-{n}", "a", n, waiting=True) for n in (4, 2, 3)]
    jobs += [job("urgent", "a", 9, waiting=True, job_type="ocr")]
    resumed = resume(*jobs, room=3, per_tenant=3, priorities={"ocr": 10})
    assert resumed == ["urgent", "wait-2", "wait-3"]


def test_nothing_is_resumed_for_a_tenant_at_its_limit() -> None:
    jobs = [job("a-run", "a", 1, waiting=False), job("a-wait", "a", 2, waiting=True)]
    assert resume(*jobs, room=4, per_tenant=1) == []
