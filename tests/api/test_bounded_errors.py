"""A refused request is answered with a small body however big the request was: the error
names the field and shows the start of what was sent, never all of it (100,000 ids, a
900 KB form field, a 20,000-character job id)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.uploads import UPLOAD_PATH

from .conftest import Company

MAX_BODY = 4 * 1024
HUGE_ID = "j" * 20_000


def small_json(response: httpx.Response) -> Any:
    """The body, after checking that it is under 4 KiB."""
    assert len(response.content) < MAX_BODY, f"{len(response.content)} bytes: {response.text[:300]}"
    return response.json()


def field_errors(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text[:300]
    detail: list[dict[str, Any]] = small_json(response)["detail"]
    for error in detail:
        assert {"type", "loc", "msg"} <= error.keys(), error
    return detail


def test_100000_ids_are_refused_with_a_few_of_them(company: Company) -> None:
    ids = [f"txn-{n:06d}" for n in range(100_000)]

    response = company.http.post(
        "/api/jobs/bulk-approve",
        json={"company_id": company.id, "tenant_id": "t1", "transaction_ids": ids},
    )

    (error,) = field_errors(response)
    assert error["loc"] == ["body", "transaction_ids"]
    assert error["type"] == "too_long"
    assert error["ctx"]["max_length"] == 10_000
    shown = error["input"]
    assert shown[:2] == ["txn-000000", "txn-000001"]
    assert shown[-1].endswith(" more items") and str(100_000 - (len(shown) - 1)) in shown[-1]


def test_a_900_kb_form_field_is_refused_with_its_start(company: Company) -> None:
    response = company.http.post(
        UPLOAD_PATH,
        data={"company_id": "c" * 900_000, "tenant_id": "t1"},
        files={"file": ("statement.csv", b"Date,Description,Amount\n", "text/csv")},
    )

    (error,) = field_errors(response)
    assert error["loc"] == ["body", "company_id"]
    assert error["input"].startswith("c" * 100)
    assert error["input"].endswith(f"({900_000 - 200} more characters)")


def test_thousands_of_bad_ids_list_the_first_errors_and_count_the_rest(
    company: Company,
) -> None:
    response = company.http.post(
        "/api/jobs/bulk-approve",
        json={"company_id": company.id, "tenant_id": "t1", "transaction_ids": [7] * 5_000},
    )

    errors = field_errors(response)
    assert errors[0]["loc"] == ["body", "transaction_ids", 0]
    assert errors[0]["input"] == 7
    assert errors[-1]["type"] == "too_many_errors"
    assert f"{5_000 - (len(errors) - 1)} more errors" in errors[-1]["msg"]


def test_an_unknown_field_with_a_huge_name_is_named_by_its_start(company: Company) -> None:
    name = "x" * 50_000

    response = company.http.post(
        "/api/jobs/categorize", json={"company_id": company.id, "tenant_id": "t1", name: 1}
    )

    (error,) = field_errors(response)
    assert error["type"] == "extra_forbidden"
    assert error["loc"][0] == "body" and error["loc"][1].startswith("x" * 100)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"/api/jobs/{HUGE_ID}", 404),
        ("GET", f"/api/jobs/{HUGE_ID}/events", 404),
        ("POST", f"/api/jobs/{HUGE_ID}/cancel", 404),
        ("GET", f"/api/jobs/company/{HUGE_ID}", 403),
    ],
    ids=["job", "events", "cancel", "company-listing"],
)
def test_a_20000_character_id_is_quoted_by_its_start(
    company: Company, method: str, path: str, status: int
) -> None:
    response = company.http.request(method, path)

    assert response.status_code == status
    detail = small_json(response)["detail"]
    assert f"'{'j' * 200}… ({20_000 - 200} more characters)'" in detail
