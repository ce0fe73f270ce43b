"""The ``export-qbo`` job in both modes, against the local QuickBooks Online server: a month
of approved transactions becomes Purchases and Deposits exactly once, a repeated export
creates nothing, and a worker killed between QuickBooks' work and its answer leaves nothing
duplicated after the retry."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper_jobs.jobs import ExportQboSpec, Job, JobPhase
from bookkeeper_jobs.ledger import Ledger, NewTransaction
from tests.support.polling import wait_until
from tests.support.qbo_connect import connect, qbo_settings
from tests.support.qbo_server import QboServer, qbo_server

from .conftest import Backend, finished, wait_for

COMPANY = "qbo-co"
TENANT = "t1"
NOVEMBER = (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
EXPORT_SECONDS = 60.0
ROWS = [
    # (day, description, amount, account code): an expense, a refund, a deposit.
    (3, "STAPLES #1123 SEATTLE", "-45.20", "6090"),  # Office Supplies
    (9, "STAPLES REFUND", "12.99", "6090"),
    (14, "CLIENT PAYMENT INV-1042", "1500.00", "4100"),  # Service Revenue
]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[QboServer]:
    # requests-oauthlib refuses plain http unless told otherwise: the server is on loopback.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    with qbo_server() as running:
        yield running


@pytest.fixture
def qbo_backend(make_backend: Callable[..., Backend], server: QboServer) -> Backend:
    """A backend whose export-qbo jobs run the real task against ``server``."""
    probe = make_backend()
    probe.close()
    tasks = {name: path for name, path in probe.settings.tasks.items() if name != "export-qbo"}
    return make_backend(tasks=tasks, **qbo_settings(server))


@pytest.fixture
def ledger(qbo_backend: Backend) -> Iterator[Ledger]:
    ledger = Ledger.from_settings(qbo_backend.settings)
    ledger.migrate()
    ledger.ensure_company(COMPANY, TENANT)
    yield ledger
    ledger.dispose()


def seed_month(ledger: Ledger, rows: list[tuple[int, str, str, str]] = ROWS) -> dict[str, str]:
    """The rows, categorized and approved; their ids by description."""
    ledger.add_transactions(
        COMPANY,
        [
            NewTransaction(datetime.date(2026, 11, day), text, Decimal(amount), "USD")
            for day, text, amount, _code in rows
        ],
    )
    ids = {t.description: t.id for t in ledger.list_transactions(COMPANY, limit=1000)}
    for _day, text, _amount, code in rows:
        ledger.set_category(COMPANY, ids[text], code)
    ledger.approve(COMPANY, [ids[text] for _d, text, _a, _c in rows])
    return ids


def export(backend: Backend, **fields: Any) -> Job:
    spec = ExportQboSpec(
        company_id=COMPANY, tenant_id=TENANT, start_date=NOVEMBER[0], end_date=NOVEMBER[1], **fields
    )
    job_id = backend.store.submit(spec).job.id
    backend.start_workers()
    return wait_for(backend.store, job_id, finished, timeout=EXPORT_SECONDS)


def notes(server: QboServer, kind: str) -> list[str]:
    return sorted(entity["PrivateNote"] for entity in server.entities(kind))


def test_a_month_is_exported_once_and_a_second_export_creates_nothing(
    qbo_backend: Backend, ledger: Ledger, server: QboServer
) -> None:
    realm = connect(qbo_backend.settings, ledger, COMPANY, TENANT)
    ids = seed_month(ledger)

    first = export(qbo_backend)

    assert first.status.phase is JobPhase.COMPLETE, first.status.error
    result = first.status.result
    assert result is not None
    assert (result["exported"], result["skipped"], result["failed"]) == (3, 0, 0)
    assert result["realm_id"] == realm
    purchases, deposits = server.entities("Purchase"), server.entities("Deposit")
    assert len(purchases) == 1 and len(deposits) == 2
    expense = purchases[0]
    assert expense["PaymentType"] == "Cash"
    assert expense["TxnDate"] == "2026-11-03"
    assert expense["PrivateNote"] == f"bookkeeper-jobs transaction {ids['STAPLES #1123 SEATTLE']}"
    line = expense["Line"][0]
    assert line["DetailType"] == "AccountBasedExpenseLineDetail"
    assert Decimal(str(line["Amount"])) == Decimal("45.20")
    accounts = {a["Id"]: a for a in server.entities("Account")}
    assert accounts[line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"]]["Name"] == (
        "Office Supplies"
    )
    assert accounts[expense["AccountRef"]["value"]]["AccountType"] == "Bank"
    by_note = {d["PrivateNote"]: d for d in deposits}
    refund = by_note[f"bookkeeper-jobs transaction {ids['STAPLES REFUND']}"]
    refund_account = refund["Line"][0]["DepositLineDetail"]["AccountRef"]["value"]
    assert accounts[refund_account]["Name"] == "Office Supplies"  # a refund lowers the expense
    sale = by_note[f"bookkeeper-jobs transaction {ids['CLIENT PAYMENT INV-1042']}"]
    sale_account = sale["Line"][0]["DepositLineDetail"]["AccountRef"]["value"]
    assert accounts[sale_account]["Name"] == "Service Revenue"
    assert accounts[sale_account]["AccountType"] == "Income"
    records = ledger.quickbooks.records(COMPANY, realm, list(ids.values()))
    assert {r.state for r in records} == {"exported"}
    assert {r.qbo_id for r in records} == {e["Id"] for e in purchases + deposits}

    again = export(qbo_backend)

    assert again.status.result is not None
    assert (again.status.result["exported"], again.status.result["skipped"]) == (0, 3)
    assert len(server.entities("Purchase")) == 1 and len(server.entities("Deposit")) == 2


def test_a_worker_killed_before_hearing_quickbooks_duplicates_nothing(
    qbo_backend: Backend, ledger: Ledger, server: QboServer
) -> None:
    connect(qbo_backend.settings, ledger, COMPANY, TENANT)
    seed_month(ledger)
    server.hold_answers("/batch")  # QuickBooks creates the entries; its answer waits
    spec = ExportQboSpec(
        company_id=COMPANY, tenant_id=TENANT, start_date=NOVEMBER[0], end_date=NOVEMBER[1]
    )
    job_id = qbo_backend.store.submit(spec).job.id
    qbo_backend.start_workers()
    wait_until(
        lambda: len(server.entities("Purchase")) == 1,
        timeout=EXPORT_SECONDS,
        what="QuickBooks to create the batch",
    )

    qbo_backend.crash_workers()  # dies before it hears the answer or records it
    server.release_answers()
    qbo_backend.start_workers()
    job = wait_for(qbo_backend.store, job_id, finished, timeout=EXPORT_SECONDS)

    assert job.status.phase is JobPhase.COMPLETE, job.status.error
    assert job.status.attempts == 2
    assert len(server.entities("Purchase")) == 1
    assert len(server.entities("Deposit")) == 2
    assert job.status.result is not None and job.status.result["exported"] == 3
    batches = [r for r in server.api_requests("POST") if r.path.endswith("/batch")]
    assert len({r.query["requestid"] for r in batches}) == 1  # the retry replayed the request


def test_a_refused_entry_is_reported_and_the_rest_is_exported(
    qbo_backend: Backend, ledger: Ledger, server: QboServer
) -> None:
    connect(qbo_backend.settings, ledger, COMPANY, TENANT)
    # Two QuickBooks accounts named like ours: which one is meant cannot be guessed.
    realm = server.realm_id
    server.seed_account("Software", "Expense", realm_id=realm)
    server.seed_account("Software", "Expense", realm_id=realm, ParentRef={"value": "1"})
    ids = seed_month(ledger, [*ROWS, (20, "GITHUB INC", "-21.00", "6140")])

    job = export(qbo_backend)

    assert job.status.phase is JobPhase.COMPLETE, job.status.error
    result = job.status.result
    assert result is not None
    assert (result["exported"], result["failed"]) == (3, 1)
    failure = result["failures"][0]
    assert failure["transaction_id"] == ids["GITHUB INC"]
    assert "accounts named 'Software'" in failure["message"]
