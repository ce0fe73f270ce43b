"""Cluster mode on one machine, for the end-to-end tests, twice: on the API-server emulator
with the test kubelet (``emulator``) and on the real control plane with the node agent and
the chart's RBAC (``real``); ``clusters.py`` has both and the interface tests read them by.

The ledger is migrated once up front, as the chart's Helm hook does (the API never migrates
in cluster mode), and company ``c1`` gets rules and approved history to learn from.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import AbstractContextManager
from decimal import Decimal

import pytest

from bookkeeper_jobs.ledger import Ledger, NewTransaction
from bookkeeper_jobs.settings import Grant, Settings
from tests.api.harness import KEY_A

from .clusters import Cluster, emulated_cluster
from .real_server import real_server_cluster

TENANT = "t1"
COMPANY = "c1"
OTHER_COMPANY = "c2"
UNCATEGORIZED_SEED = 25
RULES: tuple[tuple[str, str], ...] = (
    ("GUSTO PAYROLL", "6100"),
    ("OAKRIDGE PROPERTIES RENT", "6120"),
    ("COMCAST", "6160"),
    ("STRIPE TRANSFER", "4000"),
    ("ACH DEPOSIT", "4100"),
)
HISTORY: tuple[tuple[str, str, str], ...] = (
    ("STARBUCKS STORE {n}", "-6.40", "6080"),
    ("DOORDASH*LUNCH ORDER {n}", "-31.20", "6080"),
    ("UBER *TRIP HELP.UBER.COM CA {n}", "-24.75", "6170"),
    ("LYFT *RIDE {n}", "-18.10", "6170"),
    ("OFFICE DEPOT #{n}", "-84.99", "6090"),
    ("STAPLES {n}", "-42.00", "6090"),
    ("SHELL OIL {n}", "-55.30", "6190"),
    ("CHEVRON {n} SAN JOSE CA", "-61.05", "6190"),
)
"""Approved history (description, amount, account): four of each, so the model trains."""


def seed_ledger(settings: Settings) -> None:
    """Migrate (the Helm hook's job), then give ``c1`` rules, approved history and rows
    still to categorize, and ``c2`` one row (an id of another company, for bulk-approve)."""
    ledger = Ledger.from_settings(settings)
    try:
        ledger.migrate()
        ledger.ensure_company(COMPANY, TENANT, "Company One")
        for priority, (pattern, account) in enumerate(RULES):
            ledger.add_rule(
                COMPANY, kind="contains", pattern=pattern, account_code=account, priority=priority
            )
        history = [
            seed_row(template.format(n=1000 + copy), amount, day=1 + copy)
            for template, amount, _ in HISTORY
            for copy in range(4)
        ]
        ledger.add_transactions(COMPANY, history)
        rows = ledger.list_transactions(COMPANY, limit=len(history))
        accounts = {template.format(n=1000 + c): a for template, _, a in HISTORY for c in range(4)}
        for row in rows:
            ledger.set_category(COMPANY, row.id, accounts[row.description])
        ledger.approve(COMPANY, [row.id for row in rows])
        pending = [
            seed_row(f"HARDWARE STORE {n}", f"-{10 + n}.00", day=1 + n % 28)
            for n in range(UNCATEGORIZED_SEED)
        ]
        ledger.add_transactions(COMPANY, pending)
        ledger.ensure_company(OTHER_COMPANY, TENANT, "Company Two")
        ledger.add_transactions(OTHER_COMPANY, [seed_row("OTHER COMPANY ROW", "-1.00", day=2)])
    finally:
        ledger.dispose()


def seed_row(description: str, amount: str, *, day: int) -> NewTransaction:
    """A row of December 2023: before the sample statement, so nothing collides with it."""
    return NewTransaction(
        date=datetime.date(2023, 12, day),
        description=description,
        amount=Decimal(amount),
        currency="USD",
    )


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("emulator"),
        # the session's real control plane (tests/cluster/README.md); fails under CI=true
        # when it cannot be had, as every real-plane test does
        pytest.param("real", marks=pytest.mark.slow),
    ],
)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp(f"cluster-{request.param}")
    grants = {KEY_A: Grant(tenant_id=TENANT, company_ids=[COMPANY, OTHER_COMPANY])}
    made: AbstractContextManager[Cluster]
    if request.param == "emulator":
        made = emulated_cluster(root, seed=seed_ledger, api_keys=grants)
    else:
        made = real_server_cluster(request.config, root, seed=seed_ledger, api_keys=grants)
    with made as cluster:
        yield cluster
