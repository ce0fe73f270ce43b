"""Submit-to-running in the embedded mode: how long a submitted job waits for an idle worker
(prints figures; not a test).

    .venv/bin/python bench/pickup_latency.py [--jobs 30] [--workers 2]

Starts the embedded worker pool (real supervisor processes) on a fresh job store, submits
trivial jobs one at a time (each waits until the previous one finished, so a worker is idle)
and reports ``started_at - created_at``: once with the submission waking the workers
(``api/wakeup.py``, what the server does) and once relying on their 0.2 s poll alone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from bookkeeper_jobs.api.store.local import LocalJobStore
from bookkeeper_jobs.api.wakeup import WakeSender
from bookkeeper_jobs.api.worker_pool import WorkerPool
from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.settings import Settings
from bookkeeper_jobs.tasks.context import TaskContext


class Done(BaseModel):
    done: bool = True


def noop(context: TaskContext[CategorizeSpec]) -> Done:
    """The trivial task: all of its time is the pick-up."""
    del context
    return Done()


def measure(jobs: int, workers: int, wake: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            environment="test",
            data_dir=Path(data),
            worker_concurrency=workers,
            tasks={"categorize": "pickup_latency:noop"},
        )
        sender = WakeSender(settings.jobs_db, workers)
        hook: Callable[[], None] = sender.wake if wake else (lambda: None)
        store = LocalJobStore(settings.jobs_db, on_submitted=hook)
        pool = WorkerPool(settings)
        pool.start()
        try:
            time.sleep(3)  # the supervisors import their tasks and start polling
            waits = []
            for _ in range(jobs):
                job_id = store.submit(CategorizeSpec(company_id="c", tenant_id="t")).job.id
                while True:
                    job = store.get(job_id)
                    assert job is not None
                    if job.status.phase.is_terminal:
                        break
                    time.sleep(0.002)
                assert job.status.started_at is not None, job.status
                waits.append((job.status.started_at - job.status.created_at).total_seconds())
            return waits
        finally:
            pool.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"submit-to-running, {args.jobs} trivial jobs, {args.workers} idle workers")
    for wake in (True, False):
        waits = sorted(measure(args.jobs, args.workers, wake))
        p50 = statistics.median(waits) * 1000
        p90 = waits[int(len(waits) * 0.9) - 1] * 1000
        label = "woken by the submission" if wake else "poll only (0.2 s)      "
        print(f"  {label}: p50 {p50:6.1f} ms, p90 {p90:6.1f} ms, max {waits[-1] * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
