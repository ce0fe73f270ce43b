"""The watch cache keeps what reads need of a resource, not what the API server sends around
it (managedFields, kopf's records), and reads the same job from it; its listings stay in
the order ``KubernetesJobStore.list_company`` answers, through any sequence of events."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from bookkeeper_jobs.api.store.protocol import JobStamp
from bookkeeper_jobs.api.store.watch_cache import (
    WatchCache,
    company_of,
    essentials,
    tenant_of,
)
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


# -- the listings index -------------------------------------------------------------------


def resource(
    name: str, created: str, *, tenant: str = "t1", company: str = "c1", rv: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "resourceVersion": str(rv),
            "creationTimestamp": created[:19] + "Z",
            "annotations": {
                f"{GROUP}/company-id": company,
                f"{GROUP}/tenant-id": tenant,
                f"{GROUP}/created-at": created,
            },
        },
        "spec": {"type": "categorize", "companyId": company, "tenantId": tenant},
    }


def listed(cache: WatchCache, tenant: str, company: str, limit: int) -> list[list[str]]:
    """Every page of the listing, following each page's last entry as the next start."""
    pages: list[list[str]] = []
    before = None
    while True:
        entries = cache.page(tenant, company, limit, before)
        pages.append([e.resource["metadata"]["name"] for e in entries[:limit]])
        if len(entries) <= limit:
            return pages
        before = entries[limit - 1].place


def newest_first(cache: WatchCache, tenant: str, company: str) -> list[str]:
    """The listing as KubernetesJobStore.list_company sorted it before the index: every
    job of the listing, parsed, by (created_at, id), newest first."""
    jobs = [
        job_from_resource(obj)
        for obj in cache.all()
        if (tenant_of(obj), company_of(obj)) == (tenant, company)
    ]
    jobs.sort(key=lambda job: (job.status.created_at, job.id), reverse=True)
    return [job.id for job in jobs]


def test_listings_stay_sorted_newest_first_through_list_and_watch_events() -> None:
    cache = WatchCache(mock.Mock(), "books")
    rng = random.Random(14)
    base = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

    def created() -> str:
        moment = base + timedelta(microseconds=rng.randrange(0, 5_000_000))
        return (
            moment.isoformat() if rng.random() < 0.8 else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        )

    names = [f"job-{n:020x}" for n in range(60)]
    cache.replace_all(
        [resource(n, created(), company=rng.choice(["c1", "c2"])) for n in names[:30]], "1"
    )
    tie = base.isoformat()
    for rv, step in enumerate(range(400), start=2):
        name = rng.choice(names)
        kind = rng.random()
        if kind < 0.2:
            cache.remove({"metadata": {"name": name}})
        elif kind < 0.3:
            cache.upsert(resource(name, tie, company="c1", rv=rv))  # same instant: by name
        else:
            company, tenant = rng.choice(["c1", "c2"]), rng.choice(["t1", "t1", "t2"])
            cache.upsert(resource(name, created(), tenant=tenant, company=company, rv=rv))
        if step % 40 == 0:
            cache.replace_all(cache.all(), str(rv))
        for tenant, company in [("t1", "c1"), ("t1", "c2"), ("t2", "c1"), ("t2", "c2")]:
            expected = newest_first(cache, tenant, company)
            assert [
                e.resource["metadata"]["name"] for e in cache.page(tenant, company, 500)
            ] == expected
            for limit in (1, 3, 7):
                pages = listed(cache, tenant, company, limit)
                assert [name for page in pages for name in page] == expected
                assert all(len(page) == limit for page in pages[:-1])


def test_an_older_event_neither_replaces_nor_moves_a_newer_resource() -> None:
    cache = WatchCache(mock.Mock(), "books")
    cache.upsert(resource("job-01", "2026-11-30T10:00:02+00:00", rv=5))
    cache.upsert(resource("job-01", "2026-11-30T10:00:09+00:00", company="c2", rv=4))
    assert [e.resource["metadata"]["name"] for e in cache.page("t1", "c1", 10)] == ["job-01"]
    assert cache.page("t1", "c2", 10) == []
    assert cache.stamp("job-01") == JobStamp(
        id="job-01", tenant_id="t1", company_id="c1", version=5
    )


def test_stamps_are_the_jobs_owner_and_version_or_none() -> None:
    cache = WatchCache(mock.Mock(), "books")
    body = listed_resource()
    cache.upsert(body)
    job = job_from_resource(body)
    assert cache.stamp(job.id) == JobStamp(job.id, job.tenant_id, job.company_id, job.version)
    odd = resource("job-02", "2026-11-30T10:00:00+00:00")
    odd["metadata"]["resourceVersion"] = "v7"
    cache.upsert(odd)
    assert cache.stamp("job-02") is None  # readers parse it (and fail as the route does)
    assert cache.stamp("job-03") is None
    cache.remove(body)
    assert cache.stamp(job.id) is None and cache.get(job.id) is None
