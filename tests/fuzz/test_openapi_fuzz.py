"""Schemathesis over the OpenAPI document against a live server with its worker processes:
every operation (the multipart upload included) with a valid API key and with none. No answer
may be a 5xx, and each must be one the document lists for the operation, with the documented
content type and body schema.

The document is the app's own (``app.openapi()``, what ``/openapi.json`` serves, which
:func:`test_the_server_serves_the_fuzzed_document` checks), read when the tests are collected:
schemathesis makes one test per operation from a schema it has then. (Its lazy loader,
``schemathesis.pytest.from_fixture``, which could read ``/openapi.json`` from the server, does
not run under pytest 9.2: it sets a node attribute pytest no longer has.) Generation is
derandomized with a fixed seed and bounded per operation, so a run of the same tests generates
the same requests (Hypothesis also draws on constants of the loaded modules, and the seeded
jobs' ids differ): about 2,300 of them, 20 s on 2 cores (45 s under coverage). "Without a
key" means no token, or one schemathesis makes up. Each failure found is a plain HTTP
regression test in ``tests/api/test_fuzz_findings.py``.

Random ids would almost all be refused at the door (403 for a company outside the grant, 404
for a job that does not exist), so half the generated company ids are the key's own and the
tenant is the caller's, job ids are often those of real jobs (:class:`SeededJobs`: one of the
caller's that has finished and one of another tenant), and half the uploads carry a real
statement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st

from bookkeeper_jobs.api.app import create_app
from tests.api.harness import KEY_A, KEY_B, LiveServer, api_settings
from tests.support.jobs_http import accepted_job_id, wait_for_job_status

from .conftest import StatusTally

pytestmark = pytest.mark.slow

FUZZ_SEED = 20_261_128
"""One fixed seed: every run sends the same requests, so a failure reproduces."""
EXAMPLES_WITH_A_KEY = 200
"""Requests of the fuzzing phase per operation with a valid key (the examples and coverage
phases add their own, a bounded set per operation)."""
EXAMPLES_WITHOUT_A_KEY = 50
"""The same without a key: every operation behind the token answers 401 whatever the rest."""
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
"""The response checks run on every answer (schemathesis's names); the others are off."""
A_STATEMENT = b"Date,Description,Amount\n2024-01-02,COFFEE SHOP,-4.50\n2024-01-03,PAYROLL,1200.00\n"
"""A bank statement of two rows, sent as the upload's file half the time."""
CALLER_TENANT = "t1"
GRANTED_COMPANIES = ("c1", "c2")
"""The tenant and companies :data:`KEY_A` grants."""


class SeededJobs:
    """Ids of real jobs, made by :func:`seeded_jobs` before the fuzzing starts; generated
    job ids are replaced by one of these (or kept) when a case is drawn."""

    ids: list[str] = []


def app_document() -> dict[str, Any]:
    """The app's OpenAPI document; the app is only built (no store, no workers)."""
    settings = api_settings(Path("unused-data-dir"))
    document: dict[str, Any] = create_app(settings, run_workers=False).openapi()
    return document


def fuzz_config(headers: dict[str, str], examples_per_operation: int) -> schemathesis.Config:
    """Derandomized, bounded generation; the four response checks of :data:`CHECKS` only."""
    return schemathesis.Config.from_dict(
        {
            "seed": FUZZ_SEED,
            "headers": headers,
            "request-timeout": 30,
            "max-stream-events": 5,
            "generation": {
                "max-examples": examples_per_operation,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {"stateful": {"enabled": False}},
            "dictionaries": {
                "caller-tenant": {"values": [CALLER_TENANT]},
                "granted-companies": {"values": list(GRANTED_COMPANIES)},
                "any-version": {"values": ["*"]},
            },
            "parameters": the_callers_ids_half_the_time(),
        }
    )


def the_callers_ids_half_the_time() -> dict[str, Any]:
    """Bindings that make half the tenant and company ids the caller's own, so requests get
    past the grant check and reach the job store, the ledger and the uploads (and some
    ``If-None-Match`` headers ``*``, so a real job answers 304)."""
    tenant = {"dictionary": "caller-tenant", "probability": 0.5}
    companies = {"dictionary": "granted-companies", "probability": 0.5}
    return {
        "body.tenant_id": tenant,
        "body.company_id": companies,
        "path.company_id": companies,
        "header.if-none-match": {"dictionary": "any-version", "probability": 0.3},
    }


DOCUMENT = app_document()
with_key = schemathesis.openapi.from_dict(
    DOCUMENT, config=fuzz_config({"Authorization": f"Bearer {KEY_A}"}, EXAMPLES_WITH_A_KEY)
)
without_key = schemathesis.openapi.from_dict(
    DOCUMENT, config=fuzz_config({}, EXAMPLES_WITHOUT_A_KEY)
)


@with_key.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """A generated ``job_id``, or one of :attr:`SeededJobs.ids`."""
    if not path_parameters or "job_id" not in path_parameters or not SeededJobs.ids:
        return st.just(path_parameters)
    real = [{**path_parameters, "job_id": job_id} for job_id in SeededJobs.ids]
    return st.sampled_from([path_parameters, *real])


@with_key.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """An upload's generated file, or a real bank statement (so some uploads are accepted
    and imported, and their jobs run)."""
    if not isinstance(body, dict) or "file" not in body:
        return st.just(body)
    return st.sampled_from([body, {**body, "file": A_STATEMENT}])


@pytest.fixture(scope="module")
def seeded_jobs(fuzzed_server: LiveServer) -> Iterator[list[str]]:
    """A finished job of the caller (tenant t1) and one of tenant t2, which t1 cannot see."""
    jobs = [
        (KEY_A, {"company_id": "c1", "tenant_id": CALLER_TENANT}),
        (KEY_B, {"company_id": "c9", "tenant_id": "t2"}),
    ]
    for key, body in jobs:
        with fuzzed_server.client(key) as http:
            job_id = accepted_job_id(http.post("/api/jobs/categorize", json=body))
            wait_for_job_status(http, job_id, {"complete"})
            SeededJobs.ids.append(job_id)
    yield SeededJobs.ids
    SeededJobs.ids.clear()


def call_and_check(
    case: schemathesis.Case, server: LiveServer, tally: StatusTally, caller: str
) -> None:
    response = case.call(base_url=server.base_url)
    tally[(caller, response.status_code)] += 1
    case.validate_response(response)  # the checks of CHECKS


@with_key.parametrize()
def test_fuzz_with_a_valid_key(
    case: schemathesis.Case,
    fuzzed_server: LiveServer,
    seeded_jobs: list[str],
    status_tally: StatusTally,
) -> None:
    call_and_check(case, fuzzed_server, status_tally, "with key")


@without_key.parametrize()
def test_fuzz_without_a_key(
    case: schemathesis.Case, fuzzed_server: LiveServer, status_tally: StatusTally
) -> None:
    call_and_check(case, fuzzed_server, status_tally, "without key")


def test_the_server_serves_the_fuzzed_document(fuzzed_server: LiveServer) -> None:
    with fuzzed_server.client(token=None) as http:
        assert http.get("/openapi.json").json() == DOCUMENT
