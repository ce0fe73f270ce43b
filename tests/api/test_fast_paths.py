"""The fast paths for status polls, listings and JSON submissions (``api/polling.py``,
``api/quick_submit.py``) answer exactly as the routes do: each request is sent to the app as
shipped and to the same app over the same job store with the fast paths taken out, and the
status, headers and body must be the same, refusals included."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bookkeeper_jobs.api.app import create_app
from bookkeeper_jobs.api.polling import PollingFastPath
from bookkeeper_jobs.api.quick_submit import QuickSubmit

from .harness import KEY_A, KEY_B, api_settings, make_jwt, serve_app

FAST_PATHS = (PollingFastPath, QuickSubmit)
VARYING = {"date", "server"}


def routes_only(app: FastAPI) -> FastAPI:
    """The app without its fast paths (the middleware stack is built on the first request)."""
    app.user_middleware = [m for m in app.user_middleware if m.cls not in FAST_PATHS]
    return app


@dataclass
class Pair:
    shipped: httpx.Client
    routes: httpx.Client

    def both(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        return (
            self.shipped.request(method, path, **kwargs),
            self.routes.request(method, path, **kwargs),
        )

    def same(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        fast, route = self.both(method, path, **kwargs)
        assert answer(fast) == answer(route), (method, path, kwargs)
        return fast


def answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (the server's own origin left out of a redirect's) and body."""
    origin = str(response.request.url.copy_with(path="/", query=None))[:-1]
    headers = sorted(
        (k, v.replace(origin, "")) for k, v in response.headers.multi_items() if k not in VARYING
    )
    return response.status_code, headers, response.content


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    settings = api_settings(Path(tmp_path_factory.mktemp("fast-paths")))
    with ExitStack() as stack:
        shipped = stack.enter_context(serve_app(create_app(settings, run_workers=False)))
        routes = stack.enter_context(
            serve_app(routes_only(create_app(settings, run_workers=False)))
        )
        yield Pair(
            stack.enter_context(httpx.Client(base_url=shipped, timeout=30)),
            stack.enter_context(httpx.Client(base_url=routes, timeout=30)),
        )


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


def test_a_changed_job_is_never_answered_from_an_older_body(pair: Pair) -> None:
    job_id = submit(pair)
    before = pair.same("GET", f"/api/jobs/{job_id}", headers=A)
    cancelled = pair.routes.post(f"/api/jobs/{job_id}/cancel", headers=A)
    assert cancelled.status_code == 200
    after = pair.same("GET", f"/api/jobs/{job_id}", headers=A)
    assert after.json()["status"] == "cancelled" != before.json()["status"]
    stale = {**A, "If-None-Match": before.headers["etag"]}
    assert pair.same("GET", f"/api/jobs/{job_id}", headers=stale).status_code == 200


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


def same_submission(pair: Pair, body: bytes, headers: dict[str, str], path: str) -> None:
    """Sent to both: their job ids differ unless a key replays one; compared without them."""
    fast, route = pair.both("POST", path, content=body, headers=headers)
    fast_answer, route_answer = answer(fast), answer(route)
    if fast.status_code == 202:
        fast_answer = without_job_id(fast_answer, fast.json()["job_id"])
        route_answer = without_job_id(route_answer, route.json()["job_id"])
    assert fast_answer == route_answer, (path, body, headers)


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
        same_submission(pair, body, json_headers(A), path)
        for headers in [B, OTHER_COMPANY, *REFUSED_TOKENS]:
            same_submission(pair, body, json_headers(headers), path)
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
    first = pair.shipped.post("/api/jobs/categorize", content=body, headers=json_headers(A, **key))
    assert first.status_code == 202
    # Both replay the same job now (they share the store), then both refuse another body.
    replay = pair.same("POST", "/api/jobs/categorize", content=body, headers=json_headers(A, **key))
    assert replay.json()["job_id"] == first.json()["job_id"]
    other = json.dumps({"company_id": "c2", "tenant_id": "t1"}).encode()
    conflict = pair.same(
        "POST", "/api/jobs/categorize", content=other, headers=json_headers(A, **key)
    )
    assert conflict.status_code == 409
    # Another tenant's use of the same key is its own.
    b_body = json.dumps({"company_id": "c9", "tenant_id": "t2"}).encode()
    b_first = pair.shipped.post(
        "/api/jobs/categorize", content=b_body, headers=json_headers(B, **key)
    )
    assert b_first.status_code == 202
    assert b_first.json()["job_id"] != first.json()["job_id"]


def test_responses_are_counted_on_both_paths(pair: Pair) -> None:
    job_id = submit(pair)
    pair.shipped.get(f"/api/jobs/{job_id}", headers=A)
    pair.shipped.get(f"/api/jobs/{job_id}", headers=B)
    metrics = pair.shipped.get("/metrics").text
    counted = dict(re.findall(r"bkjobs_http_responses_total\{(.*?)\} (\S+)", metrics))
    assert float(counted['method="GET",status="200"']) >= 1
    assert float(counted['method="GET",status="404"']) >= 1
    assert float(counted['method="POST",status="202"']) >= 1
