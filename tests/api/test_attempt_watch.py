"""The embedded supervisor's watch over one attempt (``api/workers.py: AttemptWatch``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pydantic import BaseModel

from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.workers import POLL_SECONDS, AttemptWatch, lifecycle_for
from bookkeeper_jobs.jobs import CategorizeSpec, JobPhase
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext

LINGER_SECONDS = 1.0


class Done(BaseModel):
    done: bool = True


def lingering(context: TaskContext[CategorizeSpec]) -> Done:
    """A task that leaves a thread behind: its process exits a second after the outcome."""
    del context
    threading.Thread(target=time.sleep, args=(LINGER_SECONDS,)).start()
    return Done()


def test_a_task_process_that_lingers_after_its_outcome_is_waited_for_without_spinning(
    tmp_path: Path,
) -> None:
    """Once the task has sent its outcome the pipe stays readable; the supervisor then waits
    for the process to exit instead of polling the pipe in a loop (which took a core and
    read the job's cancel flag from the database ~80 times per job: bench/README.md, "Pick-up
    and throughput against RQ workers"). The job still completes with the task's result."""
    settings = Settings(environment="test", data_dir=tmp_path)
    store = LocalJobStore(settings.jobs_db)
    job_id = store.submit(CategorizeSpec(company_id="c1", tenant_id="t1")).job.id
    lifecycle = lifecycle_for(settings)
    claim = lifecycle.claim_next("worker-1", settings.lease_seconds)
    assert claim is not None and claim.job.id == job_id
    reads = 0
    asked = lifecycle.cancel_requested

    def counted(job: str) -> bool:
        nonlocal reads
        reads += 1
        return asked(job)

    lifecycle.cancel_requested = counted  # type: ignore[method-assign]
    began = time.monotonic()
    AttemptWatch(settings, lifecycle, claim, threading.Event()).run(f"{__name__}:lingering")
    waited = time.monotonic() - began

    job = store.get(job_id)
    assert job is not None and job.status.phase is JobPhase.COMPLETE
    assert job.status.result == {"done": True}
    assert waited >= LINGER_SECONDS  # it did wait for the process
    assert reads <= waited / POLL_SECONDS + 2, f"{reads} cancel checks in {waited:.1f} s"
