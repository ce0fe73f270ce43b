"""The fast paths for status polls, listings and JSON submissions (``api/polling.py``,
``api/quick_submit.py``) answer exactly as the routes do: each request is sent to the app as
shipped and to the same app over the same job store with the fast paths taken out, and the
status, headers and body must be the same, refusals included.

Every comparison runs twice: over the embedded store, and in cluster mode over the
``KubernetesJobStore`` on the emulated API server (each app then has its own watch cache,
as two API replicas do; :meth:`Pair.same` waits until both caches hold what the API server
holds before it compares). Submissions check that the quick submit path answered each 202
(its ``answered`` count) and that every refusal of the store, in cluster mode the API
server's own (a CEL rule's 422, a 500, no answer at all), fell through to the route."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import urllib3
from fastapi import FastAPI
from kubernetes.client.exceptions import ApiException

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.api.polling import PollingFastPath
from bookkeeper_jobs.api.quick_submit import QuickSubmit
from bookkeeper_jobs.api.store.kubernetes import KubernetesJobStore
from bookkeeper_jobs.crd import render_crd_yaml
from bookkeeper_jobs.resource import GROUP, PLURAL, VERSION
from tests.k8s.emulator import KubernetesEmulator
from tests.support.polling import wait_until

from .harness import KEY_A, KEY_B, api_settings, make_jwt, serve_app

FAST_PATHS = (PollingFastPath, QuickSubmit)
VARYING = {"date", "server"}
BKJ = f"{GROUP}/{VERSION}/{PLURAL}"
NAMESPACE = "default"


def routes_only(app: FastAPI) -> FastAPI:
    """The app without its fast paths (the middleware stack is built on the first request)."""
    app.user_middleware = [m for m in app.user_middleware if m.cls not in FAST_PATHS]
    return app


def fast_path_of(app: FastAPI) -> PollingFastPath:
    """The app's polling middleware, as built on its first request."""
    layer: Any = app.middleware_stack
    while not isinstance(layer, PollingFastPath):
        layer = layer.app
    return layer


def quick_submit_of(app: FastAPI) -> QuickSubmit:
    """The app's quick submit middleware, as built on its first request."""
    layer: Any = app.middleware_stack
    while not isinstance(layer, QuickSubmit):
        layer = layer.app
    return layer


@dataclass
class Pair:
    shipped: httpx.Client
    routes: httpx.Client
    apps: tuple[FastAPI, FastAPI]
    cluster: KubernetesEmulator | None = None
    """The emulated API server in cluster mode; None over the embedded store."""
    stores: list[KubernetesJobStore] = field(default_factory=list)

    def settle(self) -> None:
        """In cluster mode, wait until both apps' caches hold every resource the API server
        holds, at its version (and nothing else); the embedded apps share one database."""
        if self.cluster is None:
            return
        cluster = self.cluster

        def cached(store: KubernetesJobStore) -> dict[str, str]:
            return {
                o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in store.cache.all()
            }

        def settled() -> bool:
            truth = {
                o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                for o in cluster.list(BKJ, NAMESPACE)
            }
            return all(cached(store) == truth for store in self.stores)

        wait_until(settled, timeout=10, interval=0.01, what="both caches to hold the server's jobs")

    def both(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        self.settle()
        return (
            self.shipped.request(method, path, **kwargs),
            self.routes.request(method, path, **kwargs),
        )

    def served_fast(self, job_id: str) -> bool:
        """Whether the shipped app's polling fast path has rendered this job (so it, not
        the route, answered a read of it)."""
        store = self.apps[0].state.services.store
        stamp = store.stamp(job_id)
        return stamp is not None and fast_path_of(self.apps[0]).bodies.get(stamp) is not None

    def same(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        fast, route = self.both(method, path, **kwargs)
        assert answer(fast) == answer(route), (method, path, kwargs)
        return fast

    def submitted_fast(self) -> int:
        """How many 202s the shipped app's quick submit path has sent."""
        if self.apps[0].middleware_stack is None:
            return 0  # no request yet
        return quick_submit_of(self.apps[0]).answered


def answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (the server's own origin left out of a redirect's) and body."""
    origin = str(response.request.url.copy_with(path="/", query=None))[:-1]
    headers = sorted(
        (k, v.replace(origin, "")) for k, v in response.headers.multi_items() if k not in VARYING
    )
    return response.status_code, headers, response.content


@pytest.fixture(scope="module", params=["embedded", "cluster"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    data_dir = Path(tmp_path_factory.mktemp("fast-paths"))
    with ExitStack() as stack:
        cluster = None
        if request.param == "cluster":
            cluster = stack.enter_context(KubernetesEmulator(bookmark_interval=0.2))
            crd = data_dir / "bookkeepingjobs.yaml"
            crd.write_text(render_crd_yaml())
            cluster.load_crd(crd)
            settings = api_settings(
                data_dir, job_store="kubernetes", kubernetes_namespace=NAMESPACE
            )
            clients = [stack.enter_context(cluster.api_client()) for _ in range(2)]
        else:
            settings = api_settings(data_dir)
            clients = [None, None]
        apps = (
            create_app(settings, run_workers=False, api_client=clients[0]),
            routes_only(create_app(settings, run_workers=False, api_client=clients[1])),
        )
        shipped, routes = (stack.enter_context(serve_app(app)) for app in apps)
        found = Pair(
            stack.enter_context(httpx.Client(base_url=shipped, timeout=30)),
            stack.enter_context(httpx.Client(base_url=routes, timeout=30)),
            apps,
            cluster,
        )
        if cluster is not None:
            found.stores = [app.state.services.store for app in apps]
            wait_until(
                lambda: all(store.unready_reason() is None for store in found.stores),
                timeout=10,
                what="both watch caches to sync",
            )
        yield found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


A, B = bearer(KEY_A), bearer(KEY_B)
OTHER_COMPANY = bearer(make_jwt("t1", ["c2"]))
REFUSED_TOKENS = [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": f"Basic {KEY_A}"},
    {"Authorization": KEY_A},
    bearer("not-a-key"),
    bearer(make_jwt("t1", ["c1"], expires_in=-60)),
    bearer(make_jwt("t1", ["c1"]) + "x"),
]


def submit(pair: Pair, company: str = "c1", **extra: Any) -> str:
    body = {"company_id": company, "tenant_id": "t1", **extra}
    response = pair.shipped.post("/api/jobs/categorize", json=body, headers=A)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def test_status_reads_answer_as_the_route(pair: Pair) -> None:
    job_id = submit(pair)
    submit(pair, "c2")
    first = pair.same("GET", f"/api/jobs/{job_id}", headers=A)
    assert first.status_code == 200
    assert first.json()["id"] == job_id
    assert pair.served_fast(job_id)
    etag = first.headers["etag"]
    for condition in [etag, f"W/{etag}", "*", f'"x", {etag}', '"other"', "garbage", etag[:-1]]:
        pair.same("GET", f"/api/jobs/{job_id}", headers={**A, "If-None-Match": condition})
    repeated = [("Authorization", A["Authorization"])]
    repeated += [("If-None-Match", '"other"'), ("If-None-Match", etag)]
    pair.same("GET", f"/api/jobs/{job_id}", headers=repeated)
    for headers in [B, OTHER_COMPANY, *REFUSED_TOKENS]:
        pair.same("GET", f"/api/jobs/{job_id}", headers=headers)
        pair.same("GET", f"/api/jobs/{job_id}", headers={**headers, "If-None-Match": etag})
    for path in ["/api/jobs/nope", f"/api/jobs/{job_id}?x=1", "/api/jobs/", "/api/jobs/company"]:
        pair.same("GET", path, headers=A)
    pair.same("HEAD", f"/api/jobs/{job_id}", headers=A)


def change(pair: Pair, job_id: str, progress: int = 40) -> None:
    """Change the job as its runner would: the embedded store's cancel of a pending job,
    the operator's status write in a cluster."""
    if pair.cluster is None:
        cancelled = pair.routes.post(f"/api/jobs/{job_id}/cancel", headers=A)
        assert cancelled.status_code == 200
    else:
        status = {"phase": "running", "progress": progress, "message": f"at {progress}"}
        pair.cluster.patch_status(BKJ, NAMESPACE, job_id, status)


def test_a_changed_job_is_never_answered_from_an_older_body(pair: Pair) -> None:
    job_id = submit(pair)
    before = pair.same("GET", f"/api/jobs/{job_id}", headers=A)
    unchanged = {**A, "If-None-Match": before.headers["etag"]}
    assert pair.same("GET", f"/api/jobs/{job_id}", headers=unchanged).status_code == 304
    change(pair, job_id)
    after = pair.same("GET", f"/api/jobs/{job_id}", headers=A)
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["status"] != before.json()["status"]
    assert after.json()["status"] == ("cancelled" if pair.cluster is None else "running")
    stale = pair.same("GET", f"/api/jobs/{job_id}", headers=unchanged)
    assert (stale.status_code, stale.content) == (200, after.content)
    current = {**A, "If-None-Match": after.headers["etag"]}
    assert pair.same("GET", f"/api/jobs/{job_id}", headers=current).status_code == 304
    listed = pair.same("GET", "/api/jobs/company/c1?limit=500", headers=A).json()["jobs"]
    assert next(j for j in listed if j["id"] == job_id) == after.json()


@pytest.mark.parametrize("pair", ["cluster"], indirect=True)  # embedded: only its TTL sweep deletes
def test_a_deleted_job_reads_as_missing(pair: Pair) -> None:
    assert pair.cluster is not None
    gone, kept = submit(pair, "c2"), submit(pair, "c2")
    read = pair.same("GET", f"/api/jobs/{gone}", headers=A)
    page = pair.same("GET", "/api/jobs/company/c2?limit=1", headers=A)
    assert page.json()["jobs"][0]["id"] == kept
    cursor_at_gone = encode(gone)
    assert (
        pair.same("GET", f"/api/jobs/company/c2?cursor={cursor_at_gone}", headers=A).status_code
        == 200
    )
    pair.cluster.delete(BKJ, NAMESPACE, gone)
    for headers in [A, {**A, "If-None-Match": read.headers["etag"]}, {**A, "If-None-Match": "*"}]:
        assert pair.same("GET", f"/api/jobs/{gone}", headers=headers).status_code == 404
    listed = pair.same("GET", "/api/jobs/company/c2?limit=500", headers=A).json()["jobs"]
    assert gone not in [job["id"] for job in listed] and kept in [job["id"] for job in listed]
    after_gone = pair.same("GET", f"/api/jobs/company/c2?cursor={cursor_at_gone}", headers=A)
    assert after_gone.status_code == 400


def encode(job_id: str) -> str:
    """A cursor naming ``job_id`` (as the store makes them), for a job no page ended with."""
    return base64.urlsafe_b64encode(job_id.encode()).decode().rstrip("=")


def test_another_tenants_job_in_a_company_of_the_same_id(pair: Pair) -> None:
    """Tenant t2 also names a company c1: its job is invisible to t1 (404, not listed, its
    cursor refused) and t1's to it, whichever path answers."""
    t2 = bearer(make_jwt("t2", ["c1"]))
    body = {"company_id": "c1", "tenant_id": "t2"}
    theirs = pair.shipped.post("/api/jobs/categorize", json=body, headers=t2).json()["job_id"]
    ours = submit(pair)
    assert pair.same("GET", f"/api/jobs/{theirs}", headers=t2).status_code == 200
    assert pair.served_fast(theirs)
    for job_id, headers in [(theirs, A), (ours, t2)]:
        assert pair.same("GET", f"/api/jobs/{job_id}", headers=headers).status_code == 404
        assert (
            pair.same(
                "GET", f"/api/jobs/{job_id}", headers={**headers, "If-None-Match": "*"}
            ).status_code
            == 404
        )
    ours_listed = pair.same("GET", "/api/jobs/company/c1?limit=500", headers=A).json()["jobs"]
    theirs_listed = pair.same("GET", "/api/jobs/company/c1?limit=500", headers=t2).json()["jobs"]
    assert theirs not in {job["id"] for job in ours_listed}
    assert {job["id"] for job in theirs_listed} == {theirs}
    for cursor, headers in [(encode(theirs), A), (encode(ours), t2)]:
        refused = pair.same("GET", f"/api/jobs/company/c1?cursor={cursor}", headers=headers)
        assert refused.status_code == 400


def test_cursors_page_through_a_listing_as_the_route(pair: Pair) -> None:
    """Every page of a listing, followed by its cursors, and a cursor naming a job of
    another company of the caller's."""
    company = "c-pages"
    token = bearer(make_jwt("t1", [company, "c1"]))
    made = {submit_as(pair, token, company) for _ in range(7)}
    listed: list[str] = []
    for limit in (1, 2, 3, 7, 8):
        listed, query = [], f"?limit={limit}"
        while True:
            page = pair.same("GET", f"/api/jobs/company/{company}{query}", headers=token).json()
            assert page["count"] <= limit
            listed += [job["id"] for job in page["jobs"]]
            if page["next_cursor"] is None:
                break
            query = f"?limit={limit}&cursor={page['next_cursor']}"
        assert len(listed) == len(made) and set(listed) == made
    created = [
        pair.routes.get(f"/api/jobs/{job_id}", headers=token).json()["created_at"]
        for job_id in listed
    ]
    assert created == sorted(created, reverse=True)
    elsewhere = submit_as(pair, token, "c1")
    refused = pair.same(
        "GET", f"/api/jobs/company/{company}?cursor={encode(elsewhere)}", headers=token
    )
    assert refused.status_code == 400


def submit_as(pair: Pair, token: dict[str, str], company: str) -> str:
    body = {"company_id": company, "tenant_id": "t1"}
    response = pair.shipped.post("/api/jobs/categorize", json=body, headers=token)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def test_company_listings_answer_as_the_route(pair: Pair) -> None:
    for _ in range(3):
        submit(pair, "c2")
    page = pair.same("GET", "/api/jobs/company/c2?limit=2", headers=A)
    assert page.status_code == 200 and page.json()["count"] == 2
    cursor = page.json()["next_cursor"]
    assert cursor
    queries = [
        "",
        "?limit=1",
        "?limit=500",
        f"?limit=2&cursor={cursor}",
        f"?cursor={cursor}",
        "?limit=0",
        "?limit=501",
        "?limit=abc",
        "?limit=02",
        "?limit=%2B2",
        "?limit=1&limit=2",
        "?cursor=not-a-cursor",
        "?cursor=" + "x" * 513,
        "?other=1",
    ]
    for query in queries:
        pair.same("GET", f"/api/jobs/company/c2{query}", headers=A)
    for company in ["c9", "c3", "", "c%2F2"]:
        pair.same("GET", f"/api/jobs/company/{company}", headers=A)
    for headers in [B, OTHER_COMPANY, *REFUSED_TOKENS]:
        pair.same("GET", "/api/jobs/company/c2", headers=headers)
        pair.same("GET", "/api/jobs/company/c1", headers=headers)


def json_headers(token: dict[str, str], **extra: str) -> dict[str, str]:
    return {**token, "Content-Type": "application/json", **extra}


def same_submission(
    pair: Pair, body: bytes, headers: dict[str, str], path: str, *, fast: bool | None = None
) -> httpx.Response:
    """Sent to both: their job ids differ unless a key replays one; compared without them.
    ``fast``: whether the quick submit path must have answered (None: not checked)."""
    before = pair.submitted_fast()
    shipped, route = pair.both("POST", path, content=body, headers=headers)
    fast_answer, route_answer = answer(shipped), answer(route)
    if shipped.status_code == 202:
        fast_answer = without_job_id(fast_answer, shipped.json()["job_id"])
        route_answer = without_job_id(route_answer, route.json()["job_id"])
    assert fast_answer == route_answer, (path, body, headers)
    if fast is not None:
        assert pair.submitted_fast() == before + fast, (path, body, headers)
    return shipped


def without_job_id(
    found: tuple[int, list[tuple[str, str]], bytes], job_id: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    status, headers, body = found
    headers = [(k, v.replace(job_id, "<id>")) for k, v in headers]
    return status, headers, body.replace(job_id.encode(), b"<id>")


def test_submissions_answer_as_the_route(pair: Pair) -> None:
    ok = json.dumps({"company_id": "c1", "tenant_id": "t1"}).encode()
    path = "/api/jobs/categorize"
    bodies = [
        ok,
        json.dumps({"company_id": "c1", "tenant_id": "t1", "limit": 5}).encode(),
        json.dumps({"company_id": "c9", "tenant_id": "t1"}).encode(),
        json.dumps({"company_id": "c1", "tenant_id": "t2"}).encode(),
        json.dumps({"company_id": "c1", "tenant_id": "t1", "limit": "5"}).encode(),
        json.dumps({"company_id": "c1", "tenant_id": "t1", "extra": 1}).encode(),
        json.dumps({"company_id": "c1", "tenant_id": "t1", "type": "bulk-approve"}).encode(),
        json.dumps({"company_id": "c1"}).encode(),
        json.dumps([1, 2]).encode(),
        b"{not json",
        b"",
        b"null",
    ]
    for body in bodies:
        accepted = same_submission(pair, body, json_headers(A), path)
        assert (accepted.status_code == 202) == (body in bodies[:2]), body
        # a 202 from the quick path, whichever store; every refusal from the route
        same_submission(pair, body, json_headers(A), path, fast=accepted.status_code == 202)
        for headers in [B, OTHER_COMPANY, *REFUSED_TOKENS]:
            same_submission(pair, body, json_headers(headers), path, fast=False)
    for headers in [
        {**A, "Content-Type": "text/plain"},
        {**A, "Content-Type": "application/json; charset=utf-8"},
        A,
        json_headers(A, **{"Idempotency-Key": ""}),
        json_headers(A, **{"Idempotency-Key": "k" * 256}),
    ]:
        same_submission(pair, ok, headers, path)
    for other in ["/api/jobs/categorize?x=1", "/api/jobs/nope", "/api/jobs/upload-and-categorize"]:
        same_submission(pair, ok, json_headers(A), other)


def test_idempotent_replays_and_conflicts_answer_as_the_route(pair: Pair) -> None:
    key = {"Idempotency-Key": "fast-path-key"}
    body = json.dumps({"company_id": "c1", "tenant_id": "t1"}).encode()
    before = pair.submitted_fast()
    first = pair.shipped.post("/api/jobs/categorize", content=body, headers=json_headers(A, **key))
    assert first.status_code == 202
    assert pair.submitted_fast() == before + 1  # the quick path created it
    # Both replay the same job now (they share the store), then both refuse another body.
    replay = pair.same("POST", "/api/jobs/categorize", content=body, headers=json_headers(A, **key))
    assert replay.json()["job_id"] == first.json()["job_id"]
    assert replay.headers["location"] == first.headers["location"]
    assert pair.submitted_fast() == before + 2  # the replay too
    other = json.dumps({"company_id": "c2", "tenant_id": "t1"}).encode()
    conflict = pair.same(
        "POST", "/api/jobs/categorize", content=other, headers=json_headers(A, **key)
    )
    assert conflict.status_code == 409
    assert pair.submitted_fast() == before + 2  # the conflict is the route's
    # Another tenant's use of the same key is its own.
    b_body = json.dumps({"company_id": "c9", "tenant_id": "t2"}).encode()
    b_first = pair.shipped.post(
        "/api/jobs/categorize", content=b_body, headers=json_headers(B, **key)
    )
    assert b_first.status_code == 202
    assert b_first.json()["job_id"] != first.json()["job_id"]


CEL_REFUSAL = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "reason": "Invalid",
    "code": 422,
    "message": 'BookkeepingJob.bookkeeping.example.com "x" is invalid: spec: Invalid value: '
    '"object": a refusal of a CEL rule',
}
INTERNAL = {**CEL_REFUSAL, "reason": "InternalError", "code": 500, "message": "etcd timeout"}


def api_server_answer(status: int, body: dict[str, Any]) -> Exception:
    failure = ApiException(status=status, reason=body["reason"])
    failure.body = json.dumps(body)
    return failure


@pytest.mark.parametrize("pair", ["cluster"], indirect=True)  # the API server's refusals
@pytest.mark.parametrize(
    "refusal",
    [
        api_server_answer(422, CEL_REFUSAL),
        api_server_answer(500, INTERNAL),
        api_server_answer(403, {**CEL_REFUSAL, "reason": "Forbidden", "code": 403}),
        urllib3.exceptions.MaxRetryError(None, "/apis", "connection refused"),  # type: ignore[arg-type]
    ],
    ids=["cel-422", "500", "403", "unreachable"],
)
def test_api_server_refusals_are_the_routes(
    pair: Pair, refusal: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create the API server refuses (or never answers) is not the quick path's: it falls
    through, and the route, trying the create once more, answers as it would alone."""
    tried: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        tried.append(threading.current_thread().name)
        raise refusal

    for store in pair.stores:
        for api in (store._api, store.creating_api()):
            monkeypatch.setattr(api, "create_namespaced_custom_object", refuse)
    body = json.dumps({"company_id": "c1", "tenant_id": "t1"}).encode()
    # uvicorn closes the connection after the 500 of an unhandled error: one per request
    once = {"Connection": "close"}
    for extra in [once, {**once, "Idempotency-Key": f"refused-{id(refusal)}"}]:
        tried.clear()
        refused = same_submission(
            pair, body, json_headers(A, **extra), "/api/jobs/categorize", fast=False
        )
        assert refused.status_code >= 400
        # the shipped app tried in its create pool, then its route; the other its route
        assert len(tried) == 3 and tried[0].startswith("bkjobs-create"), tried
    monkeypatch.undo()
    same_submission(pair, body, json_headers(A), "/api/jobs/categorize", fast=True)


def test_responses_are_counted_on_both_paths(pair: Pair) -> None:
    job_id = submit(pair)
    pair.shipped.get(f"/api/jobs/{job_id}", headers=A)
    pair.shipped.get(f"/api/jobs/{job_id}", headers=B)
    metrics = pair.shipped.get("/metrics").text
    counted = dict(re.findall(r"bkjobs_http_responses_total\{(.*?)\} (\S+)", metrics))
    assert float(counted['method="GET",status="200"']) >= 1
    assert float(counted['method="GET",status="404"']) >= 1
    assert float(counted['method="POST",status="202"']) >= 1
