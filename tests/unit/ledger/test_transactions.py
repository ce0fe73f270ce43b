from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from bookkeeper_jobs.errors import FatalTaskError
from bookkeeper_jobs.ledger import CategoryAssignment, Ledger, NewTransaction
from tests.unit.ledger.factories import COMPANY, TENANT, row


def test_add_transactions_returns_new_rows_and_stores_them(ledger: Ledger) -> None:
    added = ledger.add_transactions(
        COMPANY, [row("Coffee Shop", "-4.50"), row("Rent", "-1200")], import_job_id="job-1"
    )

    stored = ledger.list_transactions(COMPANY)
    assert added == 2
    assert {t.description for t in stored} == {"Coffee Shop", "Rent"}
    coffee = next(t for t in stored if t.description == "Coffee Shop")
    assert coffee.id.startswith("txn_")
    assert coffee.amount == Decimal("-4.50")
    assert coffee.date == datetime.date(2024, 1, 1)
    assert (coffee.currency, coffee.approval, coffee.category) == ("USD", "pending", None)
    assert coffee.import_job_id == "job-1"
    assert coffee.created_at.tzinfo is not None


def test_reimporting_the_same_rows_adds_nothing(ledger: Ledger) -> None:
    rows = [row("Coffee", "-3.00"), row("Lunch", "-12.00", day=2)]
    ledger.add_transactions(COMPANY, rows)

    again = ledger.add_transactions(COMPANY, rows)

    assert again == 0
    assert ledger.count_transactions(COMPANY) == 2


def test_reimport_ignores_case_and_spacing_of_descriptions(ledger: Ledger) -> None:
    ledger.add_transactions(COMPANY, [row("Coffee  Shop", "-3")])

    assert ledger.add_transactions(COMPANY, [row("coffee shop", "-3.00")]) == 0


def test_identical_rows_with_different_occurrences_are_both_kept(ledger: Ledger) -> None:
    rows = [row("Coffee", "-3.00", occurrence=0), row("Coffee", "-3.00", occurrence=1)]

    assert ledger.add_transactions(COMPANY, rows) == 2
    assert ledger.add_transactions(COMPANY, rows) == 0


def test_same_row_in_two_companies_is_two_transactions(ledger: Ledger) -> None:
    ledger.ensure_company("other", TENANT)

    ledger.add_transactions(COMPANY, [row("Coffee")])

    assert ledger.add_transactions("other", [row("Coffee")]) == 1


def test_a_large_batch_is_inserted_in_one_call(ledger: Ledger) -> None:
    rows = [row(f"Merchant {n}", f"-{n}.25") for n in range(5_000)]

    assert ledger.add_transactions(COMPANY, rows) == 5_000
    assert ledger.add_transactions(COMPANY, [*rows[:10], row("new")]) == 1


def test_add_transactions_refuses_a_bad_currency(ledger: Ledger) -> None:
    with pytest.raises(FatalTaskError, match="currency"):
        ledger.add_transactions(COMPANY, [row("x", currency="dollars")])


def test_uncategorized_pages_walk_every_row_once(ledger: Ledger) -> None:
    ledger.add_transactions(COMPANY, [row(f"m{n}") for n in range(25)])
    seen: list[str] = []
    after: str | None = None
    while page := ledger.uncategorized_transactions(COMPANY, limit=10, after=after):
        seen.extend(t.id for t in page)
        after = page[-1].id

    assert len(seen) == len(set(seen)) == 25


def test_get_transactions_only_returns_the_companys_own(ledger: Ledger) -> None:
    ledger.ensure_company("other", TENANT)
    ledger.add_transactions("other", [row("theirs")])
    ledger.add_transactions(COMPANY, [row("ours")])
    theirs = ledger.list_transactions("other")[0].id
    ours = ledger.list_transactions(COMPANY)[0].id

    found = ledger.get_transactions(COMPANY, [ours, theirs, "txn_missing"])

    assert [t.id for t in found] == [ours]


def test_save_categories_leaves_user_choices_alone(ledger: Ledger) -> None:
    ledger.add_transactions(COMPANY, [row("a"), row("b")])
    first, second = (t.id for t in ledger.list_transactions(COMPANY))
    assert ledger.set_category(COMPANY, first, "6090")

    saved = ledger.save_categories(
        COMPANY,
        [
            CategoryAssignment(first, "6170", 0.9, "model"),
            CategoryAssignment(second, "6170", 0.9, "model"),
        ],
    )

    by_id = {t.id: t for t in ledger.list_transactions(COMPANY)}
    assert saved == 1
    assert (by_id[first].category, by_id[first].category_source) == ("6090", "user")
    assert (by_id[second].category, by_id[second].confidence) == ("6170", 0.9)


def test_approve_reports_already_approved_and_not_found(ledger: Ledger) -> None:
    ledger.ensure_company("other", TENANT)
    ledger.add_transactions("other", [row("theirs")])
    ledger.add_transactions(COMPANY, [row("a"), row("b")])
    a, b = (t.id for t in ledger.list_transactions(COMPANY))
    theirs = ledger.list_transactions("other")[0].id
    ledger.approve(COMPANY, [a])

    outcome = ledger.approve(COMPANY, [a, b, theirs, "txn_missing"])

    assert (outcome.approved, outcome.already_approved) == (1, 1)
    assert outcome.not_found == [theirs, "txn_missing"]
    assert ledger.list_transactions("other")[0].approval == "pending"
    assert ledger.count_transactions(COMPANY, approval="approved") == 2
    assert all(t.approved_at is not None for t in ledger.list_transactions(COMPANY))


def test_training_examples_are_confirmed_categories_only(ledger: Ledger) -> None:
    ledger.add_transactions(COMPANY, [row("approved"), row("user"), row("model only")])
    ids = {t.description: t.id for t in ledger.list_transactions(COMPANY)}
    ledger.save_categories(
        COMPANY,
        [
            CategoryAssignment(ids["approved"], "6170", 0.8, "model"),
            CategoryAssignment(ids["model only"], "6170", 0.8, "model"),
        ],
    )
    ledger.approve(COMPANY, [ids["approved"]])
    ledger.set_category(COMPANY, ids["user"], "6090")

    examples = ledger.training_examples(COMPANY)

    assert sorted((e.description, e.category) for e in examples) == [
        ("approved", "6170"),
        ("user", "6090"),
    ]


def test_new_transaction_defaults() -> None:
    row = NewTransaction(datetime.date(2024, 1, 1), "x", Decimal("1"))

    assert (row.currency, row.occurrence) == ("USD", 0)
