"""The seed guide's read contract: the job JSON, its timestamps, and a company's job list
with cursor paging."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.jobs_http import follow_job

from .conftest import Company

SEED_FIELDS = {
    "id",
    "status",
    "progress",
    "message",
    "result",
    "error",
    "created_at",
    "started_at",
    "finished_at",
}
UTC_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def start_categorize(http: httpx.Client, company_id: str, limit: int = 10) -> str:
    response = http.post(
        "/api/jobs/categorize", json={"company_id": company_id, "tenant_id": "t1", "limit": limit}
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def test_a_job_has_the_seed_fields_and_utc_timestamps(company: Company) -> None:
    before = datetime.now(UTC)
    job_id = start_categorize(company.http, company.id)

    view = follow_job(company.http, job_id).view

    assert view.keys() >= SEED_FIELDS
    assert view["id"] == job_id
    for field in ("created_at", "started_at", "finished_at"):
        assert UTC_TIMESTAMP.fullmatch(view[field]), (field, view[field])
    created = datetime.fromisoformat(view["created_at"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC)
    assert view["created_at"] <= view["started_at"] <= view["finished_at"]


def test_the_company_listing_is_newest_first(company: Company) -> None:
    started = [start_categorize(company.http, company.id) for _ in range(3)]

    response = company.http.get(f"/api/jobs/company/{company.id}", params={"limit": 50})

    assert response.status_code == 200
    body = response.json()
    assert {"company_id", "jobs", "count"} <= body.keys()
    assert body["company_id"] == company.id
    assert body["count"] == 3
    assert [job["id"] for job in body["jobs"]] == started[::-1]
    assert all(job.keys() >= SEED_FIELDS for job in body["jobs"])
    assert body["next_cursor"] is None


def test_the_company_listing_pages_with_next_cursor(company: Company) -> None:
    started = [start_categorize(company.http, company.id) for _ in range(5)]
    url = f"/api/jobs/company/{company.id}"

    seen: list[str] = []
    pages = 0
    params: dict[str, str | int] = {"limit": 2}
    while True:
        body = company.http.get(url, params=params).json()
        pages += 1
        assert body["count"] == len(body["jobs"]) <= 2
        seen += [job["id"] for job in body["jobs"]]
        if body["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": body["next_cursor"]}

    assert pages == 3
    assert seen == started[::-1]


def test_a_cursor_the_server_did_not_make_is_a_400(company: Company) -> None:
    response = company.http.get(
        f"/api/jobs/company/{company.id}", params={"cursor": "not-a-cursor"}
    )

    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]
