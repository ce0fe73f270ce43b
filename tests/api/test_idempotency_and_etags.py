"""Retry-safe submissions (``Idempotency-Key``) and cheap polling (``ETag`` and
``If-None-Match``)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.jobs_http import follow_job
from tests.support.uploads import upload_statement

from .conftest import Company
from .harness import KEY_B, LiveServer


def categorize(company: Company, key: str, limit: int = 10) -> httpx.Response:
    return company.http.post(
        "/api/jobs/categorize",
        json={"company_id": company.id, "tenant_id": "t1", "limit": limit},
        headers={"Idempotency-Key": key},
    )


def job_ids(company: Company) -> list[str]:
    listing = company.http.get(f"/api/jobs/company/{company.id}").json()
    return [job["id"] for job in listing["jobs"]]


def test_the_same_key_and_body_return_the_same_job(company: Company) -> None:
    key = str(uuid.uuid4())

    first = categorize(company, key)
    retry = categorize(company, key)

    assert first.status_code == retry.status_code == 202
    assert retry.json()["job_id"] == first.json()["job_id"]
    assert retry.headers["Location"] == first.headers["Location"]
    assert job_ids(company) == [first.json()["job_id"]]


def test_the_same_key_with_another_body_is_a_409(company: Company) -> None:
    key = str(uuid.uuid4())
    first = categorize(company, key, limit=10)

    conflict = categorize(company, key, limit=11)

    assert conflict.status_code == 409
    assert key in conflict.json()["detail"]
    assert job_ids(company) == [first.json()["job_id"]]


def test_a_key_belongs_to_one_tenant(live_server: LiveServer, company: Company) -> None:
    key = str(uuid.uuid4())
    mine = categorize(company, key)

    with live_server.client(KEY_B) as other_tenant:
        theirs = other_tenant.post(
            "/api/jobs/categorize",
            json={"company_id": "c9", "tenant_id": "t2", "limit": 10},
            headers={"Idempotency-Key": key},
        )

    assert theirs.status_code == 202
    assert theirs.json()["job_id"] != mine.json()["job_id"]


def test_the_same_key_and_file_return_the_same_upload_job(
    live_server: LiveServer, company: Company, sample_statement: bytes
) -> None:
    idempotency = {"Idempotency-Key": str(uuid.uuid4())}
    changed = sample_statement.replace(b"STARBUCKS", b"STARBUCKZ")
    stored_before = len(live_server.artifact_files())

    first = upload_statement(company.http, company.id, sample_statement, headers=idempotency)
    retry = upload_statement(company.http, company.id, sample_statement, headers=idempotency)
    conflict = upload_statement(company.http, company.id, changed, headers=idempotency)

    assert first.status_code == retry.status_code == 202
    assert retry.json()["job_id"] == first.json()["job_id"]
    assert conflict.status_code == 409
    assert job_ids(company) == [first.json()["job_id"]]
    assert len(live_server.artifact_files()) == stored_before + 1
    follow_job(company.http, first.json()["job_id"])


def test_get_job_answers_304_while_nothing_changed(company: Company) -> None:
    job_id = categorize(company, str(uuid.uuid4())).json()["job_id"]
    done = follow_job(company.http, job_id).view

    response = company.http.get(f"/api/jobs/{job_id}")
    etag = response.headers["ETag"]
    unchanged = company.http.get(f"/api/jobs/{job_id}", headers={"If-None-Match": etag})

    assert response.json() == done
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag
    other = company.http.get(f"/api/jobs/{job_id}", headers={"If-None-Match": '"job-x.1"'})
    assert other.status_code == 200


def test_get_job_answers_200_with_a_new_etag_after_a_change(
    company: Company, sample_statement: bytes
) -> None:
    idempotency = {"Idempotency-Key": str(uuid.uuid4())}
    uploaded = upload_statement(company.http, company.id, sample_statement, headers=idempotency)
    job_id = uploaded.json()["job_id"]
    early = company.http.get(f"/api/jobs/{job_id}")
    assert early.json()["status"] in {"pending", "running"}

    follow_job(company.http, job_id)
    later = company.http.get(
        f"/api/jobs/{job_id}", headers={"If-None-Match": early.headers["ETag"]}
    )

    assert later.status_code == 200
    assert later.headers["ETag"] != early.headers["ETag"]
    assert later.json()["status"] == "complete"


def finished_job(company: Company) -> tuple[str, str]:
    """A job that no longer changes, and its current ETag."""
    job_id = categorize(company, str(uuid.uuid4())).json()["job_id"]
    follow_job(company.http, job_id)
    return job_id, company.http.get(f"/api/jobs/{job_id}").headers["ETag"]


@pytest.mark.parametrize(
    "if_none_match",
    [
        "W/{etag}",
        "*",
        '"job-x.1", W/{etag}',
        '"job-x.1",{etag}',
    ],
    ids=["weak-tag", "star", "weak-tag-in-a-list", "tag-in-a-list-without-space"],
)
def test_if_none_match_uses_the_weak_comparison(company: Company, if_none_match: str) -> None:
    job_id, etag = finished_job(company)

    response = company.http.get(
        f"/api/jobs/{job_id}", headers={"If-None-Match": if_none_match.format(etag=etag)}
    )

    assert response.status_code == 304, response.text
    assert response.content == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "if_none_match",
    ['W/"job-x.1"', '"{etag_without_version}"', "W/{etag}x"],
    ids=["another-weak-tag", "another-version", "a-longer-tag"],
)
def test_if_none_match_with_other_tags_answers_200(company: Company, if_none_match: str) -> None:
    job_id, etag = finished_job(company)
    header = if_none_match.format(etag=etag, etag_without_version=job_id)

    response = company.http.get(f"/api/jobs/{job_id}", headers={"If-None-Match": header})

    assert response.status_code == 200
    assert response.json()["id"] == job_id


def test_if_none_match_star_on_a_missing_job_is_a_404(company: Company) -> None:
    response = company.http.get(
        "/api/jobs/job-00000000000000000000", headers={"If-None-Match": "*"}
    )

    assert response.status_code == 404
