"""The API describes itself: the OpenAPI document and the interactive docs."""

from __future__ import annotations

import httpx

PATHS = {
    "/api/jobs/categorize",
    "/api/jobs/bulk-approve",
    "/api/jobs/upload-and-categorize",
    "/api/jobs/{job_id}",
    "/api/jobs/{job_id}/cancel",
    "/api/jobs/{job_id}/events",
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
        {"type": "null"},
    ]
    assert view["type"]["enum"] == ["categorize", "bulk-approve", "upload-and-categorize"]
    assert "status" in view and "phase" not in view, "the seed contract's name for the phase"
    categorized = schemas["CategorizeResult"]["properties"]["categorized"]
    assert categorized["type"] == "integer" and categorized["description"]
