"""The rows of ``docs/bad-input.md`` that no other test proved: each hostile input over real
HTTP against the live server, asserting the status and that ``detail`` names the field (the
header, the token, the parameter) that was wrong."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from tests.support.jobs_http import accepted_job_id, job_view
from tests.support.uploads import UPLOAD_PATH, upload_statement

from .conftest import Company
from .harness import JWT_SECRET, LiveServer

CATEGORIZE = "/api/jobs/categorize"
LISTING = "/api/jobs/company/c1"
MIB = 1024 * 1024


def detail_of(response: httpx.Response, status: int) -> str:
    """The plain ``detail`` of an error answer, after checking its status."""
    assert response.status_code == status, response.text[:300]
    detail: str = response.json()["detail"]
    return detail


def field_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The validation errors of a 422 (FastAPI's list of ``{type, loc, msg, ...}``)."""
    assert response.status_code == 422, response.text[:300]
    errors: list[dict[str, Any]] = response.json()["detail"]
    return errors


def only_error_at(response: httpx.Response, loc: list[str | int]) -> dict[str, Any]:
    """The one validation error of a 422, which must be at ``loc``."""
    [error] = field_errors(response)
    assert error["loc"] == loc, error
    return error


def unauthorized_detail(live_server: LiveServer, token: str) -> str:
    with live_server.client(token) as http:
        response = http.get(LISTING)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    return detail_of(response, 401)


def categorize_body(company_id: str = "c1", **fields: Any) -> dict[str, Any]:
    return {"company_id": company_id, "tenant_id": "t1", **fields}


# -- authentication and tenancy ------------------------------------------------------------


def test_an_unknown_api_key_is_a_401_naming_the_key(live_server: LiveServer) -> None:
    assert unauthorized_detail(live_server, "not-a-key") == "unknown API key"


def test_a_malformed_jwt_is_a_401_naming_the_token(live_server: LiveServer) -> None:
    assert unauthorized_detail(live_server, "a.b.c").startswith("malformed token: ")


def test_another_auth_scheme_is_a_401_naming_the_header(live_server: LiveServer) -> None:
    with live_server.client(token=None) as http:
        response = http.get(LISTING, headers={"Authorization": "Basic dXNlcjpwdw=="})

    assert "Authorization: Bearer" in detail_of(response, 401)


@pytest.mark.parametrize("algorithm", ["none", "HS512"])
def test_a_jwt_with_an_algorithm_not_accepted_is_a_401_naming_it(
    live_server: LiveServer, algorithm: str
) -> None:
    key = None if algorithm == "none" else "k" * 64
    token = jwt.encode({"tenant_id": "t1", "company_ids": ["c1"]}, key, algorithm=algorithm)

    detail = unauthorized_detail(live_server, token)

    assert detail == f"token algorithm {algorithm!r} is not accepted here"


def test_a_jwt_signed_with_another_secret_is_a_401_naming_the_signature(
    live_server: LiveServer,
) -> None:
    token = jwt.encode({"tenant_id": "t1", "company_ids": ["c1"]}, "another-secret-" * 3)

    assert unauthorized_detail(live_server, token) == (
        "invalid token: Signature verification failed"
    )


def test_a_jwt_without_a_tenant_claim_is_a_401_naming_the_claim(live_server: LiveServer) -> None:
    token = jwt.encode({"company_ids": ["c1"]}, JWT_SECRET, algorithm="HS256")

    assert "tenant_id" in unauthorized_detail(live_server, token)


@pytest.mark.parametrize("route", ["start", "listing", "upload"])
def test_a_company_outside_the_grant_is_a_403_naming_company_id(
    client: httpx.Client, sample_statement: bytes, route: str
) -> None:
    if route == "start":
        response = client.post(CATEGORIZE, json=categorize_body("c9"))
    elif route == "listing":
        response = client.get("/api/jobs/company/c9")
    else:
        response = upload_statement(client, "c9", sample_statement)

    assert detail_of(response, 403) == "company_id 'c9' is not in your grant"


def test_an_upload_for_another_tenant_is_a_403_naming_tenant_id(
    client: httpx.Client, sample_statement: bytes
) -> None:
    response = upload_statement(client, "c1", sample_statement, tenant_id="t2")

    assert detail_of(response, 403) == "tenant_id is not yours"


@pytest.mark.parametrize(
    ("first", "last", "status"), [("c9", "c1", 202), ("c1", "c9", 403)], ids=["c1-last", "c9-last"]
)
def test_duplicate_json_keys_count_once_for_the_grant_and_the_job(
    client: httpx.Client, first: str, last: str, status: int
) -> None:
    body = f'{{"company_id": "{first}", "company_id": "{last}", "tenant_id": "t1"}}'

    response = client.post(
        CATEGORIZE, content=body.encode(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == status, response.text
    if status == 202:
        assert job_view(client, accepted_job_id(response))["company_id"] == last
    else:
        assert "company_id" in detail_of(response, 403)


# -- JSON bodies -------------------------------------------------------------------------------


def test_malformed_json_is_a_422_at_its_position_in_the_body(client: httpx.Client) -> None:
    response = client.post(
        CATEGORIZE, content=b'{"company_id": "c1",', headers={"Content-Type": "application/json"}
    )

    error = only_error_at(response, ["body", 20])
    assert error["type"] == "json_invalid"


def test_json_nested_too_deeply_is_a_422_naming_the_body(client: httpx.Client) -> None:
    response = client.post(
        CATEGORIZE, content=b"[" * 100_000, headers={"Content-Type": "application/json"}
    )

    error = only_error_at(response, ["body"])
    assert error["type"] == "json_invalid"
    assert error["ctx"]["error"] == "nested too deeply"


@pytest.mark.parametrize(
    "body", [b'["c1"]', b'"c1"', b"5", b"null"], ids=["array", "string", "number", "null"]
)
def test_a_json_body_that_is_not_an_object_is_a_422_naming_the_body(
    client: httpx.Client, body: bytes
) -> None:
    response = client.post(CATEGORIZE, content=body, headers={"Content-Type": "application/json"})

    assert only_error_at(response, ["body"])["type"] == "model_attributes_type"


def test_json_sent_as_text_plain_is_a_422_naming_the_body(client: httpx.Client) -> None:
    response = client.post(
        CATEGORIZE,
        content=b'{"company_id": "c1", "tenant_id": "t1"}',
        headers={"Content-Type": "text/plain"},
    )

    assert only_error_at(response, ["body"])["type"] == "model_attributes_type"


@pytest.mark.parametrize(
    ("path", "body", "loc", "error_type"),
    [
        (CATEGORIZE, categorize_body("c" * 100_000), ["body", "company_id"], "string_too_long"),
        (
            "/api/jobs/bulk-approve",
            categorize_body(transaction_ids=["t" * 65]),
            ["body", "transaction_ids", 0],
            "string_too_long",
        ),
        (CATEGORIZE, categorize_body(limit=10**30), ["body", "limit"], "less_than_equal"),
        (CATEGORIZE, categorize_body(limit=-1), ["body", "limit"], "greater_than_equal"),
        (CATEGORIZE, categorize_body(limit=5.0), ["body", "limit"], "int_type"),
        (CATEGORIZE, categorize_body(type="bulk-approve"), ["body", "type"], "literal_error"),
    ],
    ids=["huge-company-id", "long-transaction-id", "huge-limit", "negative-limit", "float-limit",
         "another-job-type"],
)  # fmt: skip
def test_an_oversized_or_out_of_range_field_is_a_422_naming_it(
    client: httpx.Client, path: str, body: dict[str, Any], loc: list[str | int], error_type: str
) -> None:
    error = only_error_at(client.post(path, json=body), loc)

    assert error["type"] == error_type
    assert len(str(error["input"])) < 300


def test_a_json_body_over_the_upload_limit_is_a_413_before_it_is_read(
    client: httpx.Client,
) -> None:
    response = client.post(
        CATEGORIZE, content=b" " * (21 * MIB), headers={"Content-Type": "application/json"}
    )

    detail = detail_of(response, 413)
    assert detail.startswith("body: ") and "byte limit" in detail, "it names the body, not a file"


# -- query parameters and headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"cursor": "x" * 600}, "cursor"),
    ],
    ids=["limit-zero", "limit-over-500", "limit-not-a-number", "cursor-too-long"],
)
def test_a_bad_listing_parameter_is_a_422_naming_it(
    client: httpx.Client, params: dict[str, str], name: str
) -> None:
    only_error_at(client.get(LISTING, params=params), ["query", name])


@pytest.mark.parametrize("key", ["", "k" * 256], ids=["empty", "over-255-characters"])
def test_a_bad_idempotency_key_is_a_422_naming_the_header(client: httpx.Client, key: str) -> None:
    response = client.post(CATEGORIZE, json=categorize_body(), headers={"Idempotency-Key": key})

    only_error_at(response, ["header", "Idempotency-Key"])


def test_an_unsupported_method_is_a_405(client: httpx.Client) -> None:
    response = client.put("/api/jobs/job-00000000000000000000")

    assert detail_of(response, 405) == "Method Not Allowed"
    assert "GET" in response.headers["Allow"]


# -- path traversal ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "loc"),
    [
        ({"company_id": "../c1", "tenant_id": "t1"}, ["body", "company_id"]),
        ({"company_id": "c1", "tenant_id": "t1/../t2"}, ["body", "tenant_id"]),
        ({"company_id": "c1\x00", "tenant_id": "t1"}, ["body", "company_id"]),
    ],
    ids=["dot-dot-company", "slash-tenant", "nul-company"],
)
def test_path_characters_in_an_id_are_a_422_naming_it(
    client: httpx.Client, sample_statement: bytes, form: dict[str, str], loc: list[str]
) -> None:
    as_json = client.post(CATEGORIZE, json=form)
    as_form = client.post(
        UPLOAD_PATH, data=form, files={"file": ("statement.csv", sample_statement, "text/csv")}
    )

    for response in (as_json, as_form):
        assert only_error_at(response, loc)["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize(
    ("path", "job_id"),
    [("/api/jobs/..%5C..%5Cwindows", "..\\..\\windows"), ("/api/jobs/%2E%2E", "..")],
    ids=["backslashes", "dot-dot"],
)
def test_path_traversal_in_a_job_id_is_a_404_quoting_the_id(
    client: httpx.Client, path: str, job_id: str
) -> None:
    assert detail_of(client.get(path), 404) == f"job {job_id!r} not found"


def test_path_traversal_across_segments_matches_no_route(client: httpx.Client) -> None:
    response = client.get("/api/jobs/..%2F..%2Fetc%2Fpasswd")

    assert detail_of(response, 404) == "Not Found"


def test_path_traversal_in_an_upload_name_is_only_a_name(
    live_server: LiveServer, company: Company, sample_statement: bytes
) -> None:
    before = set(live_server.artifact_files())
    escape = live_server.settings.data_dir / "escaped.csv"
    name = "../" * 12 + str(escape).lstrip("/")

    response = upload_statement(company.http, company.id, sample_statement, filename=name)

    accepted_job_id(response)
    [stored] = set(live_server.artifact_files()) - before
    assert stored.is_relative_to(live_server.settings.artifacts_dir)
    assert len(stored.name) == 32 and stored.name.isalnum()
    assert not escape.exists()
