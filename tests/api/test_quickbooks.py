"""QuickBooks Online over HTTP, against the local QuickBooks server: a user connects a company
(Intuit's consent flow, or credentials with PUT), the credentials never leave the server and
are sealed at rest, a disconnect revokes them, another tenant can touch none of it, and an
`export-qbo` job sends approved transactions to QuickBooks once (riding out throttling and
an expired access token) or writes a CSV or IIF file to download."""

from __future__ import annotations

import csv
import datetime
import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from pydantic import SecretStr
from sqlalchemy import text

from bookkeeper_jobs.errors import SecretsKeyError
from bookkeeper_jobs.ledger import NewTransaction
from bookkeeper_jobs.secretbox import SecretBox
from tests.support.jobs_http import JobView, accepted_job_id, wait_for_job
from tests.support.polling import wait_until
from tests.support.qbo_connect import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    consent,
    qbo_settings,
)
from tests.support.qbo_server import TOKEN_PATH, QboServer, RecordedRequest, qbo_server

from .harness import KEY_B, LiveServer, api_settings, new_company_id, serve

TENANT = "t1"
NOVEMBER = ("2026-11-01", "2026-11-30")
EXPORT_SECONDS = 60.0
ROWS = [
    # (day, description, amount, account code): an expense, a refund, a sale.
    (3, "STAPLES #1123 SEATTLE", "-45.20", "6090"),  # Office Supplies
    (9, "STAPLES REFUND", "12.99", "6090"),
    (14, "CLIENT PAYMENT INV-1042", "1500.00", "4100"),  # Service Revenue
]
CONNECTION_FIELDS = {
    "company_id",
    "connected",
    "environment",
    "realm_id",
    "connected_at",
    "refresh_token_expires_at",
}


@dataclass
class Qbo:
    """The local QuickBooks Online and an API server pointed at it."""

    server: QboServer
    live: LiveServer


@pytest.fixture(scope="module")
def qbo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Qbo]:
    with pytest.MonkeyPatch.context() as patch:
        # requests-oauthlib refuses plain http unless told otherwise (the server is on
        # loopback); set before the API starts so its worker processes inherit it.
        patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
        with qbo_server() as server:
            settings = api_settings(tmp_path_factory.mktemp("api"), **qbo_settings(server))
            with serve(settings) as live:
                yield Qbo(server, live)


@dataclass
class Company:
    """A fresh company of tenant t1 (and a sibling), with a client whose JWT grants both and
    which keeps every response body it received."""

    id: str
    sibling: str
    http: httpx.Client
    anonymous: httpx.Client
    bodies: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/api/companies/{self.id}/quickbooks"


@pytest.fixture
def company(qbo: Qbo) -> Iterator[Company]:
    company_id = new_company_id()
    sibling = f"{company_id}-b"
    with (
        qbo.live.client_for(TENANT, [company_id, sibling]) as http,
        qbo.live.client(token=None) as anonymous,
    ):
        found = Company(company_id, sibling, http, anonymous)

        def keep(response: httpx.Response) -> None:
            response.read()
            found.bodies.append(response.text)

        http.event_hooks["response"].append(keep)
        anonymous.event_hooks["response"].append(keep)
        yield found


# --------------------------------------------------------------------------- helpers


def start_flow(company: Company, company_id: str | None = None) -> str:
    """Our `connect` route's authorization URL for the company (sandbox)."""
    response = company.http.get(
        f"/api/companies/{company_id or company.id}/quickbooks/connect",
        params={"environment": "sandbox"},
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["authorization_url"]
    return url


def callback(company: Company, granted: dict[str, str]) -> httpx.Response:
    """Intuit's redirect back to us, as the user's browser makes it: no bearer token."""
    response = company.anonymous.get("/api/quickbooks/callback", params=granted)
    assert "authorization" not in response.request.headers
    return response


def connect(company: Company, company_id: str | None = None) -> str:
    """The whole Connect flow for the company; the realm it is connected to."""
    response = callback(company, consent(start_flow(company, company_id)))
    assert response.status_code == 200, response.text
    assert response.json()["connected"] is True
    realm: str = response.json()["realm_id"]
    return realm


def connection(company: Company, company_id: str | None = None) -> dict[str, Any]:
    response = company.http.get(f"/api/companies/{company_id or company.id}/quickbooks")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sealed_column(live: LiveServer, company_id: str) -> str | None:
    """`qbo_connections.credentials` as the database holds it."""
    with live.ledger() as ledger, ledger.engine.connect() as conn:
        value: str | None = conn.execute(
            text("SELECT credentials FROM qbo_connections WHERE company_id = :company"),
            {"company": company_id},
        ).scalar_one_or_none()
    return value


def stored_credentials(live: LiveServer, company_id: str) -> dict[str, Any]:
    """The company's credentials, opened with the server's secrets key."""
    sealed = sealed_column(live, company_id)
    assert sealed is not None, f"company {company_id} has no stored connection"
    return SecretBox(live.settings.secrets_key).open(sealed)


def seed(
    live: LiveServer, company_id: str, rows: list[tuple[int, str, str, str]] = ROWS
) -> dict[str, str]:
    """November rows of the company, categorized and approved; their ids by description."""
    with live.ledger() as ledger:
        ledger.ensure_company(company_id, TENANT)
        ledger.add_transactions(
            company_id,
            [
                NewTransaction(datetime.date(2026, 11, day), text, Decimal(amount), "USD")
                for day, text, amount, _code in rows
            ],
        )
        ids = {t.description: t.id for t in ledger.list_transactions(company_id, limit=1000)}
        for _day, description, _amount, code in rows:
            ledger.set_category(company_id, ids[description], code)
        ledger.approve(company_id, [ids[description] for _d, description, _a, _c in rows])
    return ids


def start_export(company: Company, **fields: Any) -> httpx.Response:
    body = {
        "company_id": company.id,
        "tenant_id": TENANT,
        "start_date": NOVEMBER[0],
        "end_date": NOVEMBER[1],
        **fields,
    }
    return company.http.post("/api/jobs/export-qbo", json=body)


def finished(http: httpx.Client, job_id: str) -> JobView:
    return wait_for_job(
        http,
        job_id,
        lambda view: view["status"] in {"complete", "failed", "cancelled"},
        what="the export to finish",
        timeout=EXPORT_SECONDS,
    )


def export(company: Company, **fields: Any) -> dict[str, Any]:
    """Run an export to its end; its result (the job must complete)."""
    job = finished(company.http, accepted_job_id(start_export(company, **fields)))
    assert job["status"] == "complete", job
    result: dict[str, Any] = job["result"]
    return result


def refreshes(server: QboServer) -> int:
    """Refresh-token grants the server has received."""
    return sum(
        1
        for r in server.requests
        if r.path == TOKEN_PATH
        and isinstance(r.body, dict)
        and r.body.get("grant_type") == "refresh_token"
    )


def batches(server: QboServer, realm: str) -> list[RecordedRequest]:
    return [r for r in server.api_requests("POST") if r.path == f"/v3/company/{realm}/batch"]


def disconnected(company_id: str) -> dict[str, Any]:
    """What GET says of a company with no connection."""
    return {
        "company_id": company_id,
        "connected": False,
        "environment": None,
        "realm_id": None,
        "connected_at": None,
        "refresh_token_expires_at": None,
    }


def error_locations(response: httpx.Response) -> list[tuple[Any, ...]]:
    assert response.status_code == 422, response.text
    return [tuple(error["loc"]) for error in response.json()["detail"]]


# --------------------------------------------------------------------------- connecting


def test_the_connect_flow_connects_the_company_and_no_answer_holds_a_credential(
    qbo: Qbo, company: Company, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert connection(company) == disconnected(company.id)

    started = company.http.get(f"{company.url}/connect", params={"environment": "sandbox"})

    assert started.status_code == 200, started.text
    assert set(started.json()) == {"authorization_url", "expires_at"}
    url = urlsplit(started.json()["authorization_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == qbo.server.authorization_endpoint
    query = {key: values[-1] for key, values in parse_qs(url.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["response_type"] == "code"
    assert "com.intuit.quickbooks.accounting" in query["scope"].split()
    assert len(query["state"]) >= 32

    granted = consent(started.json()["authorization_url"])
    assert granted["state"] == query["state"]
    finished_flow = callback(company, granted)

    assert finished_flow.status_code == 200, finished_flow.text
    body = finished_flow.json()
    assert body["company_id"] == company.id
    assert body["connected"] is True
    assert body["realm_id"] == granted["realmId"]
    assert body["environment"] == "sandbox"

    shown = connection(company)
    assert set(shown) == CONNECTION_FIELDS
    assert shown["connected"] is True
    assert shown["environment"] == "sandbox"
    assert shown["realm_id"] == granted["realmId"]
    expires = datetime.datetime.fromisoformat(shown["refresh_token_expires_at"])
    in_days = (expires - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400
    assert 100 < in_days <= 101  # Intuit's x_refresh_token_expires_in: 101 days

    credentials = stored_credentials(qbo.live, company.id)
    assert qbo.server.token_state(credentials["refresh_token"]) == "active"
    secrets = [credentials["refresh_token"], credentials["access_token"], CLIENT_SECRET]
    for body_text in company.bodies:
        for secret in secrets:
            assert secret not in body_text
    # The client id is public by OAuth's design: in the authorization URL, nowhere else.
    assert [b for b in company.bodies if CLIENT_ID in b] == [started.text]
    server_log = [
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))  # this test's own client
    ]
    for line in server_log:
        for secret in [*secrets, CLIENT_ID]:
            assert secret not in line


def test_a_state_is_single_use_and_connects_only_the_company_that_started_it(
    qbo: Qbo, company: Company
) -> None:
    for_company = consent(start_flow(company))
    for_sibling = consent(start_flow(company, company.sibling))

    first = callback(company, for_company)
    again = callback(company, for_company)

    assert first.status_code == 200, first.text
    assert first.json()["company_id"] == company.id
    assert again.status_code == 400
    assert again.json()["detail"].startswith("state:")
    assert connection(company, company.sibling)["connected"] is False

    # A forged state with a genuine code is refused and spends nothing: the real state
    # then connects the company that started it, to its own QuickBooks company.
    forged = callback(company, {**for_sibling, "state": "forged-" + "x" * 40})
    assert forged.status_code == 400
    assert forged.json()["detail"].startswith("state:")
    assert connection(company, company.sibling)["connected"] is False

    second = callback(company, for_sibling)

    assert second.status_code == 200, second.text
    assert second.json()["company_id"] == company.sibling
    assert second.json()["realm_id"] == for_sibling["realmId"]
    assert connection(company)["realm_id"] == for_company["realmId"]
    assert for_company["realmId"] != for_sibling["realmId"]


def test_a_callback_without_a_known_state_is_refused(company: Company) -> None:
    response = company.anonymous.get(
        "/api/quickbooks/callback",
        params={"state": "made-up-state", "code": "made-up-code", "realmId": "9341000000000"},
    )

    assert response.status_code == 400
    assert "state" in response.json()["detail"]


def test_credentials_are_encrypted_at_rest(qbo: Qbo, company: Company) -> None:
    connect(company)

    sealed = sealed_column(qbo.live, company.id)

    assert sealed is not None
    opened = SecretBox(qbo.live.settings.secrets_key).open(sealed)
    assert qbo.server.token_state(opened["refresh_token"]) == "active"
    assert qbo.server.token_state(opened["access_token"]) == "active"
    for secret in (opened["refresh_token"], opened["access_token"], CLIENT_SECRET):
        assert secret not in sealed
    with pytest.raises(SecretsKeyError):
        SecretBox(SecretStr("another-secrets-key-0123456789abcdefghij")).open(sealed)
    # Nor anywhere else on disk: the ledger, its WAL, the job store, the files.
    tokens = [opened["refresh_token"], opened["access_token"]]
    assert files_holding(Path(qbo.live.settings.data_dir), tokens) == []


FIND_IN_FILES = """
import sys
from pathlib import Path
root, needles = Path(sys.argv[1]), [n.encode() for n in sys.argv[2:]]
for path in sorted(p for p in root.rglob("*") if p.is_file()):
    content = path.read_bytes()
    if any(needle in content for needle in needles):
        print(path)
"""


def files_holding(root: Path, needles: list[str]) -> list[str]:
    """The files under ``root`` holding any of ``needles``. Read by another process: closing
    a file of a SQLite database in this one would drop the API's locks on it."""
    found = subprocess.run(
        [sys.executable, "-c", FIND_IN_FILES, str(root), *needles],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return found.stdout.split()


def authorize_directly(server: QboServer) -> tuple[str, str]:
    """What a script does with intuit-oauth: (realm id, refresh token)."""
    client = AuthClient(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, server.discovery_url)
    try:
        granted = consent(client.get_authorization_url([Scopes.ACCOUNTING], state_token="s"))
        client.get_bearer_token(granted["code"], realm_id=granted["realmId"])
        return granted["realmId"], str(client.refresh_token)
    finally:
        client.close()


def test_put_connects_with_credentials_and_stores_the_rotated_refresh_token(
    qbo: Qbo, company: Company
) -> None:
    realm, refresh_token = authorize_directly(qbo.server)

    response = company.http.put(
        company.url,
        json={
            "environment": "sandbox",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "realm_id": realm,
            "refresh_token": refresh_token,
        },
    )

    assert response.status_code == 200, response.text
    assert set(response.json()) == CONNECTION_FIELDS
    assert response.json()["connected"] is True
    assert response.json()["realm_id"] == realm
    assert qbo.server.token_state(refresh_token) == "rotated"
    stored = stored_credentials(qbo.live, company.id)["refresh_token"]
    assert stored != refresh_token
    assert qbo.server.token_state(stored) == "active"
    assert connection(company)["realm_id"] == realm
    assert refresh_token not in response.text and stored not in response.text
    assert CLIENT_SECRET not in response.text


def test_put_with_a_refresh_token_quickbooks_refuses_stores_nothing(
    qbo: Qbo, company: Company
) -> None:
    realm = qbo.server.add_realm()

    response = company.http.put(
        company.url,
        json={
            "environment": "sandbox",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "realm_id": realm,
            "refresh_token": "not-a-refresh-token",
        },
    )

    assert response.status_code == 422
    assert response.json()["detail"].startswith("refresh_token:")
    assert connection(company) == disconnected(company.id)
    assert sealed_column(qbo.live, company.id) is None


def test_delete_revokes_the_connection_and_exports_to_quickbooks_stop(
    qbo: Qbo, company: Company
) -> None:
    connect(company)
    refresh_token = stored_credentials(qbo.live, company.id)["refresh_token"]

    response = company.http.delete(company.url)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "company_id": company.id,
        "connected": False,
        "revoked": True,
        "detail": "",
    }
    assert refresh_token in qbo.server.revoked
    assert qbo.server.token_state(refresh_token) == "revoked"
    assert connection(company) == disconnected(company.id)
    assert sealed_column(qbo.live, company.id) is None
    refused = start_export(company)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("company_id:")
    assert company.http.delete(company.url).status_code == 404


# --------------------------------------------------------------------------- tenancy


def test_another_tenant_can_neither_see_nor_change_nor_download(qbo: Qbo, company: Company) -> None:
    realm = connect(company)
    refresh_token = stored_credentials(qbo.live, company.id)["refresh_token"]
    seed(qbo.live, company.id)
    file_url = export(company, destination="csv")["file"]
    replacement = {
        "environment": "sandbox",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "realm_id": "123",
        "refresh_token": "whatever",
    }

    # Tenant t2 with a token that lists the same company id: the company is not theirs.
    with qbo.live.client_for("t2", [company.id]) as intruder:
        assert intruder.get(company.url).status_code == 404
        assert intruder.put(company.url, json=replacement).status_code == 404
        assert intruder.delete(company.url).status_code == 404
        assert intruder.get(f"{company.url}/connect").status_code == 404
        assert intruder.get(file_url).status_code == 404
        to_quickbooks = intruder.post(
            "/api/jobs/export-qbo",
            json={
                "company_id": company.id,
                "tenant_id": "t2",
                "start_date": NOVEMBER[0],
                "end_date": NOVEMBER[1],
            },
        )
        assert to_quickbooks.status_code == 409
    # Tenant t2's API key, whose grant does not list the company.
    with qbo.live.client(KEY_B) as other_key:
        assert other_key.get(company.url).status_code == 403
        assert other_key.delete(company.url).status_code == 403
        assert other_key.get(file_url).status_code == 404
    # The same tenant, but a grant without this company.
    with qbo.live.client_for(TENANT, [new_company_id()]) as colleague:
        assert colleague.get(file_url).status_code == 404
        assert colleague.get(company.url).status_code == 403

    assert connection(company)["realm_id"] == realm
    assert stored_credentials(qbo.live, company.id)["refresh_token"] == refresh_token
    assert qbo.server.token_state(refresh_token) == "active"
    assert company.http.get(file_url).status_code == 200


# --------------------------------------------------------------------------- exporting


def test_an_export_creates_the_entries_once(qbo: Qbo, company: Company) -> None:
    realm = connect(company)
    ids = seed(qbo.live, company.id)

    first = export(company)

    assert (first["exported"], first["skipped"], first["failed"]) == (3, 0, 0)
    assert first["realm_id"] == realm
    purchases = qbo.server.entities("Purchase", realm)
    deposits = qbo.server.entities("Deposit", realm)
    assert [p["PrivateNote"] for p in purchases] == [
        f"bookkeeper-jobs transaction {ids['STAPLES #1123 SEATTLE']}"
    ]
    assert purchases[0]["TxnDate"] == "2026-11-03"
    assert Decimal(str(purchases[0]["TotalAmt"])) == Decimal("45.20")
    assert sorted(Decimal(str(d["TotalAmt"])) for d in deposits) == [
        Decimal("12.99"),
        Decimal("1500.00"),
    ]
    sent = len(batches(qbo.server, realm))

    again = export(company)

    assert (again["exported"], again["skipped"], again["failed"]) == (0, 3, 0)
    assert len(qbo.server.entities("Purchase", realm)) == 1
    assert len(qbo.server.entities("Deposit", realm)) == 2
    assert len(batches(qbo.server, realm)) == sent


def test_a_csv_export_of_an_unconnected_company_is_a_file_to_download(
    qbo: Qbo, company: Company
) -> None:
    seed(
        qbo.live,
        company.id,
        [*ROWS, (20, '=HYPERLINK("http://evil.test","x")', "-9.99", "6090")],
    )
    with qbo.live.ledger() as ledger:  # neither unapproved nor out-of-range rows go out
        ledger.add_transactions(
            company.id,
            [
                NewTransaction(datetime.date(2026, 11, 21), "NOT APPROVED", Decimal("-1"), "USD"),
                NewTransaction(datetime.date(2026, 12, 1), "DECEMBER", Decimal("-2"), "USD"),
            ],
        )
    assert connection(company)["connected"] is False

    result = export(company, destination="csv")

    assert result["destination"] == "csv"
    assert result["exported"] == 4
    download = company.http.get(result["file"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["Date", "Description", "Amount"]
    assert sorted(rows[1:]) == [
        ["11/03/2026", "STAPLES #1123 SEATTLE", "-45.20"],
        ["11/09/2026", "STAPLES REFUND", "12.99"],
        ["11/14/2026", "CLIENT PAYMENT INV-1042", "1500.00"],
        ["11/20/2026", '\'=HYPERLINK("http://evil.test","x")', "-9.99"],
    ]


def test_an_iif_export_is_one_transaction_block_per_row(qbo: Qbo, company: Company) -> None:
    seed(qbo.live, company.id)

    result = export(company, destination="iif", bank_account="Business Checking")

    assert (result["destination"], result["exported"]) == ("iif", 3)
    download = company.http.get(result["file"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/plain")
    lines = [line.split("\t") for line in download.text.splitlines()]
    assert [line[0] for line in lines[:3]] == ["!TRNS", "!SPL", "!ENDTRNS"]
    blocks = lines[3:]
    assert [line[0] for line in blocks] == ["TRNS", "SPL", "ENDTRNS"] * 3
    by_memo = {trns[6]: (trns, spl) for trns, spl in zip(blocks[0::3], blocks[1::3], strict=True)}
    trns, spl = by_memo["STAPLES #1123 SEATTLE"]
    assert trns[:4] == ["TRNS", "CHECK", "11/03/2026", "Business Checking"]
    assert trns[5] == "-45.20"
    assert spl[:4] == ["SPL", "CHECK", "11/03/2026", "Office Supplies"]
    assert spl[5] == "45.20"
    trns, spl = by_memo["CLIENT PAYMENT INV-1042"]
    assert (trns[1], trns[5], spl[3], spl[5]) == (
        "DEPOSIT",
        "1500.00",
        "Service Revenue",
        "-1500.00",
    )


@pytest.mark.parametrize(
    ("fields", "location", "message"),
    [
        (
            {"start_date": "2026-11-30", "end_date": "2026-11-01"},
            ("body",),
            "end_date is before start_date",
        ),
        (
            {"start_date": "2026-01-01", "end_date": "2027-02-05"},
            ("body",),
            "longer than 366 days",
        ),
        ({"start_date": "01/02/2026"}, ("body", "start_date"), ""),
        ({"destination": "pdf"}, ("body", "destination"), ""),
    ],
    ids=["end-before-start", "400-days", "not-iso", "pdf"],
)
def test_bad_export_input_is_a_422_naming_the_problem(
    company: Company, fields: dict[str, str], location: tuple[str, ...], message: str
) -> None:
    response = start_export(company, **{"destination": "csv", **fields})

    assert error_locations(response) == [location]
    assert message in response.json()["detail"][0]["msg"]


def test_an_export_rides_out_throttling_honouring_retry_after(qbo: Qbo, company: Company) -> None:
    realm = connect(company)
    seed(qbo.live, company.id)
    seen = len(qbo.server.api_requests())
    qbo.server.fail_next(429, count=2, retry_after=1)

    job = finished(company.http, accepted_job_id(start_export(company)))

    assert job["status"] == "complete", job
    assert job["result"]["exported"] == 3
    assert len(qbo.server.entities("Purchase", realm)) == 1
    sent = qbo.server.api_requests()[seen:]
    first, *retried = sent[:3]
    for request in retried:  # the throttled request, sent again as it was
        assert (request.method, request.path, request.query, request.raw) == (
            first.method,
            first.path,
            first.query,
            first.raw,
        )
    took = datetime.datetime.fromisoformat(job["finished_at"]) - datetime.datetime.fromisoformat(
        job["started_at"]
    )
    assert took >= datetime.timedelta(seconds=2)  # waited Retry-After: 1 s, twice


def test_an_access_token_expired_before_the_export_is_refreshed(qbo: Qbo, company: Company) -> None:
    realm = connect(company)
    seed(qbo.live, company.id)
    before = stored_credentials(qbo.live, company.id)
    qbo.server.expire_access_tokens()
    assert qbo.server.token_state(before["access_token"]) == "expired"

    result = export(company)

    assert (result["exported"], result["failed"]) == (3, 0)
    assert len(qbo.server.entities("Deposit", realm)) == 2
    after = stored_credentials(qbo.live, company.id)
    assert qbo.server.token_state(before["refresh_token"]) == "rotated"
    assert qbo.server.token_state(after["refresh_token"]) == "active"
    assert qbo.server.token_state(after["access_token"]) == "active"


def test_an_access_token_expiring_mid_export_is_refreshed_once(qbo: Qbo, company: Company) -> None:
    realm = connect(company)
    rows = [(1 + i, f"OFFICE DEPOT #{i:02}", f"-{10 + i}.00", "6090") for i in range(12)]
    seed(qbo.live, company.id, rows)  # two batches: 10 and 2
    before = stored_credentials(qbo.live, company.id)
    refreshed = refreshes(qbo.server)
    qbo.server.hold_answers("/batch")
    try:
        job_id = accepted_job_id(start_export(company))
        wait_until(
            lambda: len(qbo.server.entities("Purchase", realm)) == 10,
            timeout=EXPORT_SECONDS,
            what="QuickBooks to create the first batch",
        )
        qbo.server.expire_access_tokens()  # before the second batch is sent
    finally:
        qbo.server.release_answers()
    job = finished(company.http, job_id)

    assert job["status"] == "complete", job
    assert (job["result"]["exported"], job["result"]["failed"]) == (12, 0)
    assert len(qbo.server.entities("Purchase", realm)) == 12
    # One refresh when the export opened its session, one after the 401: no more.
    assert refreshes(qbo.server) - refreshed == 2
    sent = batches(qbo.server, realm)
    assert len(sent) == 3  # the first batch, the second refused with 401, then accepted
    assert sent[1].raw == sent[2].raw
    assert sent[1].headers["Authorization"] != sent[2].headers["Authorization"]
    after = stored_credentials(qbo.live, company.id)
    assert qbo.server.token_state(before["refresh_token"]) == "rotated"
    assert qbo.server.token_state(after["refresh_token"]) == "active"
    assert sent[2].headers["Authorization"] == f"Bearer {after['access_token']}"


# --------------------------------------------------------------------------- fixed findings


def test_a_realm_id_that_is_not_a_quickbooks_company_id_is_refused(
    qbo: Qbo, company: Company
) -> None:
    granted = consent(start_flow(company))

    response = callback(company, {**granted, "realmId": "1/../2?x=1"})

    assert response.status_code == 422
    assert "realmId" in str(response.json()["detail"])
    assert connection(company) == disconnected(company.id)


def test_put_with_a_wrong_client_secret_names_the_app_credentials(
    qbo: Qbo, company: Company
) -> None:
    realm, refresh_token = authorize_directly(qbo.server)

    response = company.http.put(
        company.url,
        json={
            "environment": "sandbox",
            "client_id": CLIENT_ID,
            "client_secret": "not-the-secret",
            "realm_id": realm,
            "refresh_token": refresh_token,
        },
    )

    assert response.status_code == 422
    assert response.json()["detail"].startswith("client_id, client_secret:")
    assert sealed_column(qbo.live, company.id) is None


def test_reconnected_to_another_quickbooks_company_the_rows_are_exported_there_too(
    qbo: Qbo, company: Company
) -> None:
    first = connect(company)
    seed(qbo.live, company.id)
    assert export(company)["exported"] == 3
    assert company.http.delete(company.url).status_code == 200

    second = connect(company)
    again = export(company)

    assert second != first
    assert (again["realm_id"], again["exported"], again["skipped"]) == (second, 3, 0)
    assert len(qbo.server.entities("Purchase", realm_id=second)) == 1
    assert len(qbo.server.entities("Purchase", realm_id=first)) == 1
