"""The cluster backend's API side: KubernetesJobStore over a list+watch cache, against the
emulated API server. Reads are served from memory; the cache resumes after a dropped watch
and re-lists after 410 Gone
(https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.config import kube_config

from bookkeeper_jobs.api.cluster import cluster_services
from bookkeeper_jobs.api.store.kubernetes import CREATE_THREADS, KubernetesJobStore
from bookkeeper_jobs.api.store.protocol import (
    JobStamp,
    encode_cursor,
    has_stamped_reads,
    queues_submissions,
)
from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.errors import (
    IdempotencyConflictError,
    InvalidCursorError,
    JobNotFoundError,
    JobStateError,
    ResourceInvalidError,
    StoredJobError,
)
from bookkeeper_jobs.jobs import CategorizeSpec, JobPhase, new_job_id, utcnow
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, resource_status, spec_to_resource
from bookkeeper_jobs.settings import Settings
from tests.k8s.emulator import KubernetesEmulator
from tests.support.polling import wait_until

CRD = Path(__file__).resolve().parents[2] / "crds" / "bookkeepingjobs.yaml"
NAMESPACE = "default"
CACHE_SECONDS = 5.0
"""How long a change may take to reach the watch cache."""


@pytest.fixture
def cluster(k8s_api: KubernetesEmulator) -> KubernetesEmulator:
    k8s_api.load_crd(CRD)
    return k8s_api


@pytest.fixture
def cache(cluster: KubernetesEmulator, k8s_client: client.ApiClient) -> Iterator[WatchCache]:
    watch_cache = WatchCache(
        client.CustomObjectsApi(k8s_client), NAMESPACE, watch_timeout=30, retry_delay=0.1
    )
    watch_cache.start()
    assert watch_cache.wait_synced(5)
    yield watch_cache
    watch_cache.stop()


@pytest.fixture
def store(cache: WatchCache, k8s_client: client.ApiClient) -> KubernetesJobStore:
    return KubernetesJobStore(client.CustomObjectsApi(k8s_client), cache)


def cached_progress(store: KubernetesJobStore, job_id: str) -> int | None:
    """The job's progress as the store reads it (from its cache); None while it has no job."""
    job = store.get(job_id)
    return None if job is None else job.status.progress


def spec(company: str = "c1", n: int = 100) -> CategorizeSpec:
    return CategorizeSpec(company_id=company, tenant_id="t1", limit=n)


def set_phase(cluster: KubernetesEmulator, name: str, phase: JobPhase, progress: int) -> None:
    body = {"phase": phase.value, "progress": progress, "message": f"now {phase.value}"}
    cluster.patch_status(f"{GROUP}/{VERSION}/{PLURAL}", NAMESPACE, name, body)


def test_submit_creates_one_resource_and_reads_it_back(
    store: KubernetesJobStore, cluster: KubernetesEmulator
) -> None:
    job = store.submit(spec()).job
    stored = cluster.get(f"{GROUP}/{VERSION}/{PLURAL}", NAMESPACE, job.id)
    assert stored["spec"]["companyId"] == "c1"
    assert store.get(job.id) == job
    assert job.status.phase is JobPhase.PENDING


def test_polls_are_answered_from_memory(
    store: KubernetesJobStore, cluster: KubernetesEmulator
) -> None:
    job_id = store.submit(spec()).job.id
    before = len(cluster.requests)
    for _ in range(200):
        assert store.get(job_id) is not None
        store.list_company("t1", "c1")
    assert len(cluster.requests) - before <= 1  # at most a bookmark-driven re-watch


def test_status_written_by_others_reaches_the_cache(
    store: KubernetesJobStore, cluster: KubernetesEmulator
) -> None:
    job_id = store.submit(spec()).job.id
    set_phase(cluster, job_id, JobPhase.RUNNING, 40)
    wait_until(
        lambda: cached_progress(store, job_id) == 40,
        timeout=CACHE_SECONDS,
        what="progress 40 in the cache",
    )


def test_the_cache_resumes_after_a_dropped_watch(
    store: KubernetesJobStore, cache: WatchCache, cluster: KubernetesEmulator
) -> None:
    job_id = store.submit(spec()).job.id
    wait_until(lambda: cluster.watch_count >= 1, timeout=CACHE_SECONDS, what="the watch")
    cluster.disconnect_watches(abort=True)
    set_phase(cluster, job_id, JobPhase.RUNNING, 55)
    wait_until(
        lambda: cached_progress(store, job_id) == 55,
        timeout=CACHE_SECONDS,
        what="progress 55 in the cache",
    )
    assert cache.relists == 1, "a resumed watch needs no new list"


def test_the_cache_relists_after_410_gone(
    store: KubernetesJobStore, cache: WatchCache, cluster: KubernetesEmulator
) -> None:
    job_id = store.submit(spec()).job.id
    wait_until(lambda: cluster.watch_count >= 1, timeout=CACHE_SECONDS, what="the watch")
    cluster.disconnect_watches(abort=True)
    set_phase(cluster, job_id, JobPhase.RUNNING, 70)  # missed while disconnected...
    cluster.compact()  # ...and no longer in the server's history: resuming gets 410
    wait_until(lambda: cache.relists >= 2, timeout=CACHE_SECONDS, what="the re-list")
    wait_until(
        lambda: cached_progress(store, job_id) == 70,
        timeout=CACHE_SECONDS,
        what="progress 70 in the cache",
    )


def test_deleted_resources_leave_the_cache(
    store: KubernetesJobStore, cluster: KubernetesEmulator
) -> None:
    job_id = store.submit(spec()).job.id
    cluster.delete(f"{GROUP}/{VERSION}/{PLURAL}", NAMESPACE, job_id)
    wait_until(
        lambda: store.get(job_id) is None, timeout=CACHE_SECONDS, what="the job to leave the cache"
    )
    assert store.list_company("t1", "c1").jobs == []


def test_company_listing_is_newest_first_with_a_cursor(store: KubernetesJobStore) -> None:
    ids = []
    for n in range(1, 6):
        ids.append(store.submit(spec(n=n)).job.id)
        time.sleep(0.01)  # creationTimestamp has second precision: order falls back to id
    store.submit(spec(company="c2"))
    listed: list[str] = []
    cursor = None
    while True:
        page = store.list_company("t1", "c1", limit=2, cursor=cursor)
        listed += [j.id for j in page.jobs]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(listed) == sorted(ids)
    assert len(listed) == 5
    created = [store.get(i).status.created_at for i in listed]  # type: ignore[union-attr]
    assert created == sorted(created, reverse=True)


def test_idempotency_keys_map_to_deterministic_names(store: KubernetesJobStore) -> None:
    first = store.submit(spec(), idempotency_key="k1", request_fingerprint="a")
    again = store.submit(spec(), idempotency_key="k1", request_fingerprint="a")
    assert first.created and not again.created
    assert again.job.id == first.job.id
    with pytest.raises(IdempotencyConflictError):
        store.submit(spec(), idempotency_key="k1", request_fingerprint="b")


def test_awaited_submissions_create_in_the_stores_own_pool(
    store: KubernetesJobStore, cluster: KubernetesEmulator
) -> None:
    """``submit_later`` (the quick submit path's): the same create as ``submit``, run by one
    of the store's bounded create threads over a client of their own (the same server and
    credentials, a connection pool for the threads); replays, conflicts and the API server's
    refusals arrive through the future."""
    assert queues_submissions(store)
    threads: list[str] = []
    creating = store.creating_api()
    assert creating is not store._api
    shared = store._api.api_client.configuration
    own = creating.api_client.configuration
    assert (own.host, own.api_key) == (shared.host, shared.api_key)
    assert own.connection_pool_maxsize == CREATE_THREADS
    create = creating.create_namespaced_custom_object

    def counted(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return create(*args, **kwargs)

    creating.create_namespaced_custom_object = counted  # type: ignore[method-assign]
    try:
        futures = [store.submit_later(spec(n=n), None, None) for n in range(1, 21)]
        jobs = [future.result(10).job for future in futures]
        assert len({job.id for job in jobs}) == 20
        for job in jobs:
            assert cluster.get(f"{GROUP}/{VERSION}/{PLURAL}", NAMESPACE, job.id)
            assert store.get(job.id) == job  # in the cache at once
        assert all(name.startswith("bkjobs-create") for name in threads)
        assert len(set(threads)) <= CREATE_THREADS
        first = store.submit_later(spec(), "k-later", "a").result(10)
        again = store.submit_later(spec(), "k-later", "a").result(10)
        assert first.created and not again.created and again.job.id == first.job.id
        with pytest.raises(IdempotencyConflictError):
            store.submit_later(spec(), "k-later", "b").result(10)

        def refused(*args: Any, **kwargs: Any) -> Any:
            failure = client.ApiException(status=422, reason="Invalid")
            failure.body = '{"kind": "Status", "reason": "Invalid", "message": "a CEL rule"}'
            raise failure

        creating.create_namespaced_custom_object = refused  # type: ignore[method-assign]
        with pytest.raises(ResourceInvalidError, match="a CEL rule"):
            store.submit_later(spec(), None, None).result(10)
    finally:
        del creating.create_namespaced_custom_object
        store.close()
    # a submission after close starts a new pool
    assert store.submit_later(spec(), None, None).result(10).created
    store.close()


def test_cancel_asks_through_the_spec(
    store: KubernetesJobStore, cluster: KubernetesEmulator
) -> None:
    job_id = store.submit(spec()).job.id
    store.cancel(job_id)
    stored = cluster.get(f"{GROUP}/{VERSION}/{PLURAL}", NAMESPACE, job_id)
    assert stored["spec"]["cancelRequested"] is True
    with pytest.raises(JobNotFoundError):
        store.cancel("job-00000000000000000000")


def test_cancel_of_a_finished_job_is_refused(
    store: KubernetesJobStore, cluster: KubernetesEmulator
) -> None:
    job = store.submit(spec()).job
    done = job.status.model_copy(update={"phase": JobPhase.COMPLETE, "progress": 100})
    body = resource_status(done).model_dump(mode="json", by_alias=True, exclude_none=True)
    cluster.patch_status(f"{GROUP}/{VERSION}/{PLURAL}", NAMESPACE, job.id, body)
    wait_until(
        lambda: (j := store.get(job.id)) is not None and j.status.phase.is_terminal,
        timeout=CACHE_SECONDS,
        what="the terminal phase in the cache",
    )
    with pytest.raises(JobStateError):
        store.cancel(job.id)


def test_not_ready_until_the_first_list(
    cluster: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    cache = WatchCache(client.CustomObjectsApi(k8s_client), NAMESPACE)
    store = KubernetesJobStore(client.CustomObjectsApi(k8s_client), cache)
    assert store.unready_reason() == "the watch cache has not synced yet"
    cache.start()
    try:
        assert cache.wait_synced(5)
        assert store.unready_reason() is None
    finally:
        cache.stop()


def test_cluster_services_find_the_api_server_through_the_kubeconfig(
    cluster: KubernetesEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Outside a pod, the API's cluster mode reads ``KUBECONFIG`` (as kubectl does)."""
    # The client reads KUBECONFIG once, when it is imported: set what it derived from it.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig_path))
    settings = Settings(data_dir=tmp_path, job_store="kubernetes", kubernetes_namespace=NAMESPACE)
    services, stop = cluster_services(settings)
    try:
        wait_until(
            lambda: services.store.unready_reason() is None,
            timeout=CACHE_SECONDS,
            what="the store to be ready",
        )
        job_id = services.store.submit(spec()).job.id
        assert cluster.get(f"{GROUP}/{VERSION}/{PLURAL}", NAMESPACE, job_id)["metadata"]["name"]
    finally:
        stop()


def test_a_job_created_through_another_replica_is_found_at_once(
    cluster: KubernetesEmulator, store: KubernetesJobStore, k8s_client: client.ApiClient
) -> None:
    """Two API replicas: the second's cache has not seen the job (its watch is not even
    running), yet a client following the first's Location header gets the job, not a 404."""
    other_cache = WatchCache(client.CustomObjectsApi(k8s_client), NAMESPACE)  # never started
    other = KubernetesJobStore(client.CustomObjectsApi(k8s_client), other_cache)
    job = store.submit(spec()).job

    found = other.get(job.id)

    assert found is not None and found.id == job.id
    assert other_cache.get(job.id) is not None  # read once, then served from memory
    before = len(cluster.requests)
    assert other.get(job.id) == found
    assert len(cluster.requests) == before


def test_a_missing_job_is_asked_of_the_api_server_once_in_a_while_only(
    cluster: KubernetesEmulator, cache: WatchCache, k8s_client: client.ApiClient
) -> None:
    now = [1000.0]
    store = KubernetesJobStore(client.CustomObjectsApi(k8s_client), cache, clock=lambda: now[0])
    unknown = "job-00000000000000000000"

    def asked() -> int:
        return sum(1 for _method, path in cluster.requests if path.endswith(f"/{unknown}"))

    assert store.get(unknown) is None
    assert store.get(unknown) is None  # remembered: not asked again
    assert store.get("job-../../secrets") is None  # never asked: no resource has such a name
    assert asked() == 1
    now[0] += 5  # the memory of the miss has run out
    assert store.get(unknown) is None
    assert asked() == 2


def test_readiness_fails_once_the_watch_has_been_failing_for_a_while(
    cluster: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:
    cache = WatchCache(
        client.CustomObjectsApi(k8s_client), NAMESPACE, retry_delay=0.05, unhealthy_after=0.5
    )
    store = KubernetesJobStore(client.CustomObjectsApi(k8s_client), cache)
    cache.start()
    try:
        assert cache.wait_synced(5)
        assert store.unready_reason() is None
        cluster.stop()  # the API server is gone for good

        wait_until(
            lambda: store.unready_reason() is not None, timeout=CACHE_SECONDS, what="unready"
        )
        reason = store.unready_reason()
        assert reason is not None and reason.startswith("the watch of bookkeepingjobs has failed")
    finally:
        cache.stop()


def test_the_first_list_is_read_in_pages(
    cluster: KubernetesEmulator, k8s_client: client.ApiClient
) -> None:

    for _ in range(1_100):
        body = spec_to_resource(spec(), job_id=new_job_id(), namespace=NAMESPACE)
        cluster.create(f"{GROUP}/{VERSION}/{PLURAL}", NAMESPACE, body)
    cache = WatchCache(client.CustomObjectsApi(k8s_client), NAMESPACE)
    cache.start()
    try:
        assert cache.wait_synced(CACHE_SECONDS)
        lists = [
            path
            for method, path in cluster.requests
            if method == "GET"
            and path.startswith(f"/apis/{GROUP}/{VERSION}/namespaces/")
            and "watch=" not in path
        ]
        assert len(cache.all()) == 1_100
        assert len(lists) == 3 and all("limit=500" in path for path in lists)
    finally:
        cache.stop()


def test_the_store_offers_stamped_reads_that_agree_with_its_jobs(
    store: KubernetesJobStore, cluster: KubernetesEmulator
) -> None:
    """The polling fast path's reads (``StampedReads``): the owner and version the routes
    read, and the pages ``list_company`` answers, with the same cursors."""
    assert has_stamped_reads(store)
    ids = [store.submit(spec(n=n)).job.id for n in range(1, 8)]
    store.submit(spec(company="c2"))
    set_phase(cluster, ids[2], JobPhase.RUNNING, 30)
    wait_until(lambda: cached_progress(store, ids[2]) == 30, timeout=CACHE_SECONDS, what="30")
    for job_id in ids:
        job = store.get(job_id)
        assert job is not None
        assert store.stamp(job_id) == JobStamp(job.id, job.tenant_id, job.company_id, job.version)
    for limit in (1, 2, 3, 7, 50):
        cursor = None
        while True:
            jobs = store.list_company("t1", "c1", limit=limit, cursor=cursor)
            stamps = store.list_company_stamps("t1", "c1", limit=limit, cursor=cursor)
            assert [s.id for s in stamps.stamps] == [j.id for j in jobs.jobs]
            assert [s.version for s in stamps.stamps] == [j.version for j in jobs.jobs]
            assert stamps.next_cursor == jobs.next_cursor
            if jobs.next_cursor is None:
                break
            cursor = jobs.next_cursor
    assert store.list_company_stamps("t2", "c1").stamps == []


def test_stamped_reads_never_ask_the_api_server(
    cluster: KubernetesEmulator, store: KubernetesJobStore, k8s_client: client.ApiClient
) -> None:
    """A job or a cursor the cache does not hold reads as missing (the fast path then leaves
    the request to the route, which reads it in a worker thread), never as a request made
    on the event loop."""
    other_cache = WatchCache(client.CustomObjectsApi(k8s_client), NAMESPACE)  # never started
    other = KubernetesJobStore(client.CustomObjectsApi(k8s_client), other_cache)
    first, second = store.submit(spec()).job, store.submit(spec()).job
    before = len(cluster.requests)
    assert other.stamp(first.id) is None
    with pytest.raises(InvalidCursorError):
        other.list_company_stamps("t1", "c1", cursor=encode_cursor(second.id))
    assert other.list_company_stamps("t1", "c1").stamps == []
    assert len(cluster.requests) == before
    # The route's read asks for it (once); the page after it holds what this cache holds.
    assert other.list_company("t1", "c1", cursor=encode_cursor(second.id)).jobs == []
    assert other.stamp(second.id) is not None


def test_a_listing_page_reads_only_its_own_jobs(
    store: KubernetesJobStore, cache: WatchCache
) -> None:
    """The cache keeps each listing sorted: a page parses its jobs, not the company's, so a
    resource that does not read as a job spoils only the pages that hold it."""
    broken = spec_to_resource(spec(), job_id=new_job_id(), namespace=NAMESPACE, created_at=utcnow())
    broken["metadata"].update(resourceVersion="1", creationTimestamp="2026-01-01T00:00:00Z")
    broken["spec"]["parameters"] = {"limit": "not a number"}
    cache.upsert(broken)  # older than every job below: last in the listing
    ids = [store.submit(spec()).job.id for _ in range(3)]
    first = store.list_company("t1", "c1", limit=3)
    assert [j.id for j in first.jobs] == ids[::-1] and first.next_cursor is not None
    with pytest.raises(StoredJobError):
        store.list_company("t1", "c1", limit=3, cursor=first.next_cursor)
    with pytest.raises(StoredJobError):
        store.get(broken["metadata"]["name"])
    stamps = store.list_company_stamps("t1", "c1", limit=4)
    assert stamps.stamps[-1].id == broken["metadata"]["name"]
