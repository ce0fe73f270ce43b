"""Memory of the cluster API's watch cache per 10,000 and 100,000 jobs (prints figures).

    .venv/bin/python bench/watch_cache_memory.py [--jobs 10000 100000]

Builds finished BookkeepingJobs as the API server returns them (a categorize job's spec and a
finished status, ``managedFields`` for the API, the operator and the task, kopf's progress and
diff-base annotations), loads them into a ``WatchCache`` (no server: ``replace_all`` with what
a list would give) and reports the Python heap they hold (tracemalloc), with and without the
cache's trimming (``watch_cache.essentials``), plus one 10,000-id bulk-approve.
"""

from __future__ import annotations

import argparse
import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any
from unittest import mock

from bookkeeper_jobs.api.store import watch_cache
from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.jobs import BulkApproveSpec, CategorizeSpec, JobStatus, new_job_id, utcnow
from bookkeeper_jobs.lifecycle import Complete, Start, initial_status, transition
from bookkeeper_jobs.resource import GROUP, resource_status, spec_to_resource


def finished_status() -> dict[str, Any]:
    now = utcnow()
    status: JobStatus = initial_status(now)
    status = transition(status, Start(), now)
    result = {"categorized": 100, "by_source": {"rule": 3, "model": 90, "uncategorized": 7}}
    status = transition(status, Complete(attempt=1, result=result), now)
    return resource_status(status, observed_generation=1).model_dump(mode="json", by_alias=True)


def managed_fields() -> list[dict[str, Any]]:
    entry = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:status": {
                f"f:{k}": {} for k in ("phase", "progress", "message", "conditions", "result")
            }
        },
        "manager": "kopf",
        "operation": "Update",
        "time": "2026-11-30T10:00:00Z",
    }
    return [dict(entry, manager=m) for m in ("bkjobs-api", "kopf", "bkjobs-task")]


def resource(spec: Any) -> dict[str, Any]:
    body = spec_to_resource(spec, job_id=new_job_id(), namespace="books", created_at=utcnow())
    body["metadata"].update(
        uid="3f1c2c8e-7d1a-4b55-9a43-0d7c3c1b9e21",
        resourceVersion="123456",
        creationTimestamp="2026-11-30T10:00:00Z",
        generation=1,
        managedFields=managed_fields(),
    )
    body["metadata"]["annotations"][f"{GROUP}/last-handled-configuration"] = json.dumps(
        {"spec": body["spec"]}
    )
    body["metadata"]["annotations"][f"{GROUP}/create_job"] = json.dumps({"started": "x" * 40})
    body["status"] = finished_status()
    return body


def heap_of(make: Callable[[], list[dict[str, Any]]], trim: bool) -> float:
    """MiB the cache holds for the items ``make`` returns."""
    gc.collect()
    tracemalloc.start()
    cache = WatchCache(mock.Mock(), "books")
    with mock.patch.object(
        watch_cache, "essentials", watch_cache.essentials if trim else (lambda o: o)
    ):
        cache.replace_all(make(), "1")
    gc.collect()
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del cache
    return size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print("watch cache heap (tracemalloc), finished categorize jobs")
    for count in args.jobs:

        def make(n: int = count) -> list[dict[str, Any]]:
            return [
                resource(CategorizeSpec(company_id=f"c{i % 100}", tenant_id="t1")) for i in range(n)
            ]

        whole, trimmed = heap_of(make, trim=False), heap_of(make, trim=True)
        print(
            f"  {count:>7,} jobs: {whole:8.1f} MiB as listed, {trimmed:8.1f} MiB cached"
            f" ({trimmed * 2**20 / count / 1024:.1f} KiB a job)"
        )

    def big() -> list[dict[str, Any]]:
        ids = [f"txn_{n:028x}" for n in range(10_000)]  # made while traced, as a list makes them
        return [resource(BulkApproveSpec(company_id="c1", tenant_id="t1", transaction_ids=ids))]

    print(
        f"  one 10,000-id bulk-approve: {heap_of(big, trim=False):.2f} MiB as listed,"
        f" {heap_of(big, trim=True):.2f} MiB cached"
    )


if __name__ == "__main__":
    main()
