"""Finished jobs for both sides: the same companies, the same result body.

The seed design's jobs are enqueued through its own ``enqueue_job`` and run by RQ's
``SimpleWorker`` (in-process, burst), so each one is a real finished RQ job whose progress went
through ``job.meta`` + ``save_meta()``. The product's are written straight into the embedded
job store with the statuses its lifecycle gives (``Start``, ``Progress``, ``Complete``):
running tens of thousands of jobs through its workers would only make seeding slower.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from seed_design.tasks import nothing_to_categorize

from bookkeeper_jobs.api.store.local import SQLiteDatabase, status_columns
from bookkeeper_jobs.jobs import CategorizeSpec, new_job_id
from bookkeeper_jobs.lifecycle import Complete, Progress, Start, initial_status, transition

TENANT = "t1"
BATCH = 1000
PAGE = 50


@dataclass(frozen=True)
class Workload:
    jobs: int
    companies: int

    @classmethod
    def of(cls, jobs: int) -> Workload:
        """100 companies, fewer when that leaves a company with less than a full listing page
        (1,000 jobs: 20 companies of 50), so every listing answers ``limit=50`` jobs."""
        return cls(jobs=jobs, companies=max(1, min(100, jobs // PAGE)))

    def company(self, index: int) -> str:
        return f"co-{index % self.companies:03d}"

    def company_ids(self) -> list[str]:
        return [f"co-{n:03d}" for n in range(self.companies)]


def seed_product(db_path: Path, workload: Workload) -> list[tuple[str, str]]:
    """Finished jobs in a new embedded job store; their ``(id, ETag)``."""
    db = SQLiteDatabase(db_path, synchronous="OFF")
    start = datetime.now(UTC) - timedelta(seconds=workload.jobs * 0.01 + 60)
    tags = []
    columns: list[str] = []
    for first in range(0, workload.jobs, BATCH):
        rows = []
        for n in range(first, min(workload.jobs, first + BATCH)):
            row = finished_row(workload.company(n), start + timedelta(seconds=n * 0.01))
            tags.append((str(row["id"]), f'"{row["id"]}.{row["version"]}"'))
            rows.append(row)
        columns = list(rows[0])
        with db.transaction() as conn:
            conn.executemany(
                f"INSERT INTO jobs ({', '.join(columns)}) VALUES (:{', :'.join(columns)})", rows
            )
    db.connection().close()
    return tags


def finished_row(company_id: str, created: datetime) -> dict[str, object]:
    spec = CategorizeSpec(company_id=company_id, tenant_id=TENANT)
    status = initial_status(created)
    events = (
        Start(),
        Progress(progress=10, text="Loading transactions..."),
        Complete(result=nothing_to_categorize(company_id)),
    )
    for step, event in enumerate(events, start=1):
        status = transition(status, event, created + timedelta(milliseconds=step))
    return {
        **status_columns(status),
        "id": new_job_id(),
        "tenant_id": TENANT,
        "company_id": company_id,
        "type": spec.type,
        "spec": spec.model_dump_json(),
        "version": 1 + len(events),
    }


def seed_rq(redis_url: str, workload: Workload, processes: int = 2) -> list[str]:
    """Enqueue the jobs through the seed's ``enqueue_job``, run them with ``processes``
    burst workers, return their ids."""
    os.environ["SEED_REDIS_URL"] = redis_url
    from redis import Redis
    from rq import Queue
    from seed_design import app as seed
    from seed_design.tasks import categorize_transactions_task

    # The seed's module binds its connection when first imported: the second size of a
    # --flat run has a Redis of its own (else it enqueues to the first size's, stopped).
    seed.redis_conn = Redis.from_url(redis_url)
    seed.queue = Queue("default", connection=seed.redis_conn)

    for first in range(0, workload.jobs, BATCH):
        with seed.redis_conn.pipeline() as pipe:
            for n in range(first, min(workload.jobs, first + BATCH)):
                company = workload.company(n)
                seed.enqueue_job(
                    categorize_transactions_task,
                    kwargs={"company_id": company, "tenant_id": TENANT},
                    meta={"company_id": company, "operation": "categorize"},
                    pipeline=pipe,
                )
            pipe.execute()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=run_burst, args=(redis_url,)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ids = []
    for company in workload.company_ids():
        ids += [raw.decode() for raw in seed.redis_conn.zrange(seed.company_key(company), 0, -1)]
    finished = seed.redis_conn.zcard("rq:finished:default")
    if finished != workload.jobs:
        raise SystemExit(f"seed design: {finished} of {workload.jobs} jobs finished")
    return ids


def run_burst(redis_url: str) -> None:
    os.environ["SEED_REDIS_URL"] = redis_url
    from rq import SimpleWorker
    from seed_design import app as seed

    worker = SimpleWorker([seed.queue], connection=seed.redis_conn)
    worker.work(burst=True, logging_level="WARNING")
