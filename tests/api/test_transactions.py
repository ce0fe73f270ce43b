"""The review loop over HTTP: list a company's transactions, correct some, accept the rule
the corrections suggest, categorize again and see the rule applied."""

from __future__ import annotations

import datetime
from decimal import Decimal

import httpx

from bookkeeper_jobs.ledger import NewTransaction
from tests.support.jobs_http import accepted_job_id, wait_for_job

from .conftest import Company
from .harness import KEY_B, LiveServer

MEALS = "6080"


def seed(
    live_server: LiveServer, company: Company, rows: list[tuple[int, str, str]]
) -> dict[str, str]:
    """``(day, description, amount)`` rows of November 2026; their ids by description."""
    with live_server.ledger() as ledger:
        ledger.ensure_company(company.id, company.tenant_id)
        ledger.add_transactions(
            company.id,
            [
                NewTransaction(datetime.date(2026, 11, day), text, Decimal(amount), "USD")
                for day, text, amount in rows
            ],
        )
        return {t.description: t.id for t in ledger.list_transactions(company.id, limit=1000)}


def categorize(
    http: httpx.Client, company: Company, ids: list[str] | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"company_id": company.id, "tenant_id": company.tenant_id}
    if ids is not None:
        body["transaction_ids"] = ids
    job_id = accepted_job_id(http.post("/api/jobs/categorize", json=body))
    return wait_for_job(http, job_id, lambda v: v["status"] == "complete", what="categorized")


def listing(http: httpx.Client, company: Company, **params: object) -> dict[str, object]:
    response = http.get(f"/api/companies/{company.id}/transactions", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_corrections_suggest_a_rule_that_the_next_categorize_applies(
    live_server: LiveServer, company: Company
) -> None:
    ids = seed(
        live_server,
        company,
        [(n, f"ACME COFFEE #{100 + n}", "-4.50") for n in range(1, 4)]
        + [(5, "RENT NOVEMBER", "-1200.00")],
    )
    categorize(company.http, company)
    page = listing(company.http, company, q="acme coffee")
    listed = page["transactions"]
    assert isinstance(listed, list) and [t["description"] for t in listed] == [
        "ACME COFFEE #103",
        "ACME COFFEE #102",
        "ACME COFFEE #101",
    ]  # newest first

    for transaction in listed:
        corrected = company.http.patch(
            f"/api/transactions/{transaction['id']}", json={"category": MEALS}
        )
        assert corrected.status_code == 200, corrected.text
        assert (corrected.json()["category"], corrected.json()["source"]) == (MEALS, "user")
        assert corrected.json()["changed"] is True
    again = company.http.patch(f"/api/transactions/{listed[0]['id']}", json={"category": MEALS})
    assert again.json()["changed"] is False  # idempotent: nothing new recorded
    detail = company.http.get(f"/api/transactions/{listed[0]['id']}").json()
    assert [(c["old_category"], c["new_category"]) for c in detail["changes"]] == [
        (listed[0]["category"], MEALS)
    ]
    assert detail["changes"][0]["actor"] == "jwt"  # the test's JWT carries no subject

    [suggestion] = company.http.get(f"/api/companies/{company.id}/rule-suggestions").json()
    assert (suggestion["pattern"], suggestion["account_code"], suggestion["corrections"]) == (
        "acme coffee",
        MEALS,
        3,
    )
    rule = {k: suggestion[k] for k in ("kind", "pattern", "account_code")}
    accepted = company.http.post(f"/api/companies/{company.id}/rules", json=rule)
    assert accepted.status_code == 201, accepted.text
    repeated = company.http.post(f"/api/companies/{company.id}/rules", json=rule)
    assert (repeated.status_code, repeated.json()["id"]) == (200, accepted.json()["id"])
    assert company.http.get(f"/api/companies/{company.id}/rule-suggestions").json() == []

    new_id = seed(live_server, company, [(20, "ACME COFFEE #999", "-5.25")])["ACME COFFEE #999"]
    categorize(company.http, company, [new_id])

    applied = company.http.get(f"/api/transactions/{new_id}").json()
    assert (applied["category"], applied["source"], applied["confidence"]) == (MEALS, "rule", 1.0)
    assert ids["RENT NOVEMBER"] != new_id


def test_the_listing_filters_and_pages(live_server: LiveServer, company: Company) -> None:
    seed(live_server, company, [(day, f"SHOP {day}", "-1.00") for day in range(1, 8)])

    first = listing(company.http, company, limit=3, **{"from": "2026-11-02", "to": "2026-11-06"})
    rest = listing(
        company.http,
        company,
        limit=3,
        cursor=first["next_cursor"],
        **{"from": "2026-11-02", "to": "2026-11-06"},
    )

    days = [t["date"] for t in first["transactions"] + rest["transactions"]]  # type: ignore[operator]
    assert days == [f"2026-11-0{d}" for d in (6, 5, 4, 3, 2)]
    assert rest["next_cursor"] is None
    assert listing(company.http, company, status="approved")["transactions"] == []
    forged = company.http.get(
        f"/api/companies/{company.sibling}/transactions", params={"cursor": first["next_cursor"]}
    )
    assert forged.status_code == 400


def test_bad_corrections_and_other_tenants_are_refused(
    live_server: LiveServer, company: Company
) -> None:
    ids = seed(live_server, company, [(1, "SHOP", "-1.00")])

    unknown = company.http.patch(f"/api/transactions/{ids['SHOP']}", json={"category": "9999"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("category:")
    with live_server.client(KEY_B) as other:
        assert other.get(f"/api/transactions/{ids['SHOP']}").status_code == 404
        refused = other.patch(f"/api/transactions/{ids['SHOP']}", json={"category": MEALS})
        assert refused.status_code == 404
        assert other.get(f"/api/companies/{company.id}/transactions").status_code == 403
    untouched = company.http.get(f"/api/transactions/{ids['SHOP']}").json()
    assert untouched["source"] != "user" and untouched["changes"] == []


def test_bad_rules_are_refused_naming_the_field(company: Company) -> None:
    url = f"/api/companies/{company.id}/rules"

    bad_regex = company.http.post(
        url, json={"kind": "regex", "pattern": "([", "account_code": MEALS}
    )
    unknown_account = company.http.post(
        url, json={"kind": "contains", "pattern": "acme", "account_code": "9999"}
    )
    huge_id = company.http.delete(f"{url}/{2**70}")
    missing = company.http.delete(f"{url}/12345")

    assert bad_regex.status_code == 422
    assert bad_regex.json()["detail"].startswith("pattern: invalid regular expression")
    assert unknown_account.status_code == 422
    assert unknown_account.json()["detail"].startswith("account_code:")
    assert huge_id.status_code == 422
    assert huge_id.json()["detail"][0]["loc"] == ["path", "rule_id"]
    assert missing.status_code == 404
