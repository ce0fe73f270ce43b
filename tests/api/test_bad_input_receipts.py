"""The receipt rows of ``docs/bad-input.md`` that ``test_receipts.py`` does not prove: each
hostile input to the receipt routes and the ``ocr`` route over real HTTP against the live
server, asserting the status and that ``detail`` names the field (the path's receipt, the
form field, the query parameter, the body field) that was wrong."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Company
from .harness import KEY_B, LiveServer
from .test_bad_input_table import detail_of, only_error_at

RECEIPT = Path(__file__).resolve().parents[1] / "fixtures" / "receipts" / "X51006556830.jpg"
MISSING = "rcpt-00000000000000000000"
MIB = 1024 * 1024


def upload(http: httpx.Client, form: dict[str, str], data: bytes | None = None) -> httpx.Response:
    files = {"file": ("r.jpg", another_receipt() if data is None else data, "image/jpeg")}
    return http.post("/api/receipts", data=form, files=files)


def another_receipt() -> bytes:
    """The real receipt made a file of its own (the same file again is the same receipt):
    readers ignore bytes after a JPEG's end."""
    return RECEIPT.read_bytes() + secrets.token_bytes(8)


def form_of(company: Company, company_id: str | None = None) -> dict[str, str]:
    return {"company_id": company_id or company.id, "tenant_id": company.tenant_id}


def uploaded(company: Company, company_id: str | None = None) -> str:
    response = upload(company.http, form_of(company, company_id))
    assert response.status_code == 201, response.text
    receipt_id: str = response.json()["receipt_id"]
    return receipt_id


def ocr_body(company_id: str, tenant_id: str, receipt_id: str, **extra: Any) -> dict[str, Any]:
    return {"company_id": company_id, "tenant_id": tenant_id, "receipt_id": receipt_id, **extra}


def assert_receipt_not_found(http: httpx.Client, receipt_id: str) -> None:
    """GET of the receipt and of its file: a 404 quoting the id, as for a missing one."""
    for path in (f"/api/receipts/{receipt_id}", f"/api/receipts/{receipt_id}/file"):
        assert detail_of(http.get(path), 404) == f"receipt '{receipt_id}' not found", path


def test_another_tenants_receipt_is_a_404_naming_it_like_a_missing_one(
    live_server: LiveServer, company: Company
) -> None:
    theirs = uploaded(company)

    with live_server.client(KEY_B) as other:
        assert_receipt_not_found(other, theirs)
        assert_receipt_not_found(other, MISSING)  # the very same answer
        started = other.post("/api/jobs/ocr", json=ocr_body("c9", "t2", theirs))

    assert detail_of(started, 404) == f"receipt_id: receipt '{theirs}' not found in company 'c9'"


def test_another_companys_receipt_of_your_tenant_is_a_404_naming_it(
    live_server: LiveServer, company: Company
) -> None:
    sibling_receipt = uploaded(company, company.sibling)

    with live_server.client_for(company.tenant_id, [company.id]) as http:
        assert_receipt_not_found(http, sibling_receipt)
        started = http.post(
            "/api/jobs/ocr", json=ocr_body(company.id, company.tenant_id, sibling_receipt)
        )

    assert detail_of(started, 404) == (
        f"receipt_id: receipt '{sibling_receipt}' not found in company '{company.id}'"
    )


def test_an_unknown_receipt_id_is_a_404_naming_it(company: Company) -> None:
    assert_receipt_not_found(company.http, MISSING)

    started = company.http.post(
        "/api/jobs/ocr", json=ocr_body(company.id, company.tenant_id, MISSING)
    )

    assert detail_of(started, 404) == (
        f"receipt_id: receipt '{MISSING}' not found in company '{company.id}'"
    )


@pytest.mark.parametrize(
    "receipt_id", ["../../etc/passwd", "rcpt-x", "RCPT-00000000000000000000", ""]
)
def test_a_malformed_receipt_id_on_ocr_is_a_422_naming_it(
    company: Company, receipt_id: str
) -> None:
    response = company.http.post(
        "/api/jobs/ocr", json=ocr_body(company.id, company.tenant_id, receipt_id)
    )

    error = only_error_at(response, ["body", "receipt_id"])
    assert error["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize(
    "file_path",
    [
        "file:///etc/passwd",
        "C:\\Users\\me\\receipt.jpg",
        "receipts/{receipt_id}/../{receipt_id}",
        "receipts/{receipt_id}\x00.jpg",
        "receipts/{other}",
        "",
    ],
    ids=[
        "file-url",
        "windows-path",
        "dot-dot-back-to-it",
        "nul-suffix",
        "another-receipt",
        "empty",
    ],
)
def test_a_file_path_other_than_the_receipt_is_a_400_naming_file_path(
    company: Company, file_path: str
) -> None:
    receipt_id, other = uploaded(company), uploaded(company)
    body = ocr_body(
        company.id,
        company.tenant_id,
        receipt_id,
        file_path=file_path.format(receipt_id=receipt_id, other=other),
    )

    detail = detail_of(company.http.post("/api/jobs/ocr", json=body), 400)

    assert detail.startswith("file_path: ")
    assert "upload the receipt with POST /api/receipts first" in detail


@pytest.mark.parametrize(
    "forged",
    ["cmNwdC14", "not-a-cursor", "cmNwdC0wMDAwMDAwMDAwMDAwMDAwMDAwMA"],
    ids=["rcpt-x", "garbage", "well-formed-missing-receipt"],
)
def test_a_forged_cursor_is_a_400_naming_the_cursor(company: Company, forged: str) -> None:
    response = company.http.get(f"/api/companies/{company.id}/receipts", params={"cursor": forged})

    assert detail_of(response, 400) == "cursor: not a cursor of this listing"


def test_another_listings_cursor_is_a_400_naming_the_cursor(company: Company) -> None:
    for _ in range(2):
        uploaded(company, company.sibling)
    listing = f"/api/companies/{company.sibling}/receipts"
    cursor = company.http.get(listing, params={"limit": 1}).json()["next_cursor"]
    assert cursor  # a genuine cursor, of the sibling company's listing

    response = company.http.get(f"/api/companies/{company.id}/receipts", params={"cursor": cursor})

    assert detail_of(response, 400) == "cursor: not a cursor of this listing"


@pytest.mark.parametrize("field", ["company_id", "tenant_id"])
def test_a_receipt_upload_without_a_form_field_is_a_422_naming_it(
    company: Company, field: str
) -> None:
    form = form_of(company)
    del form[field]

    error = only_error_at(upload(company.http, form), ["body", field])

    assert error["type"] == "missing"


def test_a_receipt_upload_without_a_file_is_a_422_naming_it(company: Company) -> None:
    response = company.http.post("/api/receipts", data=form_of(company))

    error = only_error_at(response, ["body", "file"])
    assert error["type"] == "missing"


def test_a_company_outside_the_grant_is_a_403_naming_company_id(client: httpx.Client) -> None:
    """Key A grants tenant t1 the companies c1 and c2; c9 is tenant t2's."""
    outside = "company_id 'c9' is not in your grant"

    assert detail_of(upload(client, {"company_id": "c9", "tenant_id": "t1"}), 403) == outside
    assert detail_of(client.get("/api/companies/c9/receipts"), 403) == outside
    started = client.post("/api/jobs/ocr", json=ocr_body("c9", "t1", MISSING))
    assert detail_of(started, 403) == outside


def test_a_receipt_upload_for_another_tenant_is_a_403_naming_tenant_id(
    client: httpx.Client,
) -> None:
    response = upload(client, {"company_id": "c1", "tenant_id": "t2"})

    assert detail_of(response, 403) == "tenant_id is not yours"


def test_a_receipt_over_the_upload_limit_is_a_413_naming_the_file(
    live_server: LiveServer, company: Company
) -> None:
    before = live_server.artifact_files()

    response = upload(company.http, form_of(company), b"\xff\xd8\xff" + b"\0" * (21 * MIB))

    detail = detail_of(response, 413)
    assert detail.startswith("file: ") and "byte limit" in detail
    assert live_server.artifact_files() == before  # nothing stored
