from __future__ import annotations

from decimal import Decimal

import pytest

from bookkeeper_jobs.errors import FatalTaskError
from bookkeeper_jobs.jobs import CategorizeSpec
from bookkeeper_jobs.ledger import UNCATEGORIZED, CategoryAssignment, Ledger, NewTransaction
from bookkeeper_jobs.tasks.categorize import categorize, categorize_transactions
from tests.unit.ledger.factories import COMPANY, TENANT, recording_reporter, row
from tests.unit.tasks.conftest import ContextFactory

TRAINING = {
    "6190": ["shell fuel station", "esso petrol", "bp fuel", "texaco garage fuel"],
    "6170": ["uber trip", "delta airlines", "hilton hotel", "trainline ticket"],
    "6090": ["staples office", "office depot paper", "ryman stationery", "viking office"],
}


def approved_history(ledger: Ledger, company_id: str = COMPANY, copies: int = 3) -> None:
    """Approved, categorized transactions the model learns from."""
    rows = [
        row(f"{text} {n}", "-20.00", day=1 + n)
        for texts in TRAINING.values()
        for text in texts
        for n in range(copies)
    ]
    ledger.add_transactions(company_id, rows)
    for t in ledger.list_transactions(company_id, limit=1_000):
        code = next(c for c, texts in TRAINING.items() if any(x in t.description for x in texts))
        ledger.set_category(company_id, t.id, code)
    ledger.approve(company_id, [t.id for t in ledger.list_transactions(company_id, limit=1_000)])


def new_rows(ledger: Ledger, descriptions: list[str], *, job: str | None = None) -> list[str]:
    """Import one row per description; their ids, in the order of ``descriptions``."""
    rows = [row(d, "-15.00", day=28) for d in descriptions]
    ledger.add_transactions(COMPANY, rows, import_job_id=job)
    ids = {t.description: t.id for t in ledger.list_transactions(COMPANY, limit=10_000)}
    return [ids[d] for d in descriptions]


def by_description(ledger: Ledger) -> dict[str, tuple[str | None, str | None, float | None]]:
    return {
        t.description: (t.category, t.category_source, t.confidence)
        for t in ledger.list_transactions(COMPANY, limit=10_000)
    }


def test_rules_win_over_the_model_in_priority_order(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    approved_history(ledger)
    ledger.add_rule(COMPANY, kind="contains", pattern="SHELL", account_code="6130", priority=5)
    ledger.add_rule(COMPANY, kind="contains", pattern="shell", account_code="6040", priority=9)
    ledger.add_rule(COMPANY, kind="regex", pattern=r"^big\s", account_code="6120")
    ledger.add_rule(COMPANY, kind="amount_range", min_amount=Decimal("-16"), account_code="6010")
    ids = new_rows(ledger, ["shell fuel station x", "big landlord", "something else"])
    spec = CategorizeSpec(company_id=COMPANY, tenant_id=TENANT, transaction_ids=ids)

    result = categorize(make_context(spec, ledger))

    seen = by_description(ledger)
    assert seen["shell fuel station x"] == ("6130", "rule", 1.0)
    assert seen["big landlord"] == ("6120", "rule", 1.0)
    assert seen["something else"] == ("6010", "rule", 1.0)
    assert result.by_source.model_dump() == {"rule": 3, "model": 0, "uncategorized": 0}


def test_model_learns_from_approved_transactions(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    approved_history(ledger)
    new_rows(ledger, ["shell fuel station 99", "uber trip 99", "staples office 99"])

    result = categorize(make_context(CategorizeSpec(company_id=COMPANY, tenant_id=TENANT), ledger))

    seen = by_description(ledger)
    assert seen["shell fuel station 99"][:2] == ("6190", "model")
    assert seen["uber trip 99"][:2] == ("6170", "model")
    assert seen["staples office 99"][:2] == ("6090", "model")
    assert all(0.3 <= (seen[d][2] or 0) <= 1 for d in ["uber trip 99", "staples office 99"])
    assert result.model.trained is True
    assert result.categorized == 3


def test_without_training_data_everything_is_uncategorized(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    new_rows(ledger, ["anything", "something"])

    result = categorize(make_context(CategorizeSpec(company_id=COMPANY, tenant_id=TENANT), ledger))

    assert {v[0] for v in by_description(ledger).values()} == {UNCATEGORIZED}
    assert result.by_source.uncategorized == 2
    assert result.model.trained is False


def test_next_limit_categorizes_only_that_many(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    new_rows(ledger, [f"shop {n}" for n in range(7)])
    spec = CategorizeSpec(company_id=COMPANY, tenant_id=TENANT, limit=5)

    result = categorize(make_context(spec, ledger))

    assert result.categorized == 5
    assert ledger.count_transactions(COMPANY, uncategorized=True) == 2


def test_other_companies_ids_are_reported_and_untouched(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    ledger.ensure_company("other", TENANT)
    ledger.add_transactions("other", [row("theirs")])
    theirs = ledger.list_transactions("other")[0].id
    ours = new_rows(ledger, ["ours"])
    spec = CategorizeSpec(
        company_id=COMPANY, tenant_id=TENANT, transaction_ids=[*ours, theirs, "txn_nope"]
    )

    result = categorize(make_context(spec, ledger))

    assert result.unknown_ids == [theirs, "txn_nope"]
    assert result.unknown_count == 2
    assert result.categorized == 1
    assert ledger.list_transactions("other")[0].category is None


def test_user_categories_and_approved_rows_are_skipped(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    user, approved, fresh = new_rows(ledger, ["user set", "approved one", "fresh"])
    ledger.set_category(COMPANY, user, "6090")
    ledger.save_categories(COMPANY, [CategoryAssignment(approved, "6170", 0.5, "model")])
    ledger.approve(COMPANY, [approved])
    spec = CategorizeSpec(
        company_id=COMPANY, tenant_id=TENANT, transaction_ids=[user, approved, fresh]
    )

    result = categorize(make_context(spec, ledger))

    seen = by_description(ledger)
    assert result.skipped == 2
    assert result.categorized == 1
    assert seen["user set"][:2] == ("6090", "user")
    assert seen["approved one"][:2] == ("6170", "model")
    assert seen["fresh"][0] == UNCATEGORIZED


def test_import_job_scope_and_progress_range(ledger: Ledger) -> None:
    new_rows(ledger, ["earlier import"], job="job-1")
    new_rows(ledger, [f"this import {n}" for n in range(3)], job="job-2")
    reporter, sink = recording_reporter()

    result = categorize_transactions(
        ledger, COMPANY, reporter=reporter, import_job_id="job-2", progress_from=50
    )
    reporter.flush()

    assert result.categorized == 3
    assert by_description(ledger)["earlier import"][0] is None
    assert sink.progress[0] == 50
    assert sink.progress[-1] == 100


def test_refuses_a_company_of_another_tenant(ledger: Ledger, make_context: ContextFactory) -> None:
    spec = CategorizeSpec(company_id=COMPANY, tenant_id="intruder")

    with pytest.raises(FatalTaskError, match="not found"):
        categorize(make_context(spec, ledger))


def test_progress_reaches_100_and_never_decreases(
    ledger: Ledger, make_context: ContextFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bookkeeper_jobs.tasks.categorize.PAGE_SIZE", 10)
    ledger.add_transactions(COMPANY, [row(f"shop {n}") for n in range(95)])
    reporter, sink = recording_reporter()
    spec = CategorizeSpec(company_id=COMPANY, tenant_id=TENANT)

    categorize(make_context(spec, ledger, reporter=reporter))
    reporter.flush()

    assert sink.progress == sorted(sink.progress)
    assert sink.progress[-1] == 100
    assert sink.writes[-1][1] == "Categorized 95/95 transactions"


def test_cancellation_stops_between_pages(
    ledger: Ledger, make_context: ContextFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bookkeeper_jobs.tasks.categorize.PAGE_SIZE", 10)
    ledger.add_transactions(COMPANY, [row(f"shop {n}") for n in range(50)])
    reporter, _ = recording_reporter(cancel_after=3)
    spec = CategorizeSpec(company_id=COMPANY, tenant_id=TENANT)

    result = categorize(make_context(spec, ledger, reporter=reporter))

    assert result.cancelled is True
    assert 0 < result.categorized < 50
    assert ledger.count_transactions(COMPANY, uncategorized=True) == 50 - result.categorized


def test_result_is_small_for_many_unknown_ids(ledger: Ledger, make_context: ContextFactory) -> None:
    ids = [f"txn_{n:024x}" for n in range(1_000)]
    spec = CategorizeSpec(company_id=COMPANY, tenant_id=TENANT, transaction_ids=ids)

    result = categorize(make_context(spec, ledger))

    assert result.unknown_count == 1_000
    assert len(result.unknown_ids) == 100


def test_new_transaction_rows_are_plain_values() -> None:
    assert isinstance(row("x"), NewTransaction)


def test_a_company_without_ledger_data_completes_with_nothing_to_do(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    reporter, sink = recording_reporter()
    spec = CategorizeSpec(company_id="never-imported", tenant_id=TENANT)

    result = categorize(make_context(spec, ledger, reporter=reporter))
    reporter.flush()

    assert (result.requested, result.processed, result.categorized) == (0, 0, 0)
    assert result.cancelled is False
    assert sink.writes[-1] == (100, "Categorized 0/0 transactions")
    assert ledger.company_tenant("never-imported") is None, "nothing was created for it"


def test_ids_of_a_company_without_ledger_data_are_reported_unknown(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    spec = CategorizeSpec(
        company_id="never-imported", tenant_id=TENANT, transaction_ids=["txn_a", "txn_b"]
    )

    result = categorize(make_context(spec, ledger))

    assert result.categorized == 0
    assert result.unknown_ids == ["txn_a", "txn_b"]


def test_another_tenants_company_is_refused_as_not_found(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    ledger.ensure_company("theirs", "t2")
    spec = CategorizeSpec(company_id="theirs", tenant_id=TENANT)

    with pytest.raises(FatalTaskError) as refused:
        categorize(make_context(spec, ledger))

    assert str(refused.value) == "company 'theirs' not found"
    assert "t2" not in str(refused.value)


def noisy_history(ledger: Ledger) -> None:
    """Consistent merchants, and one booked 18 times to 6090 and 12 times to 6170."""
    rows = [row(f"{text}", f"-{10 + n}.00", day=1 + n) for text in CONSISTENT for n in range(15)]
    rows += [row("amznmktplace", "-25.00", day=1 + n % 28, occurrence=n) for n in range(30)]
    ledger.add_transactions(COMPANY, rows)
    noisy = iter(["6090"] * 18 + ["6170"] * 12)
    for t in ledger.list_transactions(COMPANY, limit=1_000):
        code = CONSISTENT.get(t.description) or next(noisy)
        ledger.set_category(COMPANY, t.id, code)
    ledger.approve(COMPANY, [t.id for t in ledger.list_transactions(COMPANY, limit=1_000)])


CONSISTENT = {
    "tgc key hill": "6190",
    "weoley castle fuel": "6190",
    "riba services": "6090",
    "waterstones books": "6090",
    "travelodge gb0000": "6170",
    "premier inn hotel": "6170",
}


def test_a_confident_guess_is_booked_and_a_noisy_one_only_suggested(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    noisy_history(ledger)
    new_rows(ledger, ["tgc key hill", "amznmktplace"], job="job-new")

    result = categorize(make_context(CategorizeSpec(company_id=COMPANY, tenant_id=TENANT), ledger))

    seen = {t.description: t for t in ledger.list_transactions(COMPANY, import_job_id="job-new")}
    fuel, noisy = seen["tgc key hill"], seen["amznmktplace"]
    assert (fuel.category, fuel.category_source, fuel.suggested_category) == ("6190", "model", None)
    assert fuel.confidence is not None and fuel.confidence >= result.model.threshold
    assert (noisy.category, noisy.suggested_category) == (UNCATEGORIZED, "6090")
    assert noisy.suggestion_confidence is not None
    assert result.suggest_threshold <= noisy.suggestion_confidence < result.model.threshold
    assert (result.auto_applied, result.suggested, result.left) == (1, 1, 0)
    assert result.by_source.model_dump() == {"rule": 0, "model": 1, "uncategorized": 1}


def test_a_person_choosing_a_category_clears_the_suggestion(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    noisy_history(ledger)
    [noisy] = new_rows(ledger, ["amznmktplace"])
    categorize(make_context(CategorizeSpec(company_id=COMPANY, tenant_id=TENANT), ledger))

    ledger.set_category(COMPANY, noisy, "6170")

    [chosen] = ledger.get_transactions(COMPANY, [noisy])
    assert (chosen.category, chosen.category_source) == ("6170", "user")
    assert (chosen.suggested_category, chosen.suggestion_confidence) == (None, None)


def test_without_a_model_every_row_is_left_without_a_suggestion(
    ledger: Ledger, make_context: ContextFactory
) -> None:
    new_rows(ledger, ["anything", "something"])

    result = categorize(make_context(CategorizeSpec(company_id=COMPANY, tenant_id=TENANT), ledger))

    assert (result.auto_applied, result.suggested, result.left) == (0, 0, 2)
    assert all(t.suggested_category is None for t in ledger.list_transactions(COMPANY))
    assert result.suggest_threshold == result.model.threshold == 1.0
