"""Bad requests: each is refused with a 4xx that names the field, and leaves no job, no
stored upload and no ledger change behind. A statement with some bad rows is accepted; the
job imports the good rows and reports the others."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bookkeeper_jobs.ledger import NewTransaction
from tests.support.jobs_http import follow_job
from tests.support.uploads import UPLOAD_PATH, upload_statement

from .conftest import Company
from .harness import LiveServer

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 8
RANDOM_WITH_NULS = os.urandom(2048) + b"\x00" * 512 + os.urandom(2048)
NO_HEADER = b"hello,world,again\n1,2,3\nfoo,bar,baz\n"
UNTYPED = "application/octet-stream"
"""The declared type of the files uploaded here: it says nothing, the server judges the bytes."""


@pytest.fixture
def nothing_changes(live_server: LiveServer, company: Company) -> Iterator[Company]:
    """The company with two transactions; after the test, the same two, no job, no file."""
    rows = [
        NewTransaction(datetime.date(2024, 1, 2), "SEED ROW A", Decimal("1.00")),
        NewTransaction(datetime.date(2024, 1, 3), "SEED ROW B", Decimal("2.00")),
    ]
    with live_server.ledger() as ledger:
        ledger.ensure_company(company.id, company.tenant_id)
        ledger.add_transactions(company.id, rows)
    artifacts = live_server.artifact_files()
    yield company
    with live_server.ledger() as ledger:
        assert ledger.count_transactions(company.id) == 2
        assert ledger.count_transactions(company.id, uncategorized=True) == 2
    listing = company.http.get(f"/api/jobs/company/{company.id}").json()
    assert listing["count"] == 0, listing
    assert live_server.artifact_files() == artifacts


def error_locations(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/jobs/categorize", {"tenant_id": "t1"}, "company_id"),
        ("/api/jobs/bulk-approve", {"tenant_id": "t1", "transaction_ids": ["x"]}, "company_id"),
        ("/api/jobs/categorize", {"limit": "abc"}, "limit"),
        ("/api/jobs/categorize", {"limit": 0}, "limit"),
        ("/api/jobs/categorize", {"transaction_ids": "tx-1"}, "transaction_ids"),
        ("/api/jobs/bulk-approve", {"transaction_ids": {"id": "x"}}, "transaction_ids"),
        ("/api/jobs/bulk-approve", {"transaction_ids": []}, "transaction_ids"),
        ("/api/jobs/bulk-approve", {}, "transaction_ids"),
        ("/api/jobs/categorize", {"limit": 5, "priority": "high"}, "priority"),
        ("/api/jobs/categorize", {"tenant_id": ["t1"]}, "tenant_id"),
        ("/api/jobs/categorize", {"limit": True}, "limit"),
        ("/api/jobs/categorize", {"limit": "5"}, "limit"),
        ("/api/jobs/categorize", {"transaction_ids": "a"}, "transaction_ids"),
        ("/api/jobs/bulk-approve", {"transaction_ids": [1, 2]}, "transaction_ids"),
    ],
    ids=[
        "categorize-no-company",
        "approve-no-company",
        "limit-not-a-number",
        "limit-zero",
        "ids-a-string",
        "ids-an-object",
        "ids-empty",
        "ids-missing",
        "unknown-field",
        "tenant-a-list",
        "limit-a-boolean",
        "limit-a-numeric-string",
        "ids-one-letter-string",
        "ids-numbers",
    ],
)
def test_a_bad_json_field_is_a_422_naming_it(
    nothing_changes: Company, path: str, body: dict[str, Any], field: str
) -> None:
    company = nothing_changes
    full = {"company_id": company.id, "tenant_id": "t1", **body}
    if field == "company_id":
        del full["company_id"]

    locations = error_locations(company.http.post(path, json=full))

    assert any(field in loc for loc in locations), locations


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/jobs/categorize", {"limit": 5}),
        ("/api/jobs/categorize", {"transaction_ids": ["tx-1", "tx-2"]}),
        ("/api/jobs/categorize", {}),
        ("/api/jobs/bulk-approve", {"transaction_ids": ["tx-1"]}),
    ],
    ids=["categorize-limit", "categorize-ids", "categorize-defaults", "approve-ids"],
)
def test_a_body_of_the_right_json_types_is_accepted(
    company: Company, path: str, body: dict[str, Any]
) -> None:
    response = company.http.post(path, json={"company_id": company.id, "tenant_id": "t1", **body})

    assert response.status_code == 202, response.text
    # A new company has no ledger data yet: the job completes with nothing to do.
    assert follow_job(company.http, response.json()["job_id"]).view["status"] == "complete"


def test_a_body_that_is_not_json_is_a_422(nothing_changes: Company) -> None:
    response = nothing_changes.http.post(
        "/api/jobs/categorize",
        content=b"company_id=c1",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422


def test_an_upload_without_company_id_is_a_422_naming_it(nothing_changes: Company) -> None:
    response = nothing_changes.http.post(
        UPLOAD_PATH,
        data={"tenant_id": "t1"},
        files={"file": ("statement.csv", b"Date,Description,Amount\n", "text/csv")},
    )

    assert ["body", "company_id"] in error_locations(response)


def test_an_upload_without_a_file_is_a_422_naming_it(nothing_changes: Company) -> None:
    response = nothing_changes.http.post(
        UPLOAD_PATH,
        data={"company_id": nothing_changes.id, "tenant_id": "t1"},
    )

    assert ["body", "file"] in error_locations(response)


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"", "statement.csv"),
        (PNG, "statement.png"),
        (PNG, "statement.csv"),
        (RANDOM_WITH_NULS, "statement.csv"),
        (b"%PDF-1.7\n" + os.urandom(512), "statement.pdf"),
        (NO_HEADER, "statement.csv"),
        (b"\n\n\n", "statement.csv"),
    ],
    ids=["empty", "png", "png-named-csv", "random-bytes", "pdf", "no-header", "blank-lines"],
)
def test_a_file_that_is_not_a_statement_is_a_422(
    nothing_changes: Company, content: bytes, filename: str
) -> None:
    company = nothing_changes
    response = upload_statement(
        company.http, company.id, content, filename=filename, content_type=UNTYPED
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("file: ")


def test_some_bad_rows_are_reported_and_the_good_ones_imported(
    live_server: LiveServer, company: Company
) -> None:
    statement = (
        b"Date,Description,Amount\n"
        b"01/02/2024,GOOD ROW ONE,-10.00\n"
        b"13/45/2024,BAD DATE,-11.00\n"
        b"01/03/2024,GOOD ROW TWO,-12.00\n"
        b"01/04/2024,BAD AMOUNT,12.3.4\n"
        b"01/05/2024,,-13.00\n"
        b"01/06/2024,GOOD ROW THREE,14.00\n"
    )

    response = upload_statement(company.http, company.id, statement, content_type=UNTYPED)
    assert response.status_code == 202, response.text
    view = follow_job(company.http, response.json()["job_id"]).view

    assert view["status"] == "complete", view
    result = view["result"]
    assert result["rows"] == 3
    assert result["imported"] == 3
    assert result["row_errors"] == 3
    assert [error["line"] for error in result["errors"]] == [3, 5, 6]
    with live_server.ledger() as ledger:
        imported = ledger.list_transactions(company.id)
    assert sorted(t.description for t in imported) == [
        "GOOD ROW ONE",
        "GOOD ROW THREE",
        "GOOD ROW TWO",
    ]


def test_a_statement_of_only_bad_rows_fails_the_job_and_imports_nothing(
    live_server: LiveServer, company: Company
) -> None:
    statement = b"Date,Description,Amount\n13/45/2024,BAD DATE,-11.00\n01/04/2024,X,N/A\n"

    response = upload_statement(company.http, company.id, statement, content_type=UNTYPED)
    assert response.status_code == 202, response.text
    view = follow_job(company.http, response.json()["job_id"]).view

    assert view["status"] == "failed"
    assert "no usable rows" in view["error"]
    with live_server.ledger() as ledger:
        assert ledger.count_transactions(company.id) == 0
