from __future__ import annotations

import pytest

from bookkeeper_jobs.errors import FatalTaskError
from bookkeeper_jobs.ledger import DEFAULT_CHART, UNCATEGORIZED, AccountSpec, Ledger
from tests.unit.ledger.factories import COMPANY, TENANT


def test_ensure_company_seeds_the_default_chart(ledger: Ledger) -> None:
    codes = {a.code for a in ledger.list_accounts(COMPANY)}

    assert codes == {spec.code for spec in DEFAULT_CHART}
    assert UNCATEGORIZED in codes
    assert ledger.company_tenant(COMPANY) == TENANT


def test_ensure_company_twice_keeps_one_chart(ledger: Ledger) -> None:
    ledger.ensure_company(COMPANY, TENANT)

    assert len(ledger.list_accounts(COMPANY)) == len(DEFAULT_CHART)


def test_ensure_company_refuses_another_tenants_company(ledger: Ledger) -> None:
    with pytest.raises(FatalTaskError, match="another tenant"):
        ledger.ensure_company(COMPANY, "someone-else")


def test_charts_are_per_company(ledger: Ledger) -> None:
    ledger.ensure_company("other", TENANT)
    ledger.ensure_accounts("other", [AccountSpec("7000", "Special", "expense")])

    assert "7000" in {a.code for a in ledger.list_accounts("other")}
    assert "7000" not in {a.code for a in ledger.list_accounts(COMPANY)}


def test_unknown_company_has_no_tenant(ledger: Ledger) -> None:
    assert ledger.company_tenant("nope") is None
