"""The local QuickBooks Online (tests/support/qbo_server.py) driven by the real client
libraries the export uses: intuit-oauth for OAuth 2.0, python-quickbooks for the API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.exceptions import (
    AuthorizationException,
    GeneralException,
    QuickbooksException,
    SevereException,
    ValidationException,
)
from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.deposit import Deposit, DepositLine, DepositLineDetail
from quickbooks.objects.detailline import AccountBasedExpenseLine, AccountBasedExpenseLineDetail
from quickbooks.objects.purchase import Purchase
from quickbooks.objects.vendor import Vendor

from tests.support.qbo_server import QboServer, qbo_server

CLIENT_ID = "ABtestclientid"
CLIENT_SECRET = "test-client-secret"
REDIRECT_URI = "https://bookkeeper.example.test/qbo/callback"


@pytest.fixture
def server() -> Iterator[QboServer]:
    with qbo_server(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI
    ) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def auth_client(server: QboServer) -> Iterator[AuthClient]:
    client = AuthClient(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, environment=server.discovery_url)
    try:
        yield client
    finally:
        client.close()


def consent(http: requests.Session, url: str) -> dict[str, str]:
    """Follow the authorization URL as the user's browser would; the redirect's parameters."""
    answer = http.get(url, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(location.query).items()}


@pytest.fixture
def connected(auth_client: AuthClient, http: requests.Session) -> AuthClient:
    """An AuthClient holding tokens for a freshly authorized company."""
    reply = consent(http, auth_client.get_authorization_url([Scopes.ACCOUNTING]))
    auth_client.get_bearer_token(reply["code"], realm_id=reply["realmId"])
    return auth_client


def quickbooks_client(server: QboServer, auth: AuthClient) -> QuickBooks:
    client = QuickBooks(
        auth_client=auth,
        refresh_token=auth.refresh_token,
        company_id=auth.realm_id,
        minorversion=75,
    )
    client.api_url_v3 = server.api_url
    client.sandbox_api_url_v3 = server.api_url
    return client


@pytest.fixture
def qb(
    server: QboServer, connected: AuthClient, monkeypatch: pytest.MonkeyPatch
) -> Iterator[QuickBooks]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # requests-oauthlib and http://
    client = quickbooks_client(server, connected)
    try:
        yield client
    finally:
        client.session.close()


def ref(value: str) -> Ref:
    reference = Ref()
    reference.value = value
    return reference


def purchase(bank_id: str, expense_id: str, amount: float, **fields: Any) -> Purchase:
    txn = Purchase()
    txn.PaymentType = "Check"
    txn.AccountRef = ref(bank_id)
    line = AccountBasedExpenseLine()
    line.Amount = amount
    line.AccountBasedExpenseLineDetail = AccountBasedExpenseLineDetail()
    line.AccountBasedExpenseLineDetail.AccountRef = ref(expense_id)
    txn.Line.append(line)
    for name, value in fields.items():
        setattr(txn, name, value)
    return txn


def api_post(
    http: requests.Session, server: QboServer, token: str, path: str, body: str, **params: str
) -> requests.Response:
    return http.post(
        f"{server.api_url}/company/{server.realm_id}/{path}",
        data=body,
        params=params,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


# --------------------------------------------------------------------------- OAuth 2.0


def test_discovery_document_names_the_servers_own_endpoints(
    server: QboServer, http: requests.Session
) -> None:
    document = http.get(server.discovery_url).json()
    assert document["issuer"] == server.base_url + "/op/v1"
    assert document["authorization_endpoint"] == server.authorization_endpoint
    assert document["token_endpoint"] == server.token_endpoint
    assert document["revocation_endpoint"] == server.revocation_endpoint
    assert document["userinfo_endpoint"].startswith(server.base_url)
    assert document["jwks_uri"].startswith(server.base_url)


def test_authorization_code_refresh_rotation_and_revocation(
    server: QboServer, auth_client: AuthClient, http: requests.Session
) -> None:
    url = auth_client.get_authorization_url([Scopes.ACCOUNTING], state_token="st-123")
    reply = consent(http, url)
    assert reply["state"] == "st-123"
    assert reply["realmId"] == server.realm_id

    auth_client.get_bearer_token(reply["code"], realm_id=reply["realmId"])
    assert auth_client.expires_in == 3600
    assert auth_client.x_refresh_token_expires_in > 0
    first_refresh, first_access = auth_client.refresh_token, auth_client.access_token
    assert server.token_state(first_access) == "active"
    request = server.requests[-1]
    assert request.path == "/oauth2/v1/tokens/bearer"
    assert request.body == {
        "grant_type": "authorization_code",
        "code": reply["code"],
        "redirect_uri": REDIRECT_URI,
    }
    assert request.headers["Authorization"].startswith("Basic ")

    with pytest.raises(AuthClientError) as reused:  # a code is single use
        auth_client.get_bearer_token(reply["code"])
    assert reused.value.status_code == 400
    assert json.loads(reused.value.content)["error"] == "invalid_grant"

    auth_client.refresh()
    assert auth_client.refresh_token != first_refresh  # rotated
    assert server.token_state(first_refresh) == "rotated"
    with pytest.raises(AuthClientError) as stale:
        auth_client.refresh(refresh_token=first_refresh)
    assert stale.value.status_code == 400
    assert json.loads(stale.value.content)["error"] == "invalid_grant"

    latest = auth_client.refresh_token
    assert auth_client.revoke() is True
    assert server.revoked == [latest]
    assert server.token_state(latest) == "revoked"
    assert server.token_state(first_access) == "revoked"  # the grant's access tokens too
    with pytest.raises(AuthClientError) as revoked:
        auth_client.refresh(refresh_token=latest)
    assert revoked.value.status_code == 400


def test_authorization_refuses_an_unknown_client_or_redirect_uri(
    server: QboServer, http: requests.Session
) -> None:
    good = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "com.intuit.quickbooks.accounting",
        "redirect_uri": REDIRECT_URI,
        "state": "s",
    }
    for wrong in ({"client_id": "someone-else"}, {"redirect_uri": "https://evil.test/cb"}):
        answer = http.get(server.authorization_endpoint, params={**good, **wrong})
        assert answer.status_code == 400
        assert "Location" not in answer.headers  # no redirect to an unregistered URI

    answer = http.get(
        server.authorization_endpoint, params={**good, "scope": "nope"}, allow_redirects=False
    )
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["invalid_scope"]


def test_token_endpoint_requires_the_client_secret(
    server: QboServer, http: requests.Session
) -> None:
    wrong = AuthClient(CLIENT_ID, "not-the-secret", REDIRECT_URI, environment=server.discovery_url)
    try:
        reply = consent(http, wrong.get_authorization_url([Scopes.ACCOUNTING]))
        with pytest.raises(AuthClientError) as refused:
            wrong.get_bearer_token(reply["code"])
        assert refused.value.status_code == 401
    finally:
        wrong.close()


# --------------------------------------------------------------------------- Accounting API


def test_creates_account_vendor_purchase_and_deposit_and_queries_them_back(
    server: QboServer, qb: QuickBooks
) -> None:
    bank = Account()
    bank.Name, bank.AccountType = "Business Checking", "Bank"
    bank = bank.save(qb=qb)
    expense = Account()
    expense.Name, expense.AccountType = "Office Supplies", "Expense"
    expense = expense.save(qb=qb)
    income = Account()
    income.Name, income.AccountType = "Sales", "Income"
    income = income.save(qb=qb)
    vendor = Vendor()
    vendor.DisplayName = "Staples"
    vendor = vendor.save(qb=qb)

    txn = purchase(bank.Id, expense.Id, 42.5, TxnDate="2024-03-01", PrivateNote="bk:txn-1")
    txn.EntityRef = ref(vendor.Id)
    txn.EntityRef.type = "Vendor"
    saved = txn.save(qb=qb)
    assert saved.Id and saved.SyncToken == "0"
    assert saved.TotalAmt == 42.5
    assert saved.MetaData["CreateTime"]

    deposit = Deposit()
    deposit.DepositToAccountRef = ref(bank.Id)
    line = DepositLine()
    line.Amount = 100
    line.DepositLineDetail = DepositLineDetail()
    line.DepositLineDetail.AccountRef = ref(income.Id)
    deposit.Line.append(line)
    assert deposit.save(qb=qb).TotalAmt == 100

    found = Account.filter(Name="Office Supplies", qb=qb)
    assert [a.Id for a in found] == [expense.Id]
    assert found[0].FullyQualifiedName == "Office Supplies"
    assert [v.Id for v in Vendor.filter(DisplayName="Staples", qb=qb)] == [vendor.Id]
    assert Account.filter(Name="Nope", qb=qb) == []
    [stored] = server.entities("Purchase")
    assert stored["PrivateNote"] == "bk:txn-1"
    assert stored["EntityRef"] == {"value": vendor.Id, "type": "Vendor", "name": "Staples"}
    assert stored["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"]["value"] == expense.Id

    create = server.api_requests("POST")[4]  # the purchase, exactly as python-quickbooks sent it
    assert create.path == f"/v3/company/{server.realm_id}/purchase"
    assert create.query == {"minorversion": "75"}
    assert create.headers["Content-Type"] == "application/json"
    assert create.headers["Authorization"] == f"Bearer {qb.auth_client.access_token}"
    assert create.body["PaymentType"] == "Check"
    assert create.body["TxnDate"] == "2024-03-01"


def test_query_forms_python_quickbooks_sends(server: QboServer, qb: QuickBooks) -> None:
    for name in ("Rent", "Travel", "Meals", "O'Brien Supplies"):
        server.seed_account(name, "Expense")
    server.seed_account("Checking", "Bank")

    assert [a.Name for a in Account.filter(Name="O'Brien Supplies", qb=qb)] == ["O'Brien Supplies"]
    assert [a.Name for a in Account.filter(FullyQualifiedName="Rent", qb=qb)] == ["Rent"]
    page = Account.where(
        "AccountType = 'Expense'", order_by="Name", start_position=2, max_results=2, qb=qb
    )
    assert [a.Name for a in page] == ["O'Brien Supplies", "Rent"]
    assert Account.count("AccountType = 'Bank'", qb=qb) == 1
    assert len(Account.all(order_by="Name DESC", qb=qb)) == 5
    assert [a.Name for a in Account.choose(["1", "2"], qb=qb)] == ["Rent", "Travel"]
    assert [a.Name for a in Account.where("Name LIKE 'T%'", qb=qb)] == ["Travel"]
    answer = qb.query("select * from Account where Name = 'Meals'")
    assert answer["QueryResponse"]["startPosition"] == 1
    assert answer["QueryResponse"]["maxResults"] == 1
    assert qb.query("select * from Account where Name = 'None'")["QueryResponse"] == {}

    with pytest.raises(ValidationException) as invalid:
        Account.filter(Colour="red", qb=qb)
    assert invalid.value.error_code == 4001
    with pytest.raises(ValidationException) as unparsable:
        qb.query("select from Account")
    assert unparsable.value.error_code == 4000
    queries = [r for r in server.api_requests() if r.path.endswith("/query")]
    assert all(r.headers["Content-Type"] == "application/text" for r in queries)
    assert queries[0].body == "SELECT * FROM Account WHERE Name = 'O\\'Brien Supplies'"


def test_validation_faults(server: QboServer, qb: QuickBooks) -> None:
    bank = server.seed_account("Checking", "Bank")
    expense = server.seed_account("Office Supplies", "Expense")

    nameless = Account()
    nameless.AccountType = "Expense"
    with pytest.raises(ValidationException) as missing:
        nameless.save(qb=qb)
    assert missing.value.error_code == 2020
    assert "Name" in missing.value.detail

    duplicate = Account()
    duplicate.Name, duplicate.AccountType = "Office Supplies", "Expense"
    with pytest.raises(QuickbooksException) as exists:  # 6240: outside the library's ranges
        duplicate.save(qb=qb)
    assert exists.value.error_code == 6240
    assert exists.value.message == "Duplicate Name Exists Error"

    with pytest.raises(ValidationException) as unknown_ref:
        purchase(bank["Id"], "999", 5).save(qb=qb)
    assert unknown_ref.value.error_code == 2500

    with pytest.raises(QuickbooksException) as wrong_account:  # a check paid from an expense
        purchase(expense["Id"], expense["Id"], 5).save(qb=qb)
    assert wrong_account.value.error_code == 6000

    bad_type = purchase(bank["Id"], expense["Id"], 5, PaymentType="Barter")
    with pytest.raises(ValidationException) as enumeration:
        bad_type.save(qb=qb)
    assert enumeration.value.error_code == 2170

    with pytest.raises(ValidationException) as typo:
        purchase(bank["Id"], expense["Id"], 5, PrivateNotes="typo").save(qb=qb)
    assert typo.value.error_code == 2010
    assert server.entities("Purchase") == []
    fault = server.api_requests()[-1]
    assert fault.path.endswith("/purchase")


def test_batch_create_answers_each_item(server: QboServer, qb: QuickBooks) -> None:
    bank = server.seed_account("Checking", "Bank")
    expense = server.seed_account("Office Supplies", "Expense")
    txns = [purchase(bank["Id"], expense["Id"], 10 + i) for i in range(3)]
    txns.append(purchase(bank["Id"], "404", 1))

    result = batch_create(txns, qb=qb)
    assert sorted(p.TotalAmt for p in result.successes) == [10, 11, 12]
    [fault] = result.faults
    assert fault.Error[0].code == "2500"
    assert len(server.entities("Purchase")) == 3
    request = server.api_requests("POST")[-1]
    assert request.path.endswith("/batch")
    assert [item["operation"] for item in request.body["BatchItemRequest"]] == ["create"] * 4

    too_many = {
        "BatchItemRequest": [
            {"bId": str(i), "operation": "create", "Vendor": {"DisplayName": f"V{i}"}}
            for i in range(31)
        ]
    }
    with pytest.raises(GeneralException) as limit:
        qb.batch_operation(json.dumps(too_many))
    assert limit.value.error_code == 1040
    assert server.entities("Vendor") == []


def test_requestid_replays_the_first_response(server: QboServer, qb: QuickBooks) -> None:
    bank = server.seed_account("Checking", "Bank")
    expense = server.seed_account("Office Supplies", "Expense")

    first = purchase(bank["Id"], expense["Id"], 25).save(qb=qb, request_id="export-1-txn-7")
    again = purchase(bank["Id"], expense["Id"], 25).save(qb=qb, request_id="export-1-txn-7")
    assert again.Id == first.Id
    assert again.MetaData == first.MetaData
    assert len(server.entities("Purchase")) == 1
    assert server.api_requests("POST")[-1].query == {
        "minorversion": "75",
        "requestid": "export-1-txn-7",
    }

    with pytest.raises(GeneralException) as reused:  # the same id for another request
        purchase(bank["Id"], expense["Id"], 99).save(qb=qb, request_id="export-1-txn-7")
    assert reused.value.error_code == 600
    assert len(server.entities("Purchase")) == 1


def test_expired_access_token_is_401_until_refreshed(
    server: QboServer, qb: QuickBooks, connected: AuthClient
) -> None:
    server.seed_account("Rent", "Expense")
    server.expire_access_tokens()
    with pytest.raises(AuthorizationException) as expired:
        Account.filter(Name="Rent", qb=qb)
    assert expired.value.error_code == 401
    fault = json.loads(expired.value.detail)["fault"]
    assert fault["type"] == "AUTHENTICATION"
    assert fault["error"][0]["code"] == "3200"

    connected.refresh()
    renewed = quickbooks_client(server, connected)
    try:
        assert [a.Name for a in Account.filter(Name="Rent", qb=renewed)] == ["Rent"]
    finally:
        renewed.session.close()


def test_throttling_and_server_errors_on_demand(
    server: QboServer, qb: QuickBooks, connected: AuthClient, http: requests.Session
) -> None:
    server.fail_next(429, retry_after=1)
    answer = api_post(
        http, server, connected.access_token, "vendor", '{"DisplayName": "A"}', minorversion="75"
    )
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["Fault"]["Error"][0]["code"] == "3001"
    assert server.entities("Vendor") == []

    server.fail_next(429, retry_after=1)
    vendor = Vendor()
    vendor.DisplayName = "A"
    with pytest.raises(ValidationException) as throttled:  # python-quickbooks maps 3001 here
        vendor.save(qb=qb)
    assert throttled.value.error_code == 3001

    server.fail_next(503, count=2)
    for _ in range(2):
        with pytest.raises(SevereException):
            vendor.save(qb=qb)
    assert vendor.save(qb=qb).DisplayName == "A"  # the failures are used up


def test_minorversion_and_company_are_checked(
    server: QboServer, connected: AuthClient, http: requests.Session
) -> None:
    token = connected.access_token
    missing = api_post(http, server, token, "vendor", '{"DisplayName": "A"}')
    assert missing.status_code == 400
    assert missing.json()["Fault"]["Error"][0]["element"] == "minorversion"

    other = http.post(
        f"{server.api_url}/company/123/vendor",
        params={"minorversion": "75"},
        data='{"DisplayName": "A"}',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert other.status_code == 403
    unauthenticated = http.post(f"{server.api_url}/company/{server.realm_id}/vendor")
    assert unauthenticated.status_code == 401
    assert server.entities("Vendor") == []


def test_fixed_realm_and_clean_shutdown() -> None:
    before = set(threading.enumerate())
    with qbo_server(realm_id="4620816365000000") as running:
        running.seed_vendor("Acme")
        assert running.realm_id == "4620816365000000"
        url = running.base_url
    assert set(threading.enumerate()) == before
    with requests.Session() as session, pytest.raises(requests.ConnectionError):
        session.get(url + "/.well-known/openid_configuration", timeout=2)
