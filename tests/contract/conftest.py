"""Backends for the JobStore contract suite. Each backend offers the same small harness:
a ``store`` (the JobStore under test) and a way to start, crash and stop whatever runs jobs.
Cluster mode adds its backend to ``BACKENDS``."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pytest

from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.store.protocol import JobStore
from bookkeeper_jobs.api.worker_pool import WorkerPool
from bookkeeper_jobs.jobs import Job
from bookkeeper_jobs.settings import Settings
from tests.contract.scripted import SCRIPTED_TASKS


class Backend(Protocol):
    store: JobStore
    settings: Settings

    def start_workers(self) -> None: ...
    def crash_workers(self) -> None: ...
    def stop_workers(self) -> None: ...
    def close(self) -> None: ...
    def sweep(self, older_than: datetime) -> int: ...


@dataclass
class LocalBackend:
    settings: Settings
    store: LocalJobStore = field(init=False)
    pools: list[WorkerPool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = LocalJobStore(self.settings.jobs_db)

    def start_workers(self) -> None:
        pool = WorkerPool(self.settings)
        pool.start()
        self.pools.append(pool)

    def crash_workers(self) -> None:
        """SIGKILL every supervisor with the server that keeps them, as a machine crash
        would: nothing replaces them until ``start_workers``."""
        for pool in self.pools:
            for pid in pool.pids():
                os.kill(pid, signal.SIGKILL)
            pool.stop()
        self.pools.clear()

    def stop_workers(self) -> None:
        for pool in self.pools:
            pool.stop()
        self.pools.clear()

    def close(self) -> None:
        self.stop_workers()

    def sweep(self, older_than: datetime) -> int:
        return self.store.sweep(older_than=older_than)


def make_local_backend(tmp_path: Path, **overrides: Any) -> LocalBackend:
    options: dict[str, Any] = {
        "data_dir": tmp_path,
        "worker_concurrency": 2,
        "job_timeout": 20.0,
        "job_max_attempts": 3,
        "retry_backoff": 0.1,
        "lease_seconds": 1.5,
        "environment": "test",
        "tasks": SCRIPTED_TASKS,
    }
    options.update(overrides)
    return LocalBackend(Settings(**options))


def make_kubernetes_backend(tmp_path: Path, **overrides: Any) -> Backend:
    from tests.contract.cluster_backend import make_kubernetes_backend as make

    return make(tmp_path, **overrides)


def make_real_cluster_backend(tmp_path: Path, **overrides: Any) -> Backend:
    """Needs ``cluster=`` (the ``real_cluster`` session fixture); ``make_backend`` passes it."""
    from tests.contract.real_cluster_backend import make_real_cluster_backend as make

    return make(tmp_path, **overrides)


BACKENDS: dict[str, Callable[..., Backend]] = {
    "local": make_local_backend,
    "kubernetes": make_kubernetes_backend,
    "kubernetes-real": make_real_cluster_backend,
}

REAL = "kubernetes-real"
MARKS: dict[str, list[pytest.MarkDecorator]] = {
    # the real control plane (tests/cluster/README.md): the Job controller's 10 s pod back-off
    REAL: [pytest.mark.slow],
}
PATIENCE: dict[str, float] = {REAL: 6.0}
"""How much longer ``wait_for`` waits on a backend: on the real control plane a task pod
goes through the kube-scheduler, the node agent and a Python start, and each retry waits
for the Job controller's own pod back-off (10 s, then 20 s), which no setting shortens.
(Timeouts are bounds, never assertions: a passing test takes as long as it takes.)"""

SKIP_ON_REAL: dict[str, str] = {}
"""Tests of this suite that cannot hold on the real control plane, with the precise reason
(each one listed in tests/cluster/README.md)."""

_patience = 1.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("make_backend") != REAL:
            continue
        reason = SKIP_ON_REAL.get(item.originalname)  # type: ignore[attr-defined]
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"{REAL}: {reason}"))


@pytest.fixture(scope="session")
def real_cluster(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The session's real control plane and node agent (shared with tests/cluster), the
    CRD applied and the chart's RBAC rendered once."""
    from tests.cluster.session import shared_control_plane, shared_node_agent
    from tests.contract.real_cluster_backend import real_cluster

    plane = shared_control_plane(request.config)
    agent = shared_node_agent(request.config)
    with real_cluster(plane, agent) as cluster:
        yield cluster
    assert not agent.errors, f"the node agent failed: {agent.errors!r}"


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, [])) for name in sorted(BACKENDS)])
def make_backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Backend]]:
    script_dir = tmp_path / "script"
    script_dir.mkdir()
    monkeypatch.setenv("BKJOBS_TEST_SCRIPT_DIR", str(script_dir))
    monkeypatch.setattr(sys.modules[__name__], "_patience", PATIENCE.get(request.param, 1.0))
    extra: dict[str, Any] = {}
    if request.param == REAL:
        extra["cluster"] = request.getfixturevalue("real_cluster")
    made: list[Backend] = []

    def make(**overrides: Any) -> Backend:
        backend = BACKENDS[request.param](tmp_path, **extra, **overrides)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend: Callable[..., Backend]) -> Backend:
    return make_backend()


def wait_for(
    store: JobStore, job_id: str, predicate: Callable[[Job], bool], timeout: float = 20.0
) -> Job:
    deadline = time.monotonic() + timeout * _patience
    while True:
        job = store.get(job_id)
        assert job is not None, f"{job_id} disappeared"
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last status: {job.status!r}")
        time.sleep(0.05)


def finished(job: Job) -> bool:
    return job.status.phase.is_terminal
