"""The operator's index of task Jobs: what it keeps when events, its own answers and lists
arrive out of order (the operator-level behaviour is in tests/k8s/test_operator.py)."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from typing import Any, cast

import pytest
from kubernetes import client

from bookkeeper_jobs.operator.manifests import TASK_LABELS, JobTemplateConfig, build_job_manifest
from bookkeeper_jobs.operator.task_jobs import MAX_AGE_SECONDS, TaskJobIndex, task_job
from bookkeeper_jobs.resource import ANNOTATION_CREATED, LABEL_TENANT

NS = "default"


def job(name: str, version: int, *, suspend: bool = False, done: bool = False) -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True"}] if done else []
    return {
        "metadata": {
            "name": name,
            "resourceVersion": str(version),
            "creationTimestamp": "2026-11-30T10:00:00Z",
            "labels": {**TASK_LABELS, LABEL_TENANT: "t1"},
        },
        "spec": {"suspend": suspend},
        "status": {"conditions": conditions},
    }


class Lister:
    """``list_namespaced_job(..., _preload_content=False)`` as the API server answers it."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.version = 0
        self.calls = 0

    def list_namespaced_job(self, namespace: str, **_: Any) -> SimpleNamespace:
        self.calls += 1
        page = {"metadata": {"resourceVersion": str(self.version)}, "items": self.items}
        return SimpleNamespace(data=json.dumps(page).encode())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def batch_of(lister: Lister) -> client.BatchV1Api:
    return cast(client.BatchV1Api, lister)


def suspended(index: TaskJobIndex, lister: Lister) -> dict[str, bool]:
    return {j.name: j.suspended for j in index.jobs(batch_of(lister), NS)}


def test_the_jobs_are_listed_once_then_kept_by_events_and_answers() -> None:
    lister, clock = Lister(), Clock()
    lister.items, lister.version = [job("a", 5, suspend=True)], 5
    index = TaskJobIndex(clock)
    assert suspended(index, lister) == {"a": True}

    index.observe(NS, job("b", 7))  # created by this operator: the API server's answer
    index.observe(NS, job("a", 8))  # resumed
    index.forget(NS, "b")

    assert suspended(index, lister) == {"a": False}
    assert lister.calls == 1


def test_a_late_event_never_undoes_a_newer_resume() -> None:
    lister, index = Lister(), TaskJobIndex(Clock())
    index.observe(NS, job("a", 9))  # the resume's answer
    index.observe(NS, job("a", 6, suspend=True))  # the creation's event, handled late
    assert suspended(index, lister) == {"a": False}


def test_a_relist_drops_deleted_jobs_and_keeps_what_came_after_it() -> None:
    lister, clock = Lister(), Clock()
    lister.items, lister.version = [job("gone", 3), job("kept", 4)], 10
    index = TaskJobIndex(clock)
    index.jobs(batch_of(lister), NS)
    lister.items, lister.version = [job("kept", 4)], 20  # "gone" deleted, its event missed
    index.observe(NS, job("newer", 21))  # created after the next list was read

    clock.now += MAX_AGE_SECONDS
    index.refresh(batch_of(lister), NS)
    assert suspended(index, lister) == {"kept": False, "newer": False}
    assert lister.calls == 2


def test_a_stale_index_is_listed_again_before_a_decision_never_in_it() -> None:
    """``jobs`` runs under the admission lock: a list of 10,000 Jobs there held up every
    decision, another tenant's new Job included (bench/fairness.py)."""
    lister, clock = Lister(), Clock()
    lister.items = [job("a", 5, suspend=True)]
    index = TaskJobIndex(clock)
    index.refresh(batch_of(lister), NS)
    lister.items = [job("a", 5, suspend=True), job("b", 6)]  # "b"'s event missed

    clock.now += MAX_AGE_SECONDS
    assert suspended(index, lister) == {"a": True}
    assert lister.calls == 1
    index.refresh(batch_of(lister), NS)
    assert suspended(index, lister) == {"a": True, "b": False}
    assert lister.calls == 2


class BlockingLister(Lister):
    def __init__(self) -> None:
        super().__init__()
        self.listing, self.release = threading.Event(), threading.Event()

    def list_namespaced_job(self, namespace: str, **options: Any) -> SimpleNamespace:
        if self.calls:  # every list after the first waits to be released
            self.listing.set()
            self.release.wait()
        return super().list_namespaced_job(namespace, **options)


def test_while_one_thread_lists_again_the_others_use_the_index_as_it_is() -> None:
    lister, clock = BlockingLister(), Clock()
    lister.items = [job("a", 5, suspend=True)]
    index = TaskJobIndex(clock)
    index.refresh(batch_of(lister), NS)
    clock.now += MAX_AGE_SECONDS
    relisting = threading.Thread(target=index.refresh, args=(batch_of(lister), NS))
    relisting.start()
    lister.listing.wait()

    other = threading.Thread(target=index.refresh, args=(batch_of(lister), NS))
    other.start()
    other.join(timeout=30)  # (a guard against hanging: a blocked refresh never returns)
    returned = not other.is_alive()
    lister.release.set()
    assert returned, "refresh waited for the other thread's list"
    assert suspended(index, lister) == {"a": True}
    relisting.join()
    assert lister.calls == 2


def test_jobs_that_are_not_task_jobs_are_not_counted() -> None:
    lister, index = Lister(), TaskJobIndex(Clock())
    other = job("migrations", 3)
    other["metadata"]["labels"] = {"app": "something-else"}
    index.observe(NS, other)
    assert suspended(index, lister) == {}


def test_waiting_jobs_of_one_second_keep_their_submission_order() -> None:
    """A real API server's creationTimestamp has whole seconds, and a burst's Jobs share one:
    the start order (oldest first) reads the submission time the manifest copies from the
    resource's created-at annotation, to the microsecond; a Job without it (or with an
    unreadable one) falls back to its creationTimestamp."""
    names = ["job-f0-run", "job-a0-run", "job-c0-run"]  # submitted in this order
    bodies = []
    for n, name in enumerate(names):
        body = job(name, 10 + n, suspend=True)
        body["metadata"]["annotations"] = {
            ANNOTATION_CREATED: f"2026-11-30T10:00:00.{100 + n:06d}+00:00"
        }
        bodies.append(body)
    created = [task_job(body).created for body in bodies]
    assert created == sorted(created) and len(set(created)) == 3
    assert task_job(job("job-b0-run", 1)).created == pytest.approx(created[0] - 0.0001)
    broken = job("job-d0-run", 2)
    broken["metadata"]["annotations"] = {ANNOTATION_CREATED: "yesterday"}
    assert task_job(broken).created == task_job(job("job-e0-run", 3)).created


def test_the_task_job_carries_its_submission_time() -> None:
    resource = {
        "metadata": {
            "name": "job-0123456789abcdef0123",
            "namespace": NS,
            "annotations": {ANNOTATION_CREATED: "2026-11-30T10:00:00.123456+00:00"},
        },
        "spec": {"type": "categorize", "companyId": "c1", "tenantId": "t1", "parameters": {}},
    }
    manifest = build_job_manifest(resource, JobTemplateConfig(image="registry.test/bk:1"))
    assert manifest["metadata"]["annotations"] == {
        ANNOTATION_CREATED: "2026-11-30T10:00:00.123456+00:00"
    }
