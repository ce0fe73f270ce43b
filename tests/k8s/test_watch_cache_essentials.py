"""The watch cache keeps what reads need of a resource, not what the API server sends around
it (managedFields, kopf's records), and reads the same job from it."""

from __future__ import annotations

import json

from bookkeeper_jobs.api.store.watch_cache import essentials
from bookkeeper_jobs.jobs import BulkApproveSpec, new_job_id, utcnow
from bookkeeper_jobs.resource import GROUP, job_from_resource, spec_to_resource


def listed_resource() -> dict[str, object]:
    ids = [f"txn_{n:04d}" for n in range(100)]
    body = spec_to_resource(
        BulkApproveSpec(company_id="c1", tenant_id="t1", transaction_ids=ids),
        job_id=new_job_id(),
        namespace="books",
        idempotency_key="k-1",
        request_fingerprint="f" * 64,
        created_at=utcnow(),
    )
    body["metadata"].update(
        uid="u-1",
        resourceVersion="42",
        creationTimestamp="2026-11-30T10:00:00Z",
        managedFields=[{"manager": "kopf", "fieldsV1": {"f:status": {}}}],
    )
    body["metadata"]["annotations"][f"{GROUP}/last-handled-configuration"] = json.dumps(
        body["spec"]
    )
    body["metadata"]["annotations"][f"{GROUP}/create_job"] = '{"started": "2026-11-30"}'
    return body


def test_the_cache_keeps_what_reads_need_and_reads_the_same_job() -> None:
    listed = listed_resource()

    kept = essentials(listed)

    assert job_from_resource(kept) == job_from_resource(listed)
    metadata = kept["metadata"]
    assert "managedFields" not in metadata
    assert set(metadata["annotations"]) == {
        f"{GROUP}/company-id",
        f"{GROUP}/tenant-id",
        f"{GROUP}/request-fingerprint",
        f"{GROUP}/created-at",
    }
    assert (metadata["name"], metadata["resourceVersion"]) == (listed["metadata"]["name"], "42")  # type: ignore[index]
    assert len(json.dumps(kept)) < len(json.dumps(listed)) * 0.7
