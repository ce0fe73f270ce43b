"""Each job type end to end over HTTP: start it, follow it to ``complete``, and find the
work done in the ledger the workers share with the API."""

from __future__ import annotations

import datetime
from decimal import Decimal

from bookkeeper_jobs.ledger import NewTransaction
from tests.support.jobs_http import accepted_job_id, follow_job, wait_for_job_status
from tests.support.uploads import upload_statement

from .conftest import SAMPLE_ROWS, Company
from .harness import LiveServer

RENT_ACCOUNT = "6120"
COFFEE_ACCOUNT = "6080"


def add_rows(live_server: LiveServer, company: Company, descriptions: list[str]) -> list[str]:
    """Create the company with one transaction per description; returns their ids in the
    order of ``descriptions``."""
    rows = [
        NewTransaction(
            date=datetime.date(2024, 1, day + 1), description=text, amount=Decimal("-12.50")
        )
        for day, text in enumerate(descriptions)
    ]
    with live_server.ledger() as ledger:
        ledger.ensure_company(company.id, company.tenant_id)
        ledger.add_transactions(company.id, rows)
        by_description = {t.description: t.id for t in ledger.list_transactions(company.id)}
    return [by_description[text] for text in descriptions]


def test_upload_imports_and_categorizes_the_sample(
    live_server: LiveServer, company: Company, sample_statement: bytes
) -> None:
    with live_server.ledger() as ledger:
        ledger.ensure_company(company.id, company.tenant_id)
        ledger.add_rule(company.id, kind="contains", pattern="RENT", account_code=RENT_ACCOUNT)

    job_id = accepted_job_id(upload_statement(company.http, company.id, sample_statement))
    followed = follow_job(company.http, job_id)

    assert followed.view["status"] == "complete", followed.view
    assert followed.progress == sorted(followed.progress), "progress went backwards"
    assert followed.progress[-1] == 100
    result = followed.view["result"]
    assert result["rows"] == SAMPLE_ROWS
    assert result["imported"] == SAMPLE_ROWS
    assert result["duplicates"] == 0
    assert result["row_errors"] == 0
    assert result["categorization"]["categorized"] == SAMPLE_ROWS
    with live_server.ledger() as ledger:
        assert ledger.count_transactions(company.id) == SAMPLE_ROWS
        assert ledger.count_transactions(company.id, uncategorized=True) == 0
        rows = ledger.list_transactions(company.id, limit=1000)
    rent = [t for t in rows if "RENT" in t.description]
    assert len(rent) == 3
    assert all(t.category == RENT_ACCOUNT and t.category_source == "rule" for t in rent)


def test_uploading_the_same_statement_again_imports_nothing_new(
    live_server: LiveServer, company: Company, sample_statement: bytes
) -> None:
    first_id = accepted_job_id(upload_statement(company.http, company.id, sample_statement))
    first = follow_job(company.http, first_id)
    again_id = accepted_job_id(upload_statement(company.http, company.id, sample_statement))
    again = follow_job(company.http, again_id)

    assert first.view["result"]["imported"] == SAMPLE_ROWS
    assert again.view["status"] == "complete"
    assert again.view["result"]["imported"] == 0
    assert again.view["result"]["duplicates"] == SAMPLE_ROWS
    with live_server.ledger() as ledger:
        assert ledger.count_transactions(company.id) == SAMPLE_ROWS


def test_categorize_given_transaction_ids_touches_only_those(
    live_server: LiveServer, company: Company
) -> None:
    ids = add_rows(live_server, company, ["STARBUCKS 1", "STARBUCKS 2", "STARBUCKS 3", "SHELL"])
    with live_server.ledger() as ledger:
        ledger.add_rule(
            company.id, kind="contains", pattern="STARBUCKS", account_code=COFFEE_ACCOUNT
        )
    chosen = ids[:2]

    response = company.http.post(
        "/api/jobs/categorize",
        json={
            "company_id": company.id,
            "tenant_id": "t1",
            "transaction_ids": [*chosen, "no-such-transaction"],
        },
    )
    followed = follow_job(company.http, accepted_job_id(response))

    assert followed.view["status"] == "complete", followed.view
    assert followed.view["result"]["categorized"] == 2
    assert followed.view["result"]["by_source"]["rule"] == 2
    assert followed.view["result"]["unknown_ids"] == ["no-such-transaction"]
    with live_server.ledger() as ledger:
        rows = {t.id: t for t in ledger.list_transactions(company.id)}
    assert [rows[i].category for i in chosen] == [COFFEE_ACCOUNT, COFFEE_ACCOUNT]
    assert [rows[i].category for i in ids[2:]] == [None, None]


def test_categorize_with_a_limit_stops_at_the_limit(
    live_server: LiveServer, company: Company
) -> None:
    add_rows(live_server, company, [f"OFFICE DEPOT #{n}" for n in range(5)])

    response = company.http.post(
        "/api/jobs/categorize", json={"company_id": company.id, "tenant_id": "t1", "limit": 3}
    )
    followed = follow_job(company.http, accepted_job_id(response))

    assert followed.view["status"] == "complete", followed.view
    assert followed.view["result"]["requested"] == 3
    assert followed.progress[-1] == 100
    with live_server.ledger() as ledger:
        assert ledger.count_transactions(company.id, uncategorized=False) == 3
        assert ledger.count_transactions(company.id, uncategorized=True) == 2


def test_bulk_approve_reports_and_skips_another_companys_ids(
    live_server: LiveServer, company: Company
) -> None:
    mine = add_rows(live_server, company, ["ZOOM.US", "SLACK", "GITHUB, INC."])
    sibling = Company(company.sibling, company.sibling, company.tenant_id, company.http)
    theirs = add_rows(live_server, sibling, ["COSTCO", "FEDEX"])

    response = company.http.post(
        "/api/jobs/bulk-approve",
        json={"company_id": company.id, "tenant_id": "t1", "transaction_ids": mine[:2] + theirs},
    )
    followed = follow_job(company.http, accepted_job_id(response))

    assert followed.view["status"] == "complete", followed.view
    result = followed.view["result"]
    assert result["approved"] == 2
    assert sorted(result["not_found"]) == sorted(theirs)
    assert result["not_found_count"] == 2
    with live_server.ledger() as ledger:
        approvals = {t.id: t.approval for t in ledger.list_transactions(company.id)}
        untouched = {t.id: t.approval for t in ledger.list_transactions(company.sibling)}
    assert approvals == {mine[0]: "approved", mine[1]: "approved", mine[2]: "pending"}
    assert untouched == dict.fromkeys(theirs, "pending")


def test_an_uploads_bad_rows_download_as_csv_and_only_by_their_tenant(
    company: Company, live_server: LiveServer
) -> None:
    bad = "".join(f"not-a-date-{n},Row {n},-1.00\n" for n in range(25))
    content = f"Date,Description,Amount\n01/02/2026,Coffee,-3.50\n{bad}".encode()
    job_id = accepted_job_id(upload_statement(company.http, company.id, content))
    done = wait_for_job_status(company.http, job_id, {"complete"})
    assert done["result"]["row_errors"] == 25 and len(done["result"]["errors"]) == 20
    assert done["result"]["error_report"] == f"/api/jobs/{job_id}/error-report"

    report = company.http.get(done["result"]["error_report"])
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    assert report.text.splitlines()[0] == "line,error" and len(report.text.splitlines()) == 26
    with live_server.client_for("t2", [company.id]) as other_tenant:
        assert other_tenant.get(f"/api/jobs/{job_id}/error-report").status_code == 404
