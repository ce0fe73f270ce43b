"""Who may do what: bearer API keys and JWTs, grants by tenant and company, and other
tenants' jobs answered exactly like jobs that do not exist."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from .conftest import Company
from .harness import KEY_A, KEY_B, LiveServer, make_jwt

CATEGORIZE = "/api/jobs/categorize"


def forged_grant() -> str:
    """A genuine token for c1 whose payload was swapped for one granting c9."""
    header, _, signature = make_jwt("t1", ["c1"]).split(".")
    _, payload, _ = jwt.encode({"tenant_id": "t1", "company_ids": ["c9"]}, "k" * 32).split(".")
    return f"{header}.{payload}.{signature}"


def categorize_body(company_id: str, tenant_id: str = "t1") -> dict[str, object]:
    return {"company_id": company_id, "tenant_id": tenant_id, "limit": 5}


@pytest.fixture
def anonymous(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.client(token=None) as http:
        yield http


def test_no_token_is_a_401_with_a_bearer_challenge(anonymous: httpx.Client) -> None:
    post = anonymous.post(CATEGORIZE, json=categorize_body("c1"))
    listing = anonymous.get("/api/jobs/company/c1")

    for response in (post, listing):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "Authorization" in response.json()["detail"]


@pytest.mark.parametrize(
    "token",
    [
        "not-a-key",
        KEY_A + "x",
        "a.b.c",
        jwt.encode({"tenant_id": "t1", "company_ids": ["c1"]}, "another-secret-" * 3),
        forged_grant(),
    ],
    ids=["unknown-key", "key-with-suffix", "garbage-jwt", "wrong-secret", "forged-claims"],
)
def test_a_bad_token_is_a_401(live_server: LiveServer, token: str) -> None:
    with live_server.client(token) as http:
        response = http.get("/api/jobs/company/c1")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_jwt_with_tenant_and_company_claims_is_accepted(live_server: LiveServer) -> None:
    with live_server.client(make_jwt("t1", ["c1"])) as http:
        started = http.post(CATEGORIZE, json=categorize_body("c1"))
        listing = http.get("/api/jobs/company/c1")

    assert started.status_code == 202
    assert listing.status_code == 200
    assert started.json()["job_id"] in {job["id"] for job in listing.json()["jobs"]}


def test_an_expired_jwt_is_a_401(live_server: LiveServer) -> None:
    with live_server.client(make_jwt("t1", ["c1"], expires_in=-60)) as http:
        response = http.get("/api/jobs/company/c1")

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_company_outside_the_grant_is_a_403(client: httpx.Client) -> None:
    started = client.post(CATEGORIZE, json=categorize_body("c9"))
    listing = client.get("/api/jobs/company/c9")

    for response in (started, listing):
        assert response.status_code == 403
        assert "c9" in response.json()["detail"]


def test_another_tenant_id_is_a_403(client: httpx.Client) -> None:
    response = client.post(CATEGORIZE, json=categorize_body("c1", tenant_id="t2"))

    assert response.status_code == 403
    assert "tenant_id" in response.json()["detail"]


def test_another_tenants_job_looks_like_a_missing_one(
    live_server: LiveServer, company: Company
) -> None:
    started = company.http.post(CATEGORIZE, json=categorize_body(company.id))
    job_id = started.json()["job_id"]

    with live_server.client(KEY_B) as other_tenant:
        theirs = other_tenant.get(f"/api/jobs/{job_id}")
        missing = other_tenant.get("/api/jobs/job-00000000000000000000")
        events = other_tenant.get(f"/api/jobs/{job_id}/events")

    assert theirs.status_code == missing.status_code == events.status_code == 404
    assert theirs.json().keys() == missing.json().keys() == {"detail"}
    assert theirs.json()["detail"] == f"job {job_id!r} not found"
    assert company.http.get(f"/api/jobs/{job_id}").status_code == 200


def test_another_companys_job_of_the_same_tenant_is_hidden(
    live_server: LiveServer, company: Company
) -> None:
    job_id = company.http.post(CATEGORIZE, json=categorize_body(company.id)).json()["job_id"]

    with live_server.client(KEY_A) as same_tenant_other_grant:
        response = same_tenant_other_grant.get(f"/api/jobs/{job_id}")

    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_probes_need_no_token(anonymous: httpx.Client, path: str) -> None:
    response = anonymous.get(path)

    assert response.status_code == 200
    assert response.json()["status"] in {"ok", "ready"}
