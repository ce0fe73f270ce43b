"""The API's watch cache (``api/store/watch_cache.py``) and its store on a real
kube-apiserver: what a replica of the API lives through in a cluster.

A real API server keeps a watch with nothing to report silent until its ``timeoutSeconds``
(the cache asks for 300 s) or the next bookmark (about once a minute); the emulator
bookmarks every 0.2-1 s, so there a blocked read never lasts long. Requests are counted from
the API server's audit log (``control_plane.AUDIT_POLICY``: every request naming a
BookkeepingJob), never from the client's side.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from bookkeeper_jobs.api.store.kubernetes import KubernetesJobStore
from bookkeeper_jobs.api.store.watch_cache import WatchCache
from bookkeeper_jobs.jobs import CategorizeSpec, JobPhase, new_job_id
from bookkeeper_jobs.kube import load_kube_configuration
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION, spec_to_resource
from tests.cluster.control_plane import ApiServer, ControlPlane
from tests.support.polling import wait_until
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("bookkeepingjobs_crd")]
SECONDS = 60.0


def spec(company: str = "c1") -> CategorizeSpec:
    return CategorizeSpec(company_id=company, tenant_id="t1", limit=100)


def cached_progress(store: KubernetesJobStore, job_id: str) -> int | None:
    job = store.get(job_id)
    return None if job is None else job.status.progress


def set_progress(admin_client: client.ApiClient, namespace: str, name: str, progress: int) -> None:
    """Another component (the task) writes the job's status, through the main API server."""
    client.CustomObjectsApi(admin_client).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        {"status": {"phase": JobPhase.RUNNING.value, "progress": progress, "message": "working"}},
    )


def requests_of(events: list[dict[str, Any]], namespace: str, verb: str) -> list[str]:
    """The request URIs of ``verb`` on BookkeepingJobs of ``namespace``, oldest first."""
    return [
        event["requestURI"]
        for event in events
        if event["verb"] == verb
        and event["objectRef"].get("resource") == PLURAL
        and event["objectRef"].get("namespace") == namespace
        and not event["objectRef"].get("subresource")
    ]


@pytest.fixture
def api_via(tmp_path: Path, control_plane: ControlPlane) -> Iterator[Any]:
    """``api_via(url)``: the official client, as the admin, talking to ``url`` (a proxy in
    front of the API server, or another API server of the plane)."""
    with contextlib.ExitStack() as opened:

        def make(url: str) -> client.CustomObjectsApi:
            path = tmp_path / f"kubeconfig-{new_job_id()}"
            control_plane.write_kubeconfig(path, control_plane.admin_token, server=url)
            api_client = opened.enter_context(client.ApiClient(load_kube_configuration(path)))
            return client.CustomObjectsApi(api_client)

        yield make


@pytest.fixture
def second_api_server(control_plane: ControlPlane) -> Iterator[ApiServer]:
    """Another kube-apiserver on the plane's etcd, which the test may stop and restart."""
    server = control_plane.extra_api_server()
    try:
        yield server
    finally:
        server.stop()


def test_stop_ends_a_silent_watch(
    admin_client: client.ApiClient,
    control_plane: ControlPlane,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping the cache (the API's shutdown, as in a rolling update) cuts its watch: the
    watch thread has ended when ``stop`` returns, and nothing is logged as a failure.
    (Found by the e2e suite on the real server: ``stop`` waited its 5 s join for a read that
    would block until the next bookmark, and returned with the thread still reading.)"""
    cache = WatchCache(client.CustomObjectsApi(admin_client), namespace)
    cache.start()
    assert cache.wait_synced(30)
    wait_until(  # the watch request reached the API server (its audit log says so)
        lambda: any(
            event["verb"] == "watch"
            and event["objectRef"].get("resource") == PLURAL
            and event["objectRef"].get("namespace") == namespace
            for event in control_plane.audit_events()
        ),
        timeout=30,
        what="the cache's watch",
    )

    with caplog.at_level(logging.WARNING, logger="bookkeeper_jobs.api.store.watch_cache"):
        cache.stop()

    assert not cache.running
    assert not caplog.records, [record.getMessage() for record in caplog.records]


def test_the_cache_resumes_after_its_connection_is_cut(
    admin_client: client.ApiClient, control_plane: ControlPlane, namespace: str, api_via: Any
) -> None:
    """The watch's TCP connection dies mid-stream (a proxy between the cache and the API
    server cuts it): the cache watches again from the last resourceVersion it saw, gets
    what changed meanwhile, and never lists again (the API server kept the history)."""
    port = int(control_plane.url.rsplit(":", 1)[1])
    with TcpProxy("127.0.0.1", port) as proxy:
        api = api_via(f"https://127.0.0.1:{proxy.port}")
        cache = WatchCache(api, namespace, retry_delay=0.2)
        store = KubernetesJobStore(api, cache)
        cache.start()
        try:
            assert cache.wait_synced(SECONDS)
            job_id = store.submit(spec()).job.id
            wait_until(lambda: store.get(job_id) is not None, timeout=SECONDS, what="the job")
            watches = len(requests_of(control_plane.audit_events(), namespace, "watch"))
            assert proxy.cut() >= 1

            set_progress(admin_client, namespace, job_id, 55)
            wait_until(
                lambda: cached_progress(store, job_id) == 55,
                timeout=SECONDS,
                what="progress 55 in the cache",
            )
        finally:
            cache.stop()
    events = control_plane.audit_events()
    resumed = requests_of(events, namespace, "watch")[watches:]
    assert resumed, "the cache watched again"
    assert all(parse_qs(urlsplit(uri).query).get("resourceVersion") for uri in resumed)
    assert len(requests_of(events, namespace, "list")) == 1, "a resumed watch needs no new list"
    assert cache.relists == 1


def test_an_api_server_restart_is_reported_by_readiness_and_the_cache_relists_after_410(
    admin_client: client.ApiClient,
    control_plane: ControlPlane,
    second_api_server: ApiServer,
    namespace: str,
    api_via: Any,
) -> None:
    """The API server the cache talks to stops (a control-plane upgrade restarts it): after
    ``unhealthy_after`` seconds the store's readiness (what ``/readyz`` answers) names the
    failing watch. Meanwhile the job changes and etcd is compacted, so when the server is
    back the cache's resourceVersion is gone: the watch is refused with 410 Gone, the cache
    lists again, holds the change, and is ready again."""
    api = api_via(second_api_server.url)
    cache = WatchCache(api, namespace, retry_delay=0.2, unhealthy_after=1.0)
    store = KubernetesJobStore(api, cache)
    cache.start()
    try:
        assert cache.wait_synced(SECONDS)
        job_id = store.submit(spec()).job.id
        wait_until(lambda: store.get(job_id) is not None, timeout=SECONDS, what="the job")
        assert store.unready_reason() is None

        second_api_server.stop()
        wait_until(lambda: store.unready_reason() is not None, timeout=SECONDS, what="not ready")
        reason = store.unready_reason()
        assert reason is not None and reason.startswith("the watch of bookkeepingjobs has failed")
        set_progress(admin_client, namespace, job_id, 70)  # through the other API server
        control_plane.compact_etcd()  # the cache's resourceVersion is history no one keeps

        second_api_server.start()
        wait_until(lambda: cache.relists >= 2, timeout=SECONDS, what="the re-list")
        wait_until(
            lambda: cached_progress(store, job_id) == 70,
            timeout=SECONDS,
            what="progress 70 in the cache",
        )
        wait_until(lambda: store.unready_reason() is None, timeout=SECONDS, what="ready again")
    finally:
        cache.stop()
    assert len(requests_of(second_api_server.audit_events(), namespace, "list")) >= 2


def test_the_first_list_is_read_in_pages(
    admin_client: client.ApiClient, control_plane: ControlPlane, namespace: str
) -> None:
    """With more jobs than one page (500), the cache's first list is read in pages
    (``limit``, then ``continue``), never as one unbounded response, and holds them all."""
    api = client.CustomObjectsApi(admin_client)

    def create(_: int) -> None:
        body = spec_to_resource(spec(), job_id=new_job_id(), namespace=namespace)
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(1_001)))
    cache = WatchCache(api, namespace)
    cache.start()
    try:
        assert cache.wait_synced(SECONDS)
        assert len(cache.all()) == 1_001
    finally:
        cache.stop()
    pages = [
        parse_qs(urlsplit(uri).query)
        for uri in requests_of(control_plane.audit_events(), namespace, "list")
    ]
    assert len(pages) == 3
    assert all(page.get("limit") == ["500"] for page in pages)
    assert "continue" not in pages[0]
    assert all(page.get("continue") for page in pages[1:])


def test_a_missing_job_is_asked_of_the_api_server_once_in_a_while_only(
    admin_client: client.ApiClient, control_plane: ControlPlane, namespace: str
) -> None:
    """A poll for a job the cache does not hold (created through another replica a moment
    ago, or never) asks the API server, and a miss is remembered for a few seconds: a client
    polling an unknown id does not turn each poll into a request to the API server."""
    api = client.CustomObjectsApi(admin_client)
    cache = WatchCache(api, namespace)
    now = [1000.0]
    store = KubernetesJobStore(api, cache, clock=lambda: now[0])
    cache.start()
    unknown = "job-00000000000000000000"

    def asked() -> int:
        return sum(
            1
            for event in control_plane.audit_events()
            if event["verb"] == "get"
            and event["objectRef"].get("namespace") == namespace
            and event["objectRef"].get("name") == unknown
        )

    try:
        assert cache.wait_synced(SECONDS)
        assert store.get(unknown) is None
        assert store.get(unknown) is None  # remembered: not asked again
        assert store.get("job-../../secrets") is None  # never asked: no resource has such a name
        assert asked() == 1
        now[0] += 5  # the memory of the miss has run out
        assert store.get(unknown) is None
        assert asked() == 2
    finally:
        cache.stop()
