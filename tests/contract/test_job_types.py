"""A job type added as ``docs/adding-a-job-type.md`` shows (one module named by
``BKJOBS_JOB_TYPE_MODULES``) runs in both modes: the embedded workers and the cluster's
operator, CRD and task pods all learn it from that one registration."""

from __future__ import annotations

import datetime
import importlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import ModuleType

import pytest

from bookkeeper_jobs.jobs import JobPhase, register_job_type, unregister_job_type
from bookkeeper_jobs.ledger import Ledger, NewTransaction
from bookkeeper_jobs.settings import Settings

from .conftest import Backend, finished, wait_for

TOY_MODULE = "tests.support.toy_job"


@pytest.fixture
def toy_job() -> Iterator[ModuleType]:
    """The toy type, registered in this process too (the store parses its specs) and only
    while the test runs: imported here, not at collection, so no other test sees it."""
    module = importlib.import_module(TOY_MODULE)
    register_job_type(module.COUNT_TRANSACTIONS)
    yield module
    unregister_job_type(module.COUNT_TRANSACTIONS.name)


def seed_ledger(settings: Settings, company_id: str, rows: int) -> None:
    ledger = Ledger.from_settings(settings)
    try:
        ledger.migrate()
        ledger.ensure_company(company_id, "t1")
        day = datetime.date(2026, 11, 2)
        ledger.add_transactions(
            company_id,
            [NewTransaction(day, f"Coffee {n}", Decimal("-3.50"), "USD") for n in range(rows)],
        )
    finally:
        ledger.dispose()


def test_a_registered_job_type_runs_end_to_end(
    make_backend: Callable[..., Backend], toy_job: ModuleType
) -> None:
    backend = make_backend(job_type_modules=[TOY_MODULE])
    seed_ledger(backend.settings, "toy-co", rows=3)
    spec = toy_job.CountTransactionsSpec(company_id="toy-co", tenant_id="t1")
    job_id = backend.store.submit(spec).job.id
    backend.start_workers()
    job = wait_for(backend.store, job_id, finished)
    assert job.status.phase is JobPhase.COMPLETE, job.status.error
    assert job.status.result == {"company_id": "toy-co", "transactions": 3, "counted_by": job_id}
    assert job.spec == spec
