from __future__ import annotations

from decimal import Decimal

import pytest

from bookkeeper_jobs.ledger import Ledger
from tests.unit.ledger.factories import COMPANY


def test_rules_are_listed_in_priority_order(ledger: Ledger) -> None:
    late = ledger.add_rule(COMPANY, kind="contains", pattern="uber", account_code="6170")
    early = ledger.add_rule(
        COMPANY, kind="regex", pattern=r"^aws\b", account_code="6140", priority=10
    )
    ranged = ledger.add_rule(
        COMPANY,
        kind="amount_range",
        min_amount=Decimal("1000"),
        max_amount=Decimal("5000"),
        account_code="6120",
        priority=50,
    )

    assert ledger.list_rules(COMPANY) == [early, ranged, late]
    assert ranged.min_amount == Decimal("1000")


def test_delete_rule(ledger: Ledger) -> None:
    rule = ledger.add_rule(COMPANY, kind="contains", pattern="uber", account_code="6170")

    assert ledger.delete_rule(COMPANY, rule.id)
    assert not ledger.delete_rule(COMPANY, rule.id)
    assert ledger.list_rules(COMPANY) == []


@pytest.mark.parametrize(
    ("kind", "pattern", "account", "message"),
    [
        ("contains", None, "6170", "needs a pattern"),
        ("regex", "([", "6170", "invalid regular expression"),
        ("amount_range", None, "6170", "needs min_amount or max_amount"),
        ("contains", "x", "0000", "no account"),
    ],
)
def test_invalid_rules_are_refused(
    ledger: Ledger, kind: str, pattern: str | None, account: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ledger.add_rule(COMPANY, kind=kind, pattern=pattern, account_code=account)  # type: ignore[arg-type]
