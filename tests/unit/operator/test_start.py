"""The create handler run again for a resource it started: kopf does that when it takes an
event from before its own annotation patch as current (``startup.CONSISTENCY_TIMEOUT``).
Such a run must cost nothing: under a burst, each one used to create (409), read the Job,
read the status and hold the admission lock, ahead of other tenants' new jobs in kopf's
thread pool (the operator-level behaviour is in tests/k8s/test_operator.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest

from bookkeeper_jobs.jobs import CategorizeSpec, new_job_id
from bookkeeper_jobs.operator import admission, reconcile
from bookkeeper_jobs.operator.context import OperatorContext
from bookkeeper_jobs.operator.manifests import TASK_LABELS, JobTemplateConfig, job_name
from bookkeeper_jobs.operator.startup import CONSISTENCY_TIMEOUT, configure
from bookkeeper_jobs.operator.task_jobs import TaskJobIndex
from bookkeeper_jobs.resource import LABEL_TENANT, spec_to_resource
from bookkeeper_jobs.settings import Settings

NS = "default"
UID = "0b7c1e2a-0000-4000-8000-000000000001"


class AskedTheApiServer(Exception):
    pass


class NoApiServer:
    """Any call to the API server fails the run (the client's methods are all we stub)."""

    api_client = None

    def __getattr__(self, name: str) -> Any:
        def call(*_: Any, **__: Any) -> Any:
            raise AskedTheApiServer(name)

        return call


def resource(*, phase: str | None) -> dict[str, Any]:
    spec = CategorizeSpec(company_id="c1", tenant_id="t1")
    body = spec_to_resource(spec, job_id=new_job_id(), namespace=NS)
    body["metadata"].update(uid=UID, namespace=NS)
    if phase is not None:
        body["status"] = {"phase": phase}
    return body


def task_job_of(body: dict[str, Any], owner_uid: str) -> dict[str, Any]:
    owner = {"apiVersion": body["apiVersion"], "kind": body["kind"], "controller": True}
    return {
        "metadata": {
            "name": job_name(body["metadata"]["name"]),
            "resourceVersion": "7",
            "labels": {**TASK_LABELS, LABEL_TENANT: "t1"},
            "ownerReferences": [{**owner, "name": body["metadata"]["name"], "uid": owner_uid}],
        },
        "spec": {"suspend": True},
        "status": {},
    }


def context_with(*jobs: dict[str, Any]) -> OperatorContext:
    index = TaskJobIndex()
    for job in jobs:
        index.observe(NS, job)
    stub = NoApiServer()
    template = JobTemplateConfig(image="registry.test/bk:1")
    return cast(
        OperatorContext,
        SimpleNamespace(task_jobs=index, template=template, batch=stub, custom=stub),
    )


@pytest.fixture
def decisions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    taken: list[str] = []

    @contextlib.contextmanager
    def deciding() -> Iterator[None]:
        taken.append("deciding")
        yield

    monkeypatch.setattr(admission, "deciding", deciding)
    return taken


def test_a_second_run_for_a_started_resource_asks_nothing_and_takes_no_lock(
    decisions: list[str],
) -> None:
    body = resource(phase="pending")
    context = context_with(task_job_of(body, owner_uid=UID))
    assert reconcile.start(context, body) is None
    assert decisions == []


def test_a_job_of_a_former_resource_of_the_same_name_is_not_taken_for_its_own() -> None:
    body = resource(phase="pending")
    context = context_with(task_job_of(body, owner_uid="another-uid"))
    with pytest.raises(AskedTheApiServer):
        reconcile.start(context, body)


@pytest.mark.parametrize("phase", [None, "pending"])
def test_a_resource_whose_job_or_first_status_is_missing_is_started(phase: str | None) -> None:
    body = resource(phase=phase)
    jobs = [task_job_of(body, owner_uid=UID)] if phase is None else []
    with pytest.raises(AskedTheApiServer):
        reconcile.start(context_with(*jobs), body)


def test_kopf_waits_longer_than_its_default_for_its_own_patch() -> None:
    kopf_settings = kopf.OperatorSettings()
    default = kopf_settings.persistence.consistency_timeout
    configure(kopf_settings, Settings(environment="test"))
    assert kopf_settings.persistence.consistency_timeout == CONSISTENCY_TIMEOUT > default
