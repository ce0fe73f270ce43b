"""What the fuzzer (``tests/fuzz/``) found, each as the exact request it sent, over real HTTP.

A body the server cannot parse at all (JSON that is not UTF-8; a multipart form without a
boundary) was a bare 400 ("There was an error parsing the body", "Missing boundary in
multipart.") that the OpenAPI document did not list and that named no field. It is now the
422 every other malformed body gets, in FastAPI's shape, with ``loc`` starting at ``body``.
The body is read before the bearer token is checked, so the answer is the same without a key.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.uploads import UPLOAD_PATH

from .harness import LiveServer

NOT_UTF8_BULK_APPROVE = b"\xb3H\xbf\xef\xb5|\x97\xa4\xe67\n\xb2b\xfb\x16HZ\xcc"
OVERLONG_IDEMPOTENCY_KEY = 'L"ih<8' + ";" * 254


def body_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The validation errors of a 422 that is about the body itself."""
    assert response.status_code == 422, response.text
    errors: list[dict[str, Any]] = response.json()["detail"]
    assert errors, response.text
    assert errors[0]["loc"][0] == "body", errors
    return errors


def test_a_json_body_that_is_not_utf8_is_a_422_naming_the_body(live_server: LiveServer) -> None:
    with live_server.client() as http:
        response = http.post(
            "/api/jobs/bulk-approve",
            content=NOT_UTF8_BULK_APPROVE,
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": OVERLONG_IDEMPOTENCY_KEY,
            },
        )
    [error] = body_errors(response)
    assert error["type"] == "json_invalid"
    assert "UTF-8" in error["ctx"]["error"]


def test_without_a_key_a_json_body_that_is_not_utf8_is_a_422_naming_the_body(
    live_server: LiveServer,
) -> None:
    with live_server.client(token=None) as http:
        response = http.post(
            "/api/jobs/categorize",
            content=b"\x97",
            headers={"Content-Type": "application/json", "Authorization": "<oTYR C>S~ow"},
        )
    [error] = body_errors(response)
    assert error["type"] == "json_invalid"


def test_a_multipart_upload_without_a_boundary_is_a_422_naming_the_body(
    live_server: LiveServer,
) -> None:
    with live_server.client() as http:
        response = http.post(
            UPLOAD_PATH,
            headers={"Content-Type": "multipart/form-data", "Idempotency-Key": "0"},
        )
    [error] = body_errors(response)
    assert error["type"] == "multipart_invalid"
    assert "boundary" in error["msg"]


def test_without_a_key_a_multipart_upload_without_a_boundary_is_a_422_naming_the_body(
    live_server: LiveServer,
) -> None:
    with live_server.client(token=None) as http:
        response = http.post(
            UPLOAD_PATH,
            headers={
                "Content-Type": "multipart/form-data",
                "Idempotency-Key": "0",
                # The fuzzer sent "Bearer " (httpx refuses the trailing space; the server
                # strips it, RFC 9110 §5.5).
                "Authorization": "Bearer",
            },
        )
    [error] = body_errors(response)
    assert error["type"] == "multipart_invalid"


def test_a_truncated_multipart_upload_is_a_422_naming_the_body(live_server: LiveServer) -> None:
    with live_server.client() as http:
        response = http.post(
            UPLOAD_PATH,
            content=b"xx",
            headers={"Content-Type": "multipart/form-data; boundary=abc"},
        )
    [error] = body_errors(response)
    assert error["type"] == "multipart_invalid"
