"""Workers that die are replaced, and their jobs finish without anyone restarting anything.

Real supervisor processes (``WorkerPool``) on a real SQLite store, killed with SIGKILL as
the OOM killer would; the scripted tasks of the contract suite run the jobs.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bookkeeper_jobs.api.deps import Services
from bookkeeper_jobs.api.routes.health import unready_reasons
from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.worker_pool import WorkerPool
from bookkeeper_jobs.artifacts import DirectoryArtifactStore as ArtifactStore
from bookkeeper_jobs.jobs import CategorizeSpec, Job, JobPhase
from bookkeeper_jobs.settings import Settings
from tests.contract.scripted import SCRIPTED_TASKS, note
from tests.support.polling import wait_until


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("BKJOBS_TEST_SCRIPT_DIR", str(tmp_path))
    return Settings(
        data_dir=tmp_path / "data",
        environment="test",
        worker_concurrency=2,
        lease_seconds=1.5,
        retry_backoff=0.1,
        tasks=SCRIPTED_TASKS,
    )


@pytest.fixture
def pool(settings: Settings) -> Iterator[WorkerPool]:
    workers = WorkerPool(settings)
    workers.start()
    yield workers
    workers.stop()


def submit(store: LocalJobStore, scenario: str, n: int = 1) -> str:
    return store.submit(CategorizeSpec(company_id=scenario, tenant_id="t1", limit=n)).job.id


def finished(store: LocalJobStore, job_id: str) -> Job | None:
    job = store.get(job_id)
    return job if job is not None and job.status.phase.is_terminal else None


def test_a_killed_worker_is_replaced_and_its_job_retried(
    settings: Settings, pool: WorkerPool
) -> None:
    store = LocalJobStore(settings.jobs_db)
    job_id = submit(store, "slow")
    running = wait_until(lambda: (j := store.get(job_id)) and j.status.progress >= 3 and j)
    assert running.status.phase is JobPhase.RUNNING
    before = set(pool.pids())
    os.kill(supervisor_of(task_process("slow-t1-1")), signal.SIGKILL)
    killed = time.monotonic()

    wait_until(lambda: pool.alive() == 2 and set(pool.pids()) != before, what="a replacement")
    replaced = time.monotonic() - killed
    job = wait_until(lambda: finished(store, job_id), timeout=40, what="the job to finish")
    print(f"\nworker killed: replaced after {replaced:.1f} s, its job complete (attempt 2) "
          f"{time.monotonic() - killed:.1f} s after the kill")  # fmt: skip
    assert job.status.phase is JobPhase.COMPLETE
    assert job.status.attempts == 2
    assert pool.restarts == 1


def test_with_every_worker_killed_the_jobs_still_finish(
    settings: Settings, pool: WorkerPool
) -> None:
    store = LocalJobStore(settings.jobs_db)
    slow = submit(store, "slow")
    waiting = [submit(store, "ok", n) for n in range(1, 4)]
    wait_until(lambda: (j := store.get(slow)) and j.status.progress >= 3)
    for pid in pool.pids():
        os.kill(pid, signal.SIGKILL)

    jobs = [wait_until(lambda i=i: finished(store, i), timeout=60) for i in [slow, *waiting]]
    assert [j.status.phase for j in jobs] == [JobPhase.COMPLETE] * 4
    assert jobs[0].status.attempts == 2, "the killed attempt was retried"
    assert pool.restarts >= 2 and pool.alive() == 2


def task_process(job_key: str) -> int:
    """The process running the scripted job ``job_key`` (its scenario notes the pid)."""
    return int(note(f"{job_key}.pid").read_text())


def supervisor_of(pid: int) -> int:
    """The parent of process ``pid`` (a task process's supervisor)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_readiness_says_when_no_worker_lives(settings: Settings, pool: WorkerPool) -> None:
    services = Services(
        settings, LocalJobStore(settings.jobs_db), ArtifactStore(settings.artifacts_dir)
    )
    assert unready_reasons(services, pool) == []
    pool.stop()
    assert unready_reasons(services, pool) == [
        "no worker process is running (they are being replaced)"
    ]
