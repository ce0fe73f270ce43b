"""A job type registered by a module (``BKJOBS_JOB_TYPE_MODULES``) gets its route, its
OpenAPI schema and its CLI command from that one registration, and runs."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from bookkeeper_jobs.cli import main
from bookkeeper_jobs.jobs import register_job_type, unregister_job_type
from tests.support.polling import wait_until

from .harness import KEY_A, LiveServer, api_settings, serve

TOY_MODULE = "tests.support.toy_job"


@pytest.fixture
def toy_job() -> Iterator[ModuleType]:
    """Registered only while the test runs (imported here, not at collection)."""
    module = importlib.import_module(TOY_MODULE)
    register_job_type(module.COUNT_TRANSACTIONS)
    yield module
    unregister_job_type(module.COUNT_TRANSACTIONS.name)


@pytest.fixture
def toy_server(tmp_path: Path, toy_job: ModuleType) -> Iterator[LiveServer]:
    with serve(api_settings(tmp_path, job_type_modules=[TOY_MODULE])) as server:
        yield server


def test_the_route_runs_the_job_and_openapi_documents_it(toy_server: LiveServer) -> None:
    with toy_server.client() as http:
        started = http.post(
            "/api/jobs/count-transactions", json={"company_id": "c1", "tenant_id": "t1"}
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        done = wait_until(lambda: finished(http, job_id), timeout=30, what="the toy job")
        assert done["status"] == "complete", done
        assert done["type"] == "count-transactions"
        assert done["result"] == {"company_id": "c1", "transactions": 0, "counted_by": job_id}

        bad = http.post(
            "/api/jobs/count-transactions",
            json={"company_id": "c1", "tenant_id": "t1", "approved_only": "perhaps"},
        )
        assert bad.status_code == 422
        assert "approved_only" in bad.text

        document = http.get("/openapi.json").json()
    body = document["paths"]["/api/jobs/count-transactions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/CountTransactionsSpec")
    result = document["components"]["schemas"]["JobView"]["properties"]["result"]
    assert {"$ref": "#/components/schemas/CountTransactionsResult"} in result["anyOf"]


def test_the_cli_submits_it(
    toy_server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BKJOBS_JOB_TYPE_MODULES", f'["{TOY_MODULE}"]')
    args = ["submit", "count-transactions", "--company", "c1", "--tenant", "t1"]
    options = ["--param", "approved_only=true", "--url", toy_server.base_url, "--key", KEY_A]
    assert main([*args, *options, "--follow"]) == 0
    job_id = capsys.readouterr().out.split()[0]
    with toy_server.client() as http:
        job = http.get(f"/api/jobs/{job_id}").json()
    assert (job["type"], job["status"]) == ("count-transactions", "complete")


def finished(http: httpx.Client, job_id: str) -> dict[str, object] | None:
    job: dict[str, object] = http.get(f"/api/jobs/{job_id}").json()
    return job if job["status"] in ("complete", "failed", "cancelled") else None
