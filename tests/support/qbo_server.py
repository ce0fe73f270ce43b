"""A local QuickBooks Online for tests: Intuit's OAuth 2.0 server and the parts of the
Accounting API (v3) the export uses, on a free 127.0.0.1 port, checking what clients send.

    with qbo_server(client_id="cid", client_secret="secret",
                    redirect_uri="https://app.test/callback") as server:
        auth = AuthClient("cid", "secret", "https://app.test/callback",
                          environment=server.discovery_url)   # intuit-oauth
        qb = QuickBooks(auth_client=auth, refresh_token=..., company_id=realm, minorversion=75)
        qb.api_url_v3 = qb.sandbox_api_url_v3 = server.api_url  # python-quickbooks

python-quickbooks talks through requests-oauthlib, which refuses plain http unless
``OAUTHLIB_INSECURE_TRANSPORT=1`` is in the environment (``monkeypatch.setenv`` in a test).
``server.requests`` records every request (method, path, query, headers, parsed body, raw
bytes) so a test can check the exact payload the product sent.

Documented behaviours implemented (pages followed, all on developer.intuit.com unless said):

* Discovery document (``/app/developer/qbo/docs/develop/authentication-and-authorization/
  oauth-openid-discovery-doc``): ``issuer``, ``authorization_endpoint``, ``token_endpoint``,
  ``revocation_endpoint``, ``userinfo_endpoint``, ``jwks_uri``, on Intuit's paths, all pointing
  at this server.
* OAuth 2.0 (``.../authentication-and-authorization/oauth-2.0``, ``.../faq``, RFC 6749):
  the authorization endpoint takes ``client_id``, ``response_type=code``, ``scope``,
  ``redirect_uri``, ``state`` and, the user's consent being simulated, answers 302 to
  ``redirect_uri?code=..&state=..&realmId=..``; an unknown ``client_id`` or an unregistered
  ``redirect_uri`` gets an error page and no redirect; a bad ``response_type`` or scope is
  redirected with ``error=``. The token endpoint takes HTTP Basic client credentials and a
  form body, ``grant_type=authorization_code`` (a code is single use and must come with its
  ``redirect_uri``) or ``grant_type=refresh_token``, and answers ``{token_type: "bearer",
  access_token, refresh_token, expires_in: 3600, x_refresh_token_expires_in: 8726400}``.
  Bad grants answer 400 ``{"error": "invalid_grant", "error_description": ...}`` (Intuit's
  body for a used or revoked refresh token, seen in routablehq/python-quickbooks#272, #397);
  bad client credentials 401 ``{"error": "invalid_client"}``. The revocation endpoint takes
  JSON ``{"token": ...}`` (a refresh or an access token) and ends the whole grant: its refresh
  tokens and access tokens.
* Accounting API authentication: a missing, unknown, expired or revoked bearer token answers
  401 with the gateway's body ``{"fault": {"error": [{"message": "message=AuthenticationFailed;
  errorCode=003200; statusCode=401", "detail": ..., "code": "3200"}], "type":
  "AUTHENTICATION"}, ...}`` (as quoted in routablehq/python-quickbooks#118, #250); a token
  for another company answers 403 ``message=AuthorizationFailed; errorCode=003100``.
* Create (``/app/developer/qbo/docs/api/accounting/all-entities/{account,vendor,purchase,
  deposit}``): ``POST /v3/company/<realmId>/<entity>`` answers ``{"<Entity>": {..., "Id",
  "SyncToken": "0", "MetaData": {CreateTime, LastUpdatedTime}}, "time": ...}``; properties
  without a value are not returned (data-queries page: "Only those properties with values
  are returned"); TotalAmt is computed from the lines; refs get the referenced name.
  Read: ``GET /v3/company/<realmId>/<entity>/<id>`` (610 Object Not Found).
* Validation faults (``.../develop/troubleshooting/error-codes`` and the "Handling common
  errors" page): HTTP 400 with ``{"Fault": {"Error": [{"Message", "Detail", "code",
  "element"}], "type": "ValidationFault"}, "time"}``: 2020 Required param missing, 2170
  Invalid Enumeration (AccountType, PaymentType), 2500 Invalid Reference Id (a ref to no
  stored entity), 6240 Duplicate Name Exists Error (Account.Name, Vendor.DisplayName), 6000
  business validation (a Check/Cash purchase must pay from a Bank account, CreditCard from a
  Credit Card account; a deposit goes to a Bank or Other Current Asset account), 2010
  Request has invalid or unsupported property (an unknown top-level property), 1050 Invalid
  Content Type (create needs application/json, query application/text).
* Query (``.../learn/explore-the-quickbooks-online-api/data-queries``): ``POST .../query``
  with the statement as an ``application/text`` body, or ``GET .../query?query=``;
  ``SELECT * | COUNT(*) FROM Entity [WHERE p op v [AND ...]] [ORDERBY p [ASC|DESC], ...]
  [STARTPOSITION n] [MAXRESULTS n]`` with ``=, <, >, <=, >=, LIKE ('%' only), IN (...)``, no
  OR; STARTPOSITION is 1-based, MAXRESULTS defaults to 100 and is capped at 1000; the answer
  is ``{"QueryResponse": {"<Entity>": [...], "startPosition", "maxResults"}, "time"}``,
  ``{"QueryResponse": {}}`` when nothing matches, ``{"QueryResponse": {"totalCount": n}}``
  for COUNT(*). Parse errors are fault 4000, unknown entities or properties 4001.
* Batch (``.../explore-the-quickbooks-online-api/batch`` and Intuit's blog "Batch without a
  Scratch", 2023): ``POST .../batch`` with ``{"BatchItemRequest": [{"bId", "operation":
  "create", "<Entity>": {...}} | {"bId", "Query": "..."}]}``; each item is validated like
  its single request, serially, and answers ``{"bId", "<Entity>"}`` or ``{"bId", "Fault"}``;
  more items than ``batch_limit`` (30, the blog's figure and python-quickbooks' chunk size;
  the current batch page says 10, so pass ``batch_limit=10`` to test that) is fault 1040.
* ``requestid`` (Intuit blog "Request ID update for QuickBooks Online integration", 2015):
  a create or batch repeated with a ``requestid`` already seen for the company gets the
  first response again and changes nothing; a requestid is at most 50 characters (36 for a
  batch, whose bIds may then be at most 10). The same requestid with another request is
  fault 600 Duplicate Request ID (error-codes page).
* Throttling (Intuit blog on API throttling, 2016; XML body in intuit/QuickBooks-V3-PHP-SDK
  #54): ``server.fail_next(429, retry_after=1)`` answers HTTP 429 with ``Fault`` type
  ``SERVICE``, code 3001 ``message=ThrottleExceeded; errorCode=003001; statusCode=429``
  (the JSON form of Intuit's XML fault) and a ``Retry-After`` header when asked. A 5xx
  answers a ``SystemFault`` code 10000 "An application error has occurred".

Simplified or stricter than QuickBooks (say so in a test that relies on it):

* ``minorversion`` is REQUIRED (an integer >= 75) unless ``strict_minorversion=False``:
  QuickBooks itself serves a request without it at the minimum version 75 (Intuit blog
  2025-01-21); the test server refuses it (fault 2010) so the product must send it.
* Refresh tokens rotate on every refresh and the previous one is refused at once; Intuit
  documents "always use the latest refresh token" and may hand back the same value for up
  to 24 hours. Earlier access tokens stay valid until expired (``expire_access_tokens()``)
  or revoked. No ``id_token`` is issued (``openid`` scope accepted, ``jwks_uri`` is empty),
  the userinfo endpoint answers a fixed test user. Authorization codes do not time out.
* Revoking an unknown token answers 200 (RFC 7009); Intuit does not document that case.
* A company starts empty (a real one has a default chart of accounts): seed what a test
  needs with ``seed_account`` / ``seed_vendor``. Only Account, Vendor, Purchase and Deposit
  exist; create only (a body with an ``Id`` is an update: fault 500 Unsupported Operation).
  Names are compared exactly (QuickBooks compares some case-insensitively); LIKE is case
  sensitive; the queryable properties are a short list per entity (``QUERYABLE``).
* Only top-level properties are checked against a list of known ones; amounts are numbers
  or numeric strings rounded to cents; currencies, tax, classes, departments, linked
  transactions and item-based lines are not modelled (an ItemBasedExpenseLineDetail line is
  refused with 2500 since no Item exists).
* Throttling and server errors happen only when a test asks (``fail_next``); no rate is
  counted. Every response is JSON (QuickBooks answers XML when asked, and some errors in XML
  whatever was asked).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import http.server
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

JsonDict = dict[str, Any]

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 8726400  # 101 days: what Intuit's token endpoint answers
MINIMUM_MINOR_VERSION = 75
DEFAULT_MAX_RESULTS = 100
MAX_MAX_RESULTS = 1000
REQUEST_ID_MAX = 50
BATCH_REQUEST_ID_MAX = 36
BATCH_ID_MAX_WITH_REQUEST_ID = 10

SCOPES = frozenset(
    {
        "com.intuit.quickbooks.accounting",
        "com.intuit.quickbooks.payment",
        "openid",
        "profile",
        "email",
        "phone",
        "address",
    }
)

# Paths as in Intuit's production discovery document.
DISCOVERY_PATH = "/.well-known/openid_configuration"
AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/oauth2/v1/tokens/revoke"
USERINFO_PATH = "/v1/openid_connect/userinfo"
JWKS_PATH = "/op/v1/jwks"
ISSUER_PATH = "/op/v1"

ACCOUNT_CLASSIFICATION = {
    "Bank": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Receivable": "Asset",
    "Equity": "Equity",
    "Expense": "Expense",
    "Other Expense": "Expense",
    "Cost of Goods Sold": "Expense",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Long Term Liability": "Liability",
    "Other Current Liability": "Liability",
    "Income": "Revenue",
    "Other Income": "Revenue",
}
PAYMENT_ACCOUNT_TYPES = {"Cash": {"Bank"}, "Check": {"Bank"}, "CreditCard": {"Credit Card"}}
DEPOSIT_ACCOUNT_TYPES = {"Bank", "Other Current Asset"}
USD = {"value": "USD", "name": "United States Dollar"}

# Top-level properties a create may send (the entity pages, and what python-quickbooks sends).
_COMMON = "Id SyncToken MetaData domain sparse "
KNOWN_PROPERTIES: dict[str, frozenset[str]] = {
    "Account": frozenset(
        (
            _COMMON + "Name AcctNum AccountType AccountSubType Active Classification CurrencyRef "
            "CurrentBalance CurrentBalanceWithSubAccounts Description FullyQualifiedName "
            "ParentRef SubAccount TaxCodeRef AccountAlias TxnLocationType"
        ).split()
    ),
    "Vendor": frozenset(
        (
            _COMMON + "DisplayName Title GivenName MiddleName FamilyName Suffix CompanyName "
            "PrintOnCheckName Active PrimaryPhone AlternatePhone Mobile Fax PrimaryEmailAddr "
            "WebAddr BillAddr OtherContactInfo TaxIdentifier TaxReportingBasis TermRef Balance "
            "BillRate CostRate AcctNum Vendor1099 CurrencyRef APAccountRef T4AEligible "
            "T5018Eligible VendorPaymentBankDetail"
        ).split()
    ),
    "Purchase": frozenset(
        (
            _COMMON + "AccountRef PaymentType Line EntityRef Credit TxnDate DocNumber "
            "PrivateNote TotalAmt CurrencyRef ExchangeRate DepartmentRef PaymentMethodRef "
            "RemitToAddr TxnTaxDetail GlobalTaxCalculation PrintStatus PurchaseEx TxnSource "
            "LinkedTxn CustomField TransactionLocationType IncludeInAnnualTPAR RecurDataRef"
        ).split()
    ),
    "Deposit": frozenset(
        (
            _COMMON + "DepositToAccountRef Line TxnDate DocNumber PrivateNote TotalAmt "
            "HomeTotalAmt CurrencyRef ExchangeRate DepartmentRef CashBack GlobalTaxCalculation "
            "TxnTaxDetail TxnSource TxnStatus AttachableRef CustomField TransactionLocationType "
            "RecurDataRef"
        ).split()
    ),
}
ENTITIES = tuple(KNOWN_PROPERTIES)
# Properties a WHERE or ORDERBY may name (the entity pages mark them "filterable").
_TIMES = "Id MetaData.CreateTime MetaData.LastUpdatedTime "
QUERYABLE: dict[str, frozenset[str]] = {
    "Account": frozenset(
        (
            _TIMES + "Name SubAccount ParentRef Description Active Classification AccountType "
            "AccountSubType FullyQualifiedName CurrentBalance CurrentBalanceWithSubAccounts "
            "AcctNum"
        ).split()
    ),
    "Vendor": frozenset(
        (
            _TIMES + "DisplayName GivenName MiddleName FamilyName CompanyName PrimaryEmailAddr "
            "Active Balance Vendor1099"
        ).split()
    ),
    "Purchase": frozenset((_TIMES + "TxnDate DocNumber PaymentType TotalAmt").split()),
    "Deposit": frozenset((_TIMES + "TxnDate DocNumber TotalAmt").split()),
}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).astimezone()


def response_time() -> str:
    """The ``time`` of every Accounting API answer, e.g. 2024-04-03T10:22:55.766-07:00."""
    return now().isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultError:
    code: str
    message: str
    detail: str
    element: str = ""

    def to_json(self) -> JsonDict:
        return {
            "Message": self.message,
            "Detail": self.detail,
            "code": self.code,
            "element": self.element,
        }


class QboFault(Exception):
    """An Accounting API error answer: HTTP ``status`` with a ``Fault`` body."""

    def __init__(
        self, error: FaultError, *, status: int = 400, fault_type: str = "ValidationFault"
    ) -> None:
        super().__init__(f"{error.code} {error.message}: {error.detail}")
        self.error = error
        self.status = status
        self.fault_type = fault_type

    def fault(self) -> JsonDict:
        return {"Error": [self.error.to_json()], "type": self.fault_type}

    def body(self) -> JsonDict:
        return {"Fault": self.fault(), "time": response_time()}


def required(element: str) -> QboFault:
    return QboFault(
        FaultError(
            "2020",
            "Required param missing, need to supply the required value for the API",
            f"Required parameter {element} is missing in the request",
            element,
        )
    )


def invalid_reference(kind: str, ref_id: object, element: str) -> QboFault:
    return QboFault(
        FaultError(
            "2500",
            "Invalid Reference Id",
            f"Invalid Reference Id : {kind} element id {ref_id} not found",
            element,
        )
    )


def invalid_enumeration(value: object, element: str) -> QboFault:
    return QboFault(
        FaultError("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element)
    )


def business_rule(detail: str, element: str = "") -> QboFault:
    return QboFault(
        FaultError(
            "6000",
            "A business validation error has occurred while processing your request",
            f"Business Validation Error: {detail}",
            element,
        )
    )


def duplicate_name(existing_id: str) -> QboFault:
    return QboFault(
        FaultError(
            "6240",
            "Duplicate Name Exists Error",
            f"The name supplied already exists. : Id={existing_id}",
        )
    )


def unsupported_property(detail: str, element: str = "") -> QboFault:
    return QboFault(
        FaultError("2010", "Request has invalid or unsupported property", detail, element)
    )


def unsupported_operation(detail: str) -> QboFault:
    return QboFault(FaultError("500", "Unsupported Operation", detail))


def query_parse_error(detail: str) -> QboFault:
    return QboFault(FaultError("4000", "Error parsing query", f"QueryParserError: {detail}"))


def query_invalid(detail: str) -> QboFault:
    return QboFault(FaultError("4001", "Invalid query", f"QueryValidationError: {detail}"))


def throttle_body() -> JsonDict:
    error = FaultError(
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later",
    )
    return QboFault(error, status=429, fault_type="SERVICE").body()


def server_error_body(status: int) -> JsonDict:
    error = FaultError(
        "10000",
        "An application error has occurred while processing your request",
        f"System Failure Error: simulated HTTP {status} (server.fail_next)",
    )
    return QboFault(error, status=status, fault_type="SystemFault").body()


def gateway_fault(status: int, message: str, detail: str, code: str, kind: str) -> JsonDict:
    """The API gateway's own body (401, 403): lower-case keys and a millisecond ``time``."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [{"message": message, "detail": detail, "code": code, "element": None}],
            "type": kind,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(now().timestamp() * 1000),
        "status": None,
        "cdcresponse": [],
    }


def authentication_failed(detail: str) -> tuple[int, JsonDict]:
    message = "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    return 401, gateway_fault(401, message, detail, "3200", "AUTHENTICATION")


def authorization_failed(detail: str) -> tuple[int, JsonDict]:
    message = "message=AuthorizationFailed; errorCode=003100; statusCode=403"
    return 403, gateway_fault(403, message, detail, "3100", "SERVICE")


# --------------------------------------------------------------------------- query language


@dataclass(frozen=True)
class Condition:
    prop: str
    op: str  # "=", "<", ">", "<=", ">=", "LIKE", "IN"
    values: tuple[object, ...]


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool
    conditions: tuple[Condition, ...]
    order_by: tuple[tuple[str, bool], ...]  # (property, descending)
    start_position: int
    max_results: int


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:\\.|[^'\\])*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|=|<|>)|(?P<punct>[(),*])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise query_parse_error(f'Encountered "{text[position : position + 20]}"')
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class QueryParser:
    """A recursive-descent parser for Intuit's select statement (see the data-queries page)."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() in words:
            self.position += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> str:
        got_kind, got = self.take()
        matches = got_kind == kind and (value is None or got.upper() == value)
        if not matches:
            raise query_parse_error(f'Encountered "{got or "<EOF>"}", expected {value or kind}')
        return got

    def parse(self) -> Query:
        self.expect("word", "SELECT")
        count = self.keyword("COUNT")
        if count:
            self.expect("punct", "(")
            self.expect("punct", "*")
            self.expect("punct", ")")
        else:
            self.expect("punct", "*")
        self.expect("word", "FROM")
        entity = self.expect("word")
        conditions: list[Condition] = []
        if self.keyword("WHERE"):
            conditions.append(self.condition())
            while self.keyword("AND"):
                conditions.append(self.condition())
        order_by: list[tuple[str, bool]] = []
        if self.keyword("ORDERBY") or (self.keyword("ORDER") and self.expect("word", "BY")):
            order_by.append(self.order_term())
            while self.peek() == ("punct", ","):
                self.take()
                order_by.append(self.order_term())
        start, max_results = 1, DEFAULT_MAX_RESULTS
        while self.peek()[0] != "end":
            if self.keyword("STARTPOSITION"):
                start = int(self.expect("number"))
            elif self.keyword("MAXRESULTS"):
                max_results = int(self.expect("number"))
            else:
                raise query_parse_error(f'Encountered "{self.peek()[1]}"')
        if start < 1 or max_results < 1:
            raise query_invalid("STARTPOSITION and MAXRESULTS must be positive")
        return Query(
            entity,
            count,
            tuple(conditions),
            tuple(order_by),
            start,
            min(max_results, MAX_MAX_RESULTS),
        )

    def order_term(self) -> tuple[str, bool]:
        prop = self.expect("word")
        if self.keyword("DESC"):
            return prop, True
        self.keyword("ASC")
        return prop, False

    def condition(self) -> Condition:
        prop = self.expect("word")
        if self.keyword("IN"):
            self.expect("punct", "(")
            values = [self.value()]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self.value())
            self.expect("punct", ")")
            return Condition(prop, "IN", tuple(values))
        if self.keyword("LIKE"):
            return Condition(prop, "LIKE", (self.value(),))
        return Condition(prop, self.expect("op"), (self.value(),))

    def value(self) -> object:
        kind, text = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "number":
            return Decimal(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise query_parse_error(f'Encountered "{text or "<EOF>"}", expected a value')


def property_value(entity: Mapping[str, Any], path: str) -> object:
    value: object = entity
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, Mapping):  # a reference compares by its id
        value = value.get("value")
    return value


def comparable(value: object, literal: object) -> tuple[object, object] | None:
    if isinstance(literal, bool) or isinstance(value, bool):
        return (value, literal) if isinstance(value, bool) and isinstance(literal, bool) else None
    if isinstance(literal, Decimal):
        try:
            return Decimal(str(value)), literal
        except InvalidOperation:
            return None
    return (str(value), str(literal)) if value is not None else None


def matches(entity: Mapping[str, Any], condition: Condition) -> bool:
    value = property_value(entity, condition.prop)
    if condition.op == "IN":
        return any(matches(entity, Condition(condition.prop, "=", (v,))) for v in condition.values)
    pair = comparable(value, condition.values[0])
    if pair is None:
        return False
    left, right = pair
    if condition.op == "LIKE":
        pattern = "".join(".*" if c == "%" else re.escape(c) for c in str(right))
        return re.fullmatch(pattern, str(left), re.DOTALL) is not None
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    return compare[condition.op](left, right)


def run_query(text: str, stored: Callable[[str], list[JsonDict]]) -> JsonDict:
    query = QueryParser(text).parse()
    if query.entity not in QUERYABLE:
        raise query_invalid(f"the test server stores no {query.entity} (only {ENTITIES})")
    for prop in [c.prop for c in query.conditions] + [p for p, _ in query.order_by]:
        if prop not in QUERYABLE[query.entity]:
            raise query_invalid(f"property '{prop}' is not queryable")
    rows = [e for e in stored(query.entity) if all(matches(e, c) for c in query.conditions)]
    if query.count:
        return {"totalCount": len(rows)}
    for prop, descending in reversed(query.order_by):
        rows.sort(key=lambda e: str(property_value(e, prop) or ""), reverse=descending)
    page = rows[query.start_position - 1 : query.start_position - 1 + query.max_results]
    if not page:
        return {}
    return {query.entity: page, "startPosition": query.start_position, "maxResults": len(page)}


# --------------------------------------------------------------------------- state


@dataclass
class Grant:
    """One user consent: a company, a client, scopes and the tokens issued under it."""

    realm_id: str
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False
    refresh_token: str = ""  # the only refresh token still usable
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class AuthorizationCode:
    grant: Grant
    redirect_uri: str
    used: bool = False


@dataclass
class Realm:
    realm_id: str
    entities: dict[str, list[JsonDict]] = field(default_factory=lambda: {k: [] for k in ENTITIES})
    next_id: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 1))
    replies: dict[str, tuple[str, int, JsonDict]] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, a form dict, text, or None
    raw: bytes


@dataclass
class InjectedFailure:
    status: int
    retry_after: float | None
    body: JsonDict | str | None


class QboState:
    """Everything the server knows: companies and their entities, grants and tokens, the
    requestid replay cache, injected failures and the request log. One lock guards it."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        realm_id: str | None,
        batch_limit: int,
        strict_minorversion: bool,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.fixed_realm_id = realm_id
        self.batch_limit = batch_limit
        self.strict_minorversion = strict_minorversion
        self.lock = threading.RLock()
        self.realms: dict[str, Realm] = {}
        self.last_realm_id: str | None = None
        self.codes: dict[str, AuthorizationCode] = {}
        self.refresh_tokens: dict[str, Grant] = {}  # every refresh token ever issued
        self.access_tokens: dict[str, Grant] = {}
        self.expired_access_tokens: set[str] = set()
        self.revoked_tokens: list[str] = []
        self.failures: list[InjectedFailure] = []
        self.log: list[RecordedRequest] = []
        self.held_path: str | None = None
        """Answers to requests whose path ends so wait for ``release`` (after the work)."""
        self.release = threading.Event()
        if realm_id is not None:
            self.realm(realm_id)

    # ---- companies

    def realm(self, realm_id: str | None = None) -> Realm:
        with self.lock:
            if realm_id is None:
                realm_id = self.fixed_realm_id or self.last_realm_id
                if realm_id is None:
                    raise LookupError("no company yet: authorize first or pass realm_id")
            if realm_id not in self.realms:
                self.realms[realm_id] = Realm(realm_id)
                self.last_realm_id = realm_id
            return self.realms[realm_id]

    def new_realm_id(self) -> str:
        return self.fixed_realm_id or "9341" + "".join(
            secrets.choice("0123456789") for _ in "x" * 12
        )

    # ---- OAuth 2.0

    def authorize(self, params: Mapping[str, str]) -> tuple[int, str, str]:
        """GET /connect/oauth2: (status, Location or "", error page or "")."""
        if params.get("client_id") != self.client_id:
            return 400, "", "invalid_client: the client_id is not a registered app"
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri != self.redirect_uri:
            return 400, "", "invalid_request: the redirect_uri is not registered for this app"
        reply: dict[str, str] = {}
        if "state" in params:
            reply["state"] = params["state"]
        scopes = tuple(params.get("scope", "").split())
        if params.get("response_type") != "code":
            reply["error"] = "unsupported_response_type"
        elif not scopes or not set(scopes) <= SCOPES:
            reply["error"] = "invalid_scope"
        else:
            with self.lock:
                realm = self.realm(self.new_realm_id())
                code = secrets.token_urlsafe(24)
                grant = Grant(realm.realm_id, self.client_id, scopes)
                self.codes[code] = AuthorizationCode(grant, redirect_uri)
            reply = {"code": code, **reply, "realmId": realm.realm_id}
        separator = "&" if "?" in redirect_uri else "?"
        return 302, f"{redirect_uri}{separator}{urlencode(reply)}", ""

    def client_authenticated(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return False
        return decoded == f"{self.client_id}:{self.client_secret}"

    def token(self, form: Mapping[str, str]) -> tuple[int, JsonDict]:
        """POST /oauth2/v1/tokens/bearer once the client is authenticated."""
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "authorization_code":
                code = self.codes.get(form.get("code", ""))
                if code is None or code.used:
                    return invalid_grant("The authorization code is invalid or already used")
                if form.get("redirect_uri") != code.redirect_uri:
                    return invalid_grant("The redirect_uri does not match the authorization")
                code.used = True
                return 200, self.issue_tokens(code.grant)
            if grant_type == "refresh_token":
                token = form.get("refresh_token", "")
                grant = self.refresh_tokens.get(token)
                if grant is None or grant.revoked or grant.refresh_token != token:
                    return invalid_grant("Incorrect or invalid refresh token")
                return 200, self.issue_tokens(grant)
        return 400, {"error": "unsupported_grant_type"}

    def issue_tokens(self, grant: Grant) -> JsonDict:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        grant.refresh_token = refresh
        grant.access_tokens.add(access)
        self.refresh_tokens[refresh] = grant
        self.access_tokens[access] = grant
        return {
            "token_type": "bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "x_refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
        }

    def revoke(self, token: str) -> None:
        with self.lock:
            grant = self.refresh_tokens.get(token) or self.access_tokens.get(token)
            if grant is not None:
                grant.revoked = True
                self.revoked_tokens.append(token)

    def bearer_grant(self, authorization: str) -> tuple[Grant | None, str]:
        """The grant of a usable access token, or None and why not."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, "Authorization header is missing or is not a Bearer token"
        with self.lock:
            grant = self.access_tokens.get(token)
            if grant is None:
                return None, "Token invalid: unknown access token"
            if grant.revoked:
                return None, "Token revoked"
            if token in self.expired_access_tokens:
                return None, "Token expired: the access token has expired"
            return grant, ""

    # ---- entities

    def stored(self, realm_id: str, kind: str) -> list[JsonDict]:
        with self.lock:
            return copy.deepcopy(self.realm(realm_id).entities[kind])

    def find(self, realm: Realm, kind: str, entity_id: object) -> JsonDict | None:
        return next((e for e in realm.entities[kind] if e["Id"] == str(entity_id)), None)

    def create(self, realm_id: str, kind: str, body: object) -> JsonDict:
        """Validate and store one entity; answers the stored entity (a copy)."""
        if not isinstance(body, dict):
            raise unsupported_property(f"the {kind} body must be a JSON object")
        with self.lock:
            realm = self.realm(realm_id)
            entity = prune(body)
            if entity.get("Id") not in (None, "", 0, "0"):
                raise unsupported_operation(
                    f"Operation update of {kind} is not supported by the test server "
                    "(a body with an Id is an update)"
                )
            unknown = sorted(set(entity) - KNOWN_PROPERTIES[kind])
            if unknown:
                raise unsupported_property(
                    f"Property Name:{unknown[0]} specified is unsupported or invalid", unknown[0]
                )
            VALIDATORS[kind](self, realm, entity)
            entity_id = str(realm.next_id[kind])
            realm.next_id[kind] += 1
            stamp = now().isoformat(timespec="seconds")
            entity.update(
                Id=entity_id,
                SyncToken="0",
                domain="QBO",
                sparse=False,
                MetaData={"CreateTime": stamp, "LastUpdatedTime": stamp},
            )
            realm.entities[kind].append(entity)
            return copy.deepcopy(entity)

    def resolve_ref(
        self, realm: Realm, ref: object, kind: str, element: str
    ) -> JsonDict:  # the referenced entity
        if not isinstance(ref, dict) or not str(ref.get("value", "")):
            raise required(f"{element}.value")
        entity = self.find(realm, kind, ref["value"])
        if entity is None:
            raise invalid_reference(f"{kind}s", ref["value"], element)
        ref["name"] = entity.get("FullyQualifiedName") or entity.get("DisplayName") or ""
        return entity

    def validate_account(self, realm: Realm, entity: JsonDict) -> None:
        name = entity.get("Name")
        if not name:
            raise required("Name")
        if ":" in name or '"' in name:
            raise business_rule("Account Name must not contain a colon or a double quote", "Name")
        account_type = entity.get("AccountType")
        if not account_type:
            raise required("AccountType")
        if account_type not in ACCOUNT_CLASSIFICATION:
            raise invalid_enumeration(account_type, "AccountType")
        qualified = name
        if "ParentRef" in entity:
            parent = self.resolve_ref(realm, entity["ParentRef"], "Account", "ParentRef")
            qualified = f"{parent['FullyQualifiedName']}:{name}"
            entity["SubAccount"] = True
        for other in realm.entities["Account"]:
            if other["FullyQualifiedName"] == qualified:
                raise duplicate_name(other["Id"])
        entity.update(
            FullyQualifiedName=qualified,
            Classification=ACCOUNT_CLASSIFICATION[account_type],
            Active=entity.get("Active", True),
            SubAccount=entity.get("SubAccount", False),
            CurrentBalance=0,
            CurrentBalanceWithSubAccounts=0,
            CurrencyRef=entity.get("CurrencyRef", dict(USD)),
        )

    def validate_vendor(self, realm: Realm, entity: JsonDict) -> None:
        parts = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
        display = entity.get("DisplayName") or " ".join(
            str(entity[p]) for p in parts if entity.get(p)
        )
        if not display:
            raise QboFault(
                FaultError(
                    "6080",
                    "No Name Provided",
                    "Title, GivenName, MiddleName, FamilyName, DisplayName, Suffix - "
                    "one of these must be non-empty",
                    "DisplayName",
                )
            )
        for other in realm.entities["Vendor"]:
            if other["DisplayName"] == display:
                raise duplicate_name(other["Id"])
        entity.update(
            DisplayName=display,
            PrintOnCheckName=entity.get("PrintOnCheckName", display),
            Active=entity.get("Active", True),
            Balance=0,
            CurrencyRef=entity.get("CurrencyRef", dict(USD)),
        )

    def validate_lines(
        self, realm: Realm, entity: JsonDict, detail_type: str, ref_key: str
    ) -> Decimal:
        lines = entity.get("Line")
        if not isinstance(lines, list) or not lines:
            raise required("Line")
        total = Decimal(0)
        for number, line in enumerate(lines, start=1):
            if not isinstance(line, dict):
                raise unsupported_property("Line items must be objects", "Line")
            if line.get("DetailType") != detail_type:
                if line.get("DetailType") is None:
                    raise required("Line.DetailType")
                raise invalid_enumeration(line.get("DetailType"), "Line.DetailType")
            amount = money(line.get("Amount"), "Line.Amount")
            detail = line.get(detail_type)
            if not isinstance(detail, dict):
                raise required(f"Line.{detail_type}")
            self.resolve_ref(realm, detail.get(ref_key), "Account", f"Line.{detail_type}.{ref_key}")
            if detail_type == "DepositLineDetail" and "Entity" in detail:
                self.resolve_ref(realm, detail["Entity"], "Vendor", "Line.DepositLineDetail.Entity")
            line.update(Id=str(number), LineNum=number, Amount=float(amount))
            total += amount
        return total

    def validate_purchase(self, realm: Realm, entity: JsonDict) -> None:
        payment_type = entity.get("PaymentType")
        if not payment_type:
            raise required("PaymentType")
        if payment_type not in PAYMENT_ACCOUNT_TYPES:
            raise invalid_enumeration(payment_type, "PaymentType")
        if "AccountRef" not in entity:
            raise required("AccountRef")
        account = self.resolve_ref(realm, entity["AccountRef"], "Account", "AccountRef")
        if account["AccountType"] not in PAYMENT_ACCOUNT_TYPES[payment_type]:
            raise business_rule(
                f"A {payment_type} purchase must be paid from a "
                f"{' or '.join(sorted(PAYMENT_ACCOUNT_TYPES[payment_type]))} account, "
                f"not {account['AccountType']}",
                "AccountRef",
            )
        if "EntityRef" in entity:  # only vendors are modelled (QuickBooks also takes others)
            ref = entity["EntityRef"]
            ref_type = ref.get("type", "Vendor") if isinstance(ref, dict) else "Vendor"
            if ref_type != "Vendor":
                raise invalid_reference(f"{ref_type}s", ref.get("value"), "EntityRef")
            self.resolve_ref(realm, ref, "Vendor", "EntityRef")
        total = self.validate_lines(realm, entity, "AccountBasedExpenseLineDetail", "AccountRef")
        entity.update(
            TotalAmt=float(total),
            TxnDate=entity.get("TxnDate") or now().date().isoformat(),
            CurrencyRef=entity.get("CurrencyRef", dict(USD)),
        )

    def validate_deposit(self, realm: Realm, entity: JsonDict) -> None:
        if "DepositToAccountRef" not in entity:
            raise required("DepositToAccountRef")
        account = self.resolve_ref(
            realm, entity["DepositToAccountRef"], "Account", "DepositToAccountRef"
        )
        if account["AccountType"] not in DEPOSIT_ACCOUNT_TYPES:
            raise business_rule(
                f"A deposit must go to a Bank or Other Current Asset account, "
                f"not {account['AccountType']}",
                "DepositToAccountRef",
            )
        total = self.validate_lines(realm, entity, "DepositLineDetail", "AccountRef")
        entity.update(
            TotalAmt=float(total),
            TxnDate=entity.get("TxnDate") or now().date().isoformat(),
            CurrencyRef=entity.get("CurrencyRef", dict(USD)),
        )

    # ---- query and batch

    def query(self, realm_id: str, text: str) -> JsonDict:
        with self.lock:
            self.realm(realm_id)
            return run_query(text, lambda kind: self.stored(realm_id, kind))

    def batch(self, realm_id: str, body: object) -> JsonDict:
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise required("BatchItemRequest")
        if len(items) > self.batch_limit:
            raise QboFault(
                FaultError(
                    "1040",
                    "Batch size exceeds allowed limit",
                    f"The batch size {len(items)} exceeds the limit of {self.batch_limit}",
                )
            )
        bids = [item.get("bId") if isinstance(item, dict) else None for item in items]
        if any(not bid for bid in bids):
            raise required("BatchItemRequest.bId")
        if len(set(bids)) != len(bids):
            raise unsupported_property("bId must be unique within a batch", "bId")
        return {"BatchItemResponse": [self.batch_item(realm_id, item) for item in items]}

    def batch_item(self, realm_id: str, item: JsonDict) -> JsonDict:
        bid = item["bId"]
        try:
            if "Query" in item:
                return {"bId": bid, "QueryResponse": self.query(realm_id, str(item["Query"]))}
            kinds = [k for k in item if k not in ("bId", "operation", "optionsData")]
            if len(kinds) != 1:
                raise required("BatchItemRequest.<Entity> or BatchItemRequest.Query")
            kind = kinds[0]
            if kind not in ENTITIES:
                raise unsupported_operation(f"Entity {kind} is not supported by the test server")
            if item.get("operation") != "create":
                raise unsupported_operation(
                    f"Operation {item.get('operation')} is not supported by the test server"
                )
            return {"bId": bid, kind: self.create(realm_id, kind, item[kind])}
        except QboFault as fault:
            return {"bId": bid, "Fault": fault.fault()}

    # ---- requestid

    def replay(self, realm_id: str, request_id: str, signature: str) -> tuple[int, JsonDict] | None:
        with self.lock:
            seen = self.realm(realm_id).replies.get(request_id)
        if seen is None:
            return None
        first_signature, status, body = seen
        if first_signature != signature:
            raise QboFault(
                FaultError(
                    "600",
                    "Duplicate Request ID",
                    f"The requestid {request_id} was used before for another request",
                )
            )
        return status, copy.deepcopy(body)

    def remember(
        self, realm_id: str, request_id: str, signature: str, status: int, body: JsonDict
    ) -> None:
        with self.lock:
            replies = self.realm(realm_id).replies
            replies.setdefault(request_id, (signature, status, copy.deepcopy(body)))


VALIDATORS: dict[str, Callable[[QboState, Realm, JsonDict], None]] = {
    "Account": QboState.validate_account,
    "Vendor": QboState.validate_vendor,
    "Purchase": QboState.validate_purchase,
    "Deposit": QboState.validate_deposit,
}


def invalid_grant(description: str) -> tuple[int, JsonDict]:
    return 400, {"error": "invalid_grant", "error_description": description}


def prune(value: Any) -> Any:
    """Drop properties without a value ("", None, [], {}), as QuickBooks does."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ("", None, [], {})}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def money(value: object, element: str) -> Decimal:
    if value is None or value == "":
        raise required(element)
    if isinstance(value, bool):
        raise unsupported_property(f"{element} must be a number", element)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise unsupported_property(f"{element} must be a number, not {value!r}", element) from None
    if not amount.is_finite():
        raise unsupported_property(f"{element} must be a number, not {value!r}", element)
    return amount.quantize(Decimal("0.01"))


# --------------------------------------------------------------------------- HTTP


_COMPANY_PATH = re.compile(r"^/v3/company/(?P<realm>[^/]+)/(?P<rest>[A-Za-z]+(?:/[^/]+)?)$")


class QboRequestHandler(http.server.BaseHTTPRequestHandler):
    """Routes one request to the OAuth or Accounting API functions of :class:`QboState`."""

    server: QboHTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection: no handler thread lingers
    url_path: str
    params: dict[str, str]
    raw: bytes

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ---- plumbing

    @property
    def state(self) -> QboState:
        return self.server.state

    def do_GET(self) -> None:
        self.handle_request()

    def do_POST(self) -> None:
        self.handle_request()

    def handle_request(self) -> None:
        url = urlsplit(self.path)
        self.url_path = url.path
        self.params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(length) if length else b""
        self.record()
        routes: dict[tuple[str, str], Callable[[], None]] = {
            ("GET", DISCOVERY_PATH): self.discovery,
            ("GET", AUTHORIZE_PATH): self.authorize,
            ("POST", TOKEN_PATH): self.token,
            ("POST", REVOKE_PATH): self.revoke,
            ("GET", USERINFO_PATH): self.userinfo,
            ("GET", JWKS_PATH): lambda: self.send_json(200, {"keys": []}),
        }
        route = routes.get((self.command, url.path.rstrip("/") or "/"))
        if route is not None:
            route()
        elif url.path.startswith("/v3/"):
            self.accounting()
        else:
            self.send_json(404, {"error": "not_found", "path": url.path})

    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def parsed_body(self) -> Any:
        text = self.raw.decode("utf-8", "replace")
        if not self.raw:
            return None
        if self.content_type() == "application/json":
            try:
                return json.loads(text)
            except ValueError:
                return text
        if self.content_type() == "application/x-www-form-urlencoded":
            return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
        return text

    def record(self) -> None:
        request = RecordedRequest(
            method=self.command,
            path=self.url_path,
            query=dict(self.params),
            headers={k: v for k, v in self.headers.items()},
            body=self.parsed_body(),
            raw=self.raw,
        )
        with self.state.lock:
            self.state.log.append(request)

    def send_body(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(
        self, status: int, body: object, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_body(status, data, "application/json;charset=UTF-8", headers)

    # ---- OAuth 2.0

    def discovery(self) -> None:
        base = self.server.base_url
        self.send_json(
            200,
            {
                "issuer": base + ISSUER_PATH,
                "authorization_endpoint": base + AUTHORIZE_PATH,
                "token_endpoint": base + TOKEN_PATH,
                "userinfo_endpoint": base + USERINFO_PATH,
                "revocation_endpoint": base + REVOKE_PATH,
                "jwks_uri": base + JWKS_PATH,
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": sorted(SCOPES),
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "claims_supported": ["sub", "email", "givenName", "familyName"],
            },
        )

    def authorize(self) -> None:
        status, location, error = self.state.authorize(self.params)
        if status == 302:
            self.send_body(302, b"", "text/plain", {"Location": location})
        else:
            page = f"<html><body><h1>Something went wrong</h1><p>{error}</p></body></html>"
            self.send_body(status, page.encode(), "text/html;charset=UTF-8")

    def token(self) -> None:
        if not self.state.client_authenticated(self.headers.get("Authorization", "")):
            self.send_json(401, {"error": "invalid_client"})
        elif self.content_type() != "application/x-www-form-urlencoded":
            self.send_json(400, {"error": "invalid_request", "error_description": "form body"})
        else:
            status, body = self.state.token(self.parsed_body() or {})
            self.send_json(status, body, {"Cache-Control": "no-store"})

    def revoke(self) -> None:
        body = self.parsed_body()
        if not self.state.client_authenticated(self.headers.get("Authorization", "")):
            self.send_json(401, {"error": "invalid_client"})
        elif not isinstance(body, dict) or not isinstance(body.get("token"), str):
            self.send_json(400, {"error": "invalid_request", "error_description": "token"})
        else:
            self.state.revoke(body["token"])
            self.send_body(200, b"", "application/json")

    def userinfo(self) -> None:
        grant, why = self.state.bearer_grant(self.headers.get("Authorization", ""))
        if grant is None or "openid" not in grant.scopes:
            self.send_json(401, {"error": "invalid_token", "error_description": why or "scope"})
        else:
            user = {"sub": f"user-{grant.realm_id}", "givenName": "Test", "familyName": "User"}
            self.send_json(200, {**user, "email": "test.user@example.com"})

    # ---- Accounting API

    def accounting(self) -> None:
        failure = self.next_failure()
        if failure is not None:
            self.send_failure(failure)
            return
        match = _COMPANY_PATH.match(self.url_path)
        grant, why = self.state.bearer_grant(self.headers.get("Authorization", ""))
        if grant is None:
            self.send_json(*authentication_failed(why))
        elif match is None:
            self.send_json(404, unsupported_operation(f"No resource at {self.url_path}").body())
        elif match["realm"] != grant.realm_id:
            detail = f"the access token was issued for company {grant.realm_id}"
            self.send_json(*authorization_failed(detail))
        else:
            try:
                status, body = self.company_call(match["realm"], match["rest"])
            except QboFault as fault:
                status, body = fault.status, fault.body()
            self.send_json(status, body)

    def next_failure(self) -> InjectedFailure | None:
        with self.state.lock:
            return self.state.failures.pop(0) if self.state.failures else None

    def send_failure(self, failure: InjectedFailure) -> None:
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = f"{failure.retry_after:g}"
        body = failure.body
        if body is None:
            body = throttle_body() if failure.status == 429 else server_error_body(failure.status)
        if isinstance(body, str):
            self.send_body(failure.status, body.encode(), "text/plain", headers)
        else:
            self.send_json(failure.status, body, headers)

    def company_call(self, realm_id: str, rest: str) -> tuple[int, JsonDict]:
        self.check_minorversion()
        resource, _, entity_id = rest.partition("/")
        kind = next((k for k in ENTITIES if k.lower() == resource), None)
        if resource == "query":
            return 200, self.query(realm_id)
        if self.command == "GET" and kind is not None and entity_id:
            return self.read(realm_id, kind, entity_id)
        if self.command == "POST" and not entity_id and (kind is not None or resource == "batch"):
            return self.write(realm_id, kind)
        raise unsupported_operation(f"Operation {self.command} {rest} is not supported")

    def check_minorversion(self) -> None:
        value = self.params.get("minorversion")
        if not self.state.strict_minorversion:
            return
        if value is None or not value.isdigit() or int(value) < MINIMUM_MINOR_VERSION:
            raise unsupported_property(
                f"minorversion={value} : the test server requires minorversion >= "
                f"{MINIMUM_MINOR_VERSION} on every request",
                "minorversion",
            )

    def query(self, realm_id: str) -> JsonDict:
        if self.command == "GET":
            text = self.params.get("query", "")
        elif self.content_type() in ("application/text", "text/plain"):
            text = self.raw.decode("utf-8")
        else:
            raise invalid_content_type(self.content_type(), "application/text")
        return {"QueryResponse": self.state.query(realm_id, text), "time": response_time()}

    def read(self, realm_id: str, kind: str, entity_id: str) -> tuple[int, JsonDict]:
        entity = next((e for e in self.state.stored(realm_id, kind) if e["Id"] == entity_id), None)
        if entity is None:
            detail = f"Object Not Found : {kind} {entity_id} does not exist or was deleted"
            raise QboFault(FaultError("610", "Object Not Found", detail))
        return 200, {kind: entity, "time": response_time()}

    def write(self, realm_id: str, kind: str | None) -> tuple[int, JsonDict]:
        """A create or a batch, replayed when its requestid was seen before."""
        if self.content_type() != "application/json":
            raise invalid_content_type(self.content_type(), "application/json")
        body = self.parsed_body()
        if isinstance(body, str) or body is None:
            raise unsupported_property("The request body is not valid JSON")
        request_id = self.params.get("requestid")
        if request_id is None:
            return 200, self.perform(realm_id, kind, body)
        limit = REQUEST_ID_MAX if kind else BATCH_REQUEST_ID_MAX
        if not request_id or len(request_id) > limit:
            raise unsupported_property(
                f"requestid must have 1 to {limit} characters, not {len(request_id)}", "requestid"
            )
        if kind is None and isinstance(body, dict):
            for item in body.get("BatchItemRequest") or []:
                if isinstance(item, dict) and len(str(item.get("bId", ""))) > 10:
                    raise unsupported_property(
                        f"bId {item.get('bId')} is longer than {BATCH_ID_MAX_WITH_REQUEST_ID} "
                        "characters, the limit when a requestid is given",
                        "bId",
                    )
        signature = json.dumps([self.url_path, body], sort_keys=True)
        with self.state.lock:  # a retry racing its original waits for it, then replays
            replayed = self.state.replay(realm_id, request_id, signature)
            if replayed is not None:
                return replayed
            try:
                status, answer = 200, self.perform(realm_id, kind, body)
            except QboFault as fault:
                status, answer = fault.status, fault.body()
            self.state.remember(realm_id, request_id, signature, status, answer)
        held = self.state.held_path
        if held is not None and self.url_path.endswith(held):
            self.state.release.wait(HOLD_SECONDS)  # the work is done; the answer waits
        return status, answer

    def perform(self, realm_id: str, kind: str | None, body: object) -> JsonDict:
        if kind is None:
            answer = self.state.batch(realm_id, body)
        else:
            answer = {kind: self.state.create(realm_id, kind, body)}
        return {**answer, "time": response_time()}


def invalid_content_type(got: str, expected: str) -> QboFault:
    return QboFault(
        FaultError(
            "1050", "Invalid Content Type", f"Content-Type {got or '<none>'} : expected {expected}"
        )
    )


HOLD_SECONDS = 60.0
"""The longest a held answer waits (a test that forgets to release still ends)."""


class QboHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads

    def __init__(self, state: QboState) -> None:
        super().__init__(("127.0.0.1", 0), QboRequestHandler)
        self.state = state
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"


# --------------------------------------------------------------------------- public API


class QboServer:
    """A running server: its URLs, and hooks to seed, inspect and disturb it."""

    def __init__(self, http_server: QboHTTPServer) -> None:
        self._http = http_server
        self._state = http_server.state
        self.base_url = http_server.base_url
        self.discovery_url = self.base_url + DISCOVERY_PATH
        self.api_url = self.base_url + "/v3"
        self.authorization_endpoint = self.base_url + AUTHORIZE_PATH
        self.token_endpoint = self.base_url + TOKEN_PATH
        self.revocation_endpoint = self.base_url + REVOKE_PATH

    # ---- companies and entities

    @property
    def realm_id(self) -> str | None:
        """The fixed company, else the company of the latest authorization (or None)."""
        with self._state.lock:
            return self._state.fixed_realm_id or self._state.last_realm_id

    def hold_answers(self, path_suffix: str) -> None:
        """From now on, a create or batch whose path ends with ``path_suffix`` is done (and
        remembered for its requestid) but its answer waits until :meth:`release_answers`:
        the moment a client can die between QuickBooks' work and hearing of it."""
        with self._state.lock:
            self._state.release.clear()
            self._state.held_path = path_suffix

    def release_answers(self) -> None:
        with self._state.lock:
            self._state.held_path = None
            self._state.release.set()

    def add_realm(self, realm_id: str | None = None) -> str:
        """Create a company (to seed before anyone authorizes); answers its id."""
        return self._state.realm(realm_id or self._state.new_realm_id()).realm_id

    def entities(self, kind: str, realm_id: str | None = None) -> list[JsonDict]:
        """What is stored, in creation order: copies of the entities as answered."""
        if kind not in ENTITIES:
            raise ValueError(f"kind must be one of {ENTITIES}")
        return self._state.stored(self._state.realm(realm_id).realm_id, kind)

    def seed_account(
        self,
        name: str,
        account_type: str = "Expense",
        *,
        realm_id: str | None = None,
        **fields: Any,
    ) -> JsonDict:
        """Store an Account as if created through the API (validated the same way)."""
        body = {"Name": name, "AccountType": account_type, **fields}
        return self._state.create(self._state.realm(realm_id).realm_id, "Account", body)

    def seed_vendor(self, name: str, *, realm_id: str | None = None, **fields: Any) -> JsonDict:
        body = {"DisplayName": name, **fields}
        return self._state.create(self._state.realm(realm_id).realm_id, "Vendor", body)

    # ---- tokens

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens stay usable)."""
        with self._state.lock:
            self._state.expired_access_tokens.update(self._state.access_tokens)

    @property
    def revoked(self) -> list[str]:
        """The tokens the revocation endpoint accepted, in order."""
        with self._state.lock:
            return list(self._state.revoked_tokens)

    def token_state(self, token: str) -> str:
        """``active``, ``expired`` (access), ``rotated`` (refresh), ``revoked`` or ``unknown``."""
        with self._state.lock:
            grant = self._state.access_tokens.get(token)
            if grant is not None:
                if grant.revoked:
                    return "revoked"
                return "expired" if token in self._state.expired_access_tokens else "active"
            grant = self._state.refresh_tokens.get(token)
            if grant is None:
                return "unknown"
            if grant.revoked:
                return "revoked"
            return "active" if grant.refresh_token == token else "rotated"

    # ---- disturbances and the log

    def fail_next(
        self,
        status: int,
        count: int = 1,
        retry_after: float | None = None,
        body: JsonDict | str | None = None,
    ) -> None:
        """The next ``count`` Accounting API requests answer ``status`` before anything else
        (no auth check, nothing stored, no requestid remembered). Default bodies: a 429
        ThrottleExceeded fault, else a SystemFault; ``Retry-After`` only when given."""
        with self._state.lock:
            self._state.failures.extend(
                InjectedFailure(status, retry_after, body) for _ in range(count)
            )

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order (a copy)."""
        with self._state.lock:
            return list(self._state.log)

    def api_requests(self, method: str | None = None) -> list[RecordedRequest]:
        """The Accounting API requests (``/v3/...``), optionally of one method."""
        return [
            r
            for r in self.requests
            if r.path.startswith("/v3/") and (method is None or r.method == method)
        ]


@contextmanager
def qbo_server(
    *,
    client_id: str = "test-client-id",
    client_secret: str = "test-client-secret",
    redirect_uri: str = "https://app.example.test/qbo/callback",
    realm_id: str | None = None,
    batch_limit: int = 30,
    strict_minorversion: bool = True,
) -> Iterator[QboServer]:
    """Serve a fresh QuickBooks Online on a free 127.0.0.1 port for the ``with`` block."""
    state = QboState(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        realm_id=realm_id,
        batch_limit=batch_limit,
        strict_minorversion=strict_minorversion,
    )
    http_server = QboHTTPServer(state)
    thread = threading.Thread(
        target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, name="qbo-server"
    )
    thread.start()
    try:
        yield QboServer(http_server)
    finally:
        state.release.set()  # no handler thread may wait past the server
        http_server.shutdown()
        thread.join(10)
        http_server.server_close()
        if thread.is_alive():
            raise RuntimeError("the QuickBooks test server did not stop")
