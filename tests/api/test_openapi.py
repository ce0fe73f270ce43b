"""The API describes itself: the OpenAPI document (every status each route can answer)
and the interactive docs, served from this server alone (they work offline)."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx

from .harness import KEY_A, LiveServer

PATHS = {
    "/api/jobs/categorize",
    "/api/jobs/bulk-approve",
    "/api/jobs/upload-and-categorize",
    "/api/jobs/{job_id}",
    "/api/jobs/{job_id}/cancel",
    "/api/jobs/{job_id}/events",
    "/api/jobs/{job_id}/error-report",
    "/api/jobs/company/{company_id}",
    "/healthz",
    "/readyz",
}


def test_openapi_lists_every_route(client: httpx.Client) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["paths"].keys() >= PATHS
    assert document["info"]["title"] == "bookkeeper-jobs"
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    upload = document["paths"]["/api/jobs/upload-and-categorize"]["post"]
    assert {"202", "413", "422"} <= upload["responses"].keys()


def test_docs_are_html(client: httpx.Client) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "/openapi.json" in response.text


def test_openapi_shows_each_job_types_body_and_result_model(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    body = document["paths"]["/api/jobs/categorize"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CategorizeSpec"
    }
    view = schemas["JobView"]["properties"]
    assert view["result"]["anyOf"] == [
        {"$ref": "#/components/schemas/CategorizeResult"},
        {"$ref": "#/components/schemas/BulkApproveResult"},
        {"$ref": "#/components/schemas/UploadAndCategorizeResult"},
        {"$ref": "#/components/schemas/OcrResult"},
        {"$ref": "#/components/schemas/ExportQboResult"},
        {"type": "null"},
    ]
    assert view["type"]["enum"] == [
        "categorize",
        "bulk-approve",
        "upload-and-categorize",
        "ocr",
        "export-qbo",
    ]
    ocr = document["paths"]["/api/jobs/ocr"]["post"]["requestBody"]["content"]
    file_path = schemas[ocr["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert file_path["properties"]["file_path"]["deprecated"] is True
    assert "never read" in file_path["properties"]["file_path"]["description"]
    assert "status" in view and "phase" not in view, "the seed contract's name for the phase"
    categorized = schemas["CategorizeResult"]["properties"]["categorized"]
    assert categorized["type"] == "integer" and categorized["description"]


STATUSES = {
    ("post", "/api/jobs/categorize"): {"202", "401", "403", "409", "413", "422"},
    ("post", "/api/jobs/bulk-approve"): {"202", "401", "403", "409", "413", "422"},
    ("post", "/api/jobs/upload-and-categorize"): {"202", "401", "403", "409", "413", "422"},
    ("post", "/api/jobs/ocr"): {"202", "400", "401", "403", "404", "409", "413", "422", "503"},
    ("post", "/api/receipts"): {"201", "401", "403", "413", "415", "422", "503", "507"},
    ("post", "/api/jobs/export-qbo"): {"202", "401", "403", "409", "413", "422", "503"},
    ("get", "/api/companies/{company_id}/quickbooks"): {"200", "401", "403", "404", "503"},
    ("put", "/api/companies/{company_id}/quickbooks"): {"200", "401", "403", "404", "422", "502"},
    ("delete", "/api/companies/{company_id}/quickbooks"): {"200", "401", "403", "404", "503"},
    ("get", "/api/companies/{company_id}/quickbooks/connect"): {
        "200",
        "401",
        "403",
        "404",
        "409",
        "502",
    },
    ("get", "/api/quickbooks/callback"): {"200", "400", "502"},
    ("get", "/api/artifacts/{file_id}"): {"200", "401", "404", "503"},
    ("get", "/api/companies/{company_id}/transactions"): {"200", "400", "401", "403", "503"},
    ("get", "/api/transactions/{transaction_id}"): {"200", "401", "404", "503"},
    ("patch", "/api/transactions/{transaction_id}"): {"200", "401", "404", "422", "503"},
    ("get", "/api/companies/{company_id}/rule-suggestions"): {"200", "401", "403", "503"},
    ("get", "/api/companies/{company_id}/rules"): {"200", "401", "403", "503"},
    ("post", "/api/companies/{company_id}/rules"): {"200", "201", "401", "403", "413", "422"},
    ("delete", "/api/companies/{company_id}/rules/{rule_id}"): {"204", "401", "403", "404"},
    ("get", "/api/receipts/{receipt_id}"): {"200", "401", "404", "503"},
    ("get", "/api/receipts/{receipt_id}/file"): {"200", "401", "404", "503"},
    ("get", "/api/companies/{company_id}/receipts"): {"200", "400", "401", "403", "422", "503"},
    ("get", "/api/jobs/{job_id}"): {"200", "304", "401", "404"},
    ("post", "/api/jobs/{job_id}/cancel"): {"200", "401", "404", "409", "413"},
    ("get", "/api/jobs/{job_id}/events"): {"200", "401", "404"},
    ("get", "/api/jobs/{job_id}/error-report"): {"200", "401", "404"},
    ("get", "/api/jobs/company/{company_id}"): {"200", "400", "401", "403", "422"},
    ("get", "/healthz"): {"200"},
    ("get", "/readyz"): {"200", "503"},
}
"""Every status each route can answer (a new route must be added here)."""


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_openapi_documents_every_status_of_every_route(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    assert operations(document).keys() == STATUSES.keys()
    for route, operation in operations(document).items():
        responses = operation["responses"]
        assert STATUSES[route] <= responses.keys(), (route, sorted(responses))
        for code, answer in responses.items():
            assert answer["description"], (route, code)
            if int(code) >= 400 and code != "503":
                body = answer["content"]["application/json"]["schema"]
                refs = [ref["$ref"] for ref in body.get("anyOf", [body])]
                assert refs, (route, code)
                for ref in refs:
                    assert "detail" in schemas[ref.rsplit("/", 1)[1]]["properties"], ref


def test_the_statuses_a_client_gets_are_documented(
    live_server: LiveServer, client: httpx.Client
) -> None:
    """Probe each route for the statuses every route shares: 401 without a token, 413 for
    a body over the limit (refused from its declared length, so nothing is sent)."""
    document = client.get("/openapi.json").json()
    limit = live_server.settings.max_upload_bytes
    with live_server.client(token=None) as anonymous:
        for (method, path), operation in operations(document).items():
            url = path.format(
                job_id="job-00000000000000000000",
                company_id="c1",
                receipt_id="rcpt-00000000000000000000",
                file_id="file-00000000000000000000",
                transaction_id="txn_000000000000",
                rule_id=1,
            )
            if operation.get("security"):
                refused = anonymous.request(method, url)
                assert refused.status_code == 401, (method, path)
                assert "401" in operation["responses"], (method, path)
            if method == "post":
                assert status_for_declared_length(live_server, url, 2 * limit) == 413
                assert "413" in operation["responses"], (method, path)


def status_for_declared_length(live_server: LiveServer, path: str, length: int) -> int:
    """The status of a POST that declares a body of ``length`` bytes and sends none."""
    url = httpx.URL(live_server.base_url)
    with socket.create_connection((url.host, url.port), timeout=10) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\nAuthorization: Bearer {KEY_A}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        status_line = conn.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_docs_load_swagger_ui_from_this_server(client: httpx.Client) -> None:
    assert_same_origin_page(client, "/docs", ["swagger-ui-bundle.js", "swagger-ui.css"])


def test_redoc_loads_redoc_from_this_server(client: httpx.Client) -> None:
    assert_same_origin_page(client, "/redoc", ["redoc.standalone.js"])


def assert_same_origin_page(client: httpx.Client, path: str, assets: list[str]) -> None:
    """The page references only paths on this server, and each of them answers 200."""
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")

    references = re.findall(r"""(?:src|href|url|spec-url)\s*[=:]\s*["']([^"']+)["']""", page.text)
    assert {ref.rsplit("/", 1)[-1] for ref in references} >= {*assets, "openapi.json"}
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 100, reference
    assert "http://" not in page.text and "https://" not in page.text
