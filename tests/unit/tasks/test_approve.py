from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from bookkeeper_jobs.errors import FatalTaskError, RetryableTaskError
from bookkeeper_jobs.jobs import BulkApproveSpec
from bookkeeper_jobs.ledger import CategoryAssignment, Ledger, create_ledger_engine
from bookkeeper_jobs.tasks.approve import bulk_approve
from tests.unit.ledger.factories import (
    COMPANY,
    TENANT,
    open_ledger,
    recording_reporter,
    row,
    sqlite_url,
)
from tests.unit.tasks.conftest import ContextFactory


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with open_ledger(sqlite_url(tmp_path)) as opened:
        yield opened


def ids_of(ledger: Ledger, company_id: str = COMPANY) -> list[str]:
    return [t.id for t in ledger.list_transactions(company_id, limit=10_000)]


def spec(ids: list[str], tenant_id: str = TENANT) -> BulkApproveSpec:
    return BulkApproveSpec(company_id=COMPANY, tenant_id=tenant_id, transaction_ids=ids)


def test_approves_in_batches_with_progress(ledger: Ledger, make_context: ContextFactory) -> None:
    ledger.add_transactions(COMPANY, [row(f"shop {n}") for n in range(1_200)])
    reporter, sink = recording_reporter()

    result = bulk_approve(make_context(spec(ids_of(ledger)), ledger, reporter=reporter))
    reporter.flush()

    assert result.approved == 1_200
    assert ledger.count_transactions(COMPANY, approval="approved") == 1_200
    assert sink.progress == sorted(sink.progress)
    assert sink.progress[-1] == 100
    assert sink.writes[-1][1] == "Approved 1200/1200 transactions"
    assert len(sink.writes) >= 3  # one write per batch of 500 at least


def test_other_companies_and_unknown_ids_are_not_found(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    ledger.ensure_company("other", TENANT)
    ledger.add_transactions("other", [row("theirs")])
    ledger.add_transactions(COMPANY, [row("a"), row("b")])
    ours = ids_of(ledger)
    theirs = ids_of(ledger, "other")
    ledger.approve(COMPANY, ours[:1])

    result = bulk_approve(make_context(spec([*ours, *theirs, "txn_nope"]), ledger))

    assert (result.approved, result.already_approved) == (1, 1)
    assert result.not_found == [*theirs, "txn_nope"]
    assert result.not_found_count == 2
    assert ledger.count_transactions("other", approval="approved") == 0


def test_not_found_list_is_capped(ledger: Ledger, make_context: ContextFactory) -> None:
    result = bulk_approve(make_context(spec([f"txn_{n}" for n in range(700)]), ledger))

    assert result.not_found_count == 700
    assert len(result.not_found) == 100


def test_approved_categories_become_training_data(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    ledger.add_transactions(COMPANY, [row("uber trip")])
    (txn,) = ids_of(ledger)
    ledger.save_categories(COMPANY, [CategoryAssignment(txn, "6170", 0.7, "model")])
    assert ledger.training_examples(COMPANY) == []

    bulk_approve(make_context(spec([txn]), ledger))

    assert [e.category for e in ledger.training_examples(COMPANY)] == ["6170"]


def test_refuses_another_tenant(ledger: Ledger, make_context: ContextFactory) -> None:
    with pytest.raises(FatalTaskError):
        bulk_approve(make_context(spec(["txn_x"], tenant_id="intruder"), ledger))


def test_cancellation_stops_between_batches(ledger: Ledger, make_context: ContextFactory) -> None:
    ledger.add_transactions(COMPANY, [row(f"shop {n}") for n in range(1_500)])
    reporter, _ = recording_reporter(cancel_after=2)

    result = bulk_approve(make_context(spec(ids_of(ledger)), ledger, reporter=reporter))

    assert result.cancelled is True
    assert result.approved == 500


def test_a_locked_database_is_retryable(
    ledger: Ledger, make_context: ContextFactory, tmp_path: Path
) -> None:
    ledger.add_transactions(COMPANY, [row("a")])
    ids = ids_of(ledger)
    impatient = Ledger(create_ledger_engine(sqlite_url(tmp_path)))
    event.listen(impatient.engine, "connect", _short_busy_timeout)
    blocker = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(RetryableTaskError, match="locked"):
            bulk_approve(make_context(spec(ids), impatient))
    finally:
        blocker.close()
        impatient.dispose()


def _short_busy_timeout(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.execute("PRAGMA busy_timeout = 50")


def test_a_company_without_ledger_data_reports_every_id_not_found(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    spec = BulkApproveSpec(
        company_id="never-imported", tenant_id=TENANT, transaction_ids=["txn_a", "txn_b"]
    )

    result = bulk_approve(make_context(spec, ledger))

    assert (result.requested, result.processed, result.approved) == (2, 2, 0)
    assert result.not_found == ["txn_a", "txn_b"]
    assert result.not_found_count == 2
    assert ledger.company_tenant("never-imported") is None, "nothing was created for it"


def test_another_tenants_company_is_refused_as_not_found(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    ledger.ensure_company("theirs", "t2")
    spec = BulkApproveSpec(company_id="theirs", tenant_id=TENANT, transaction_ids=["txn_a"])

    with pytest.raises(FatalTaskError, match=r"^company 'theirs' not found$"):
        bulk_approve(make_context(spec, ledger))
