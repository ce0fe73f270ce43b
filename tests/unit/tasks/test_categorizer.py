"""The categorization engine as a user sees its predictions: what it books, what it only
suggests, what it leaves alone, and why."""

from __future__ import annotations

import datetime
from decimal import Decimal

import numpy as np
import pytest

from bookkeeper_jobs.ledger import UNCATEGORIZED, Rule, TrainingExample
from bookkeeper_jobs.tasks.categorizer import (
    NEVER,
    Categorizer,
    Item,
    auto_threshold,
    suggest_threshold,
)

CONSISTENT = {
    "tgc key hill": "K020",
    "weoley castle fuel": "K020",
    "riba services": "L030",
    "waterstones books": "L030",
    "asda groceries online": "L220",
    "tesco stores": "L220",
    "travelodge gb0000": "N060",
    "premier inn hotel": "N060",
    "screwfix direct": "J030",
    "toolstation ltd": "J030",
}
NOISY = "amznmktplace"


def history(noisy_split: tuple[int, int] = (18, 12)) -> list[TrainingExample]:
    """15 rows of each consistent merchant; the noisy one split between L100 and L080."""
    day = datetime.date(2020, 3, 1)
    examples = [
        TrainingExample(text, Decimal(f"{10 + n}.50"), code, day + datetime.timedelta(days=n))
        for text, code in CONSISTENT.items()
        for n in range(15)
    ]
    first, second = noisy_split
    examples += [TrainingExample(NOISY, Decimal("25.00"), "L100") for _ in range(first)]
    examples += [TrainingExample(NOISY, Decimal("25.00"), "L080") for _ in range(second)]
    return examples


@pytest.fixture(scope="module")
def trained() -> Categorizer:
    return Categorizer.train([], history())


def test_a_merchant_always_booked_to_one_account_is_auto_applied(trained: Categorizer) -> None:
    [prediction] = trained.predict([Item("tgc key hill", Decimal("14.50"))])

    assert (prediction.category, prediction.decision, prediction.source) == (
        "K020",
        "auto",
        "model",
    )
    assert prediction.booked_category == "K020"
    assert prediction.confidence >= trained.threshold
    assert "15 of 15 earlier 'tgc key hill' rows were booked to K020" in prediction.explanation


def test_a_noisy_merchant_is_only_suggested(trained: Categorizer) -> None:
    [prediction] = trained.predict([Item(NOISY, Decimal("25.00"))])

    assert prediction.category == "L100"
    assert prediction.decision == "suggest"
    assert prediction.booked_category == UNCATEGORIZED
    assert trained.suggest_threshold <= prediction.confidence < trained.threshold
    assert "18 of 30 earlier 'amznmktplace' rows were booked to L100" in prediction.explanation


def test_confidence_is_a_probability_and_auto_ranks_above_suggest(trained: Categorizer) -> None:
    sure, noisy = trained.predict([Item("tesco stores", Decimal("12")), Item(NOISY, Decimal("21"))])

    assert 0 < noisy.confidence < sure.confidence < 1
    assert 0 < trained.suggest_threshold <= trained.threshold < 1


def test_a_new_merchant_is_explained_by_its_text(trained: Categorizer) -> None:
    [prediction] = trained.predict([Item("tgc key hill north", Decimal("14.50"))])

    assert prediction.category == "K020"
    assert prediction.explanation.startswith("no earlier 'tgc key hill north' rows")
    assert "points to K020" in prediction.explanation


def test_rules_come_first_and_are_auto_applied(trained: Categorizer) -> None:
    rule = Rule(7, "contains", "TGC", None, None, "6130", 1)
    ruled = trained.with_rules([rule])

    [prediction] = ruled.predict([Item("tgc key hill", Decimal("14.50"))])

    assert (prediction.category, prediction.confidence, prediction.source) == ("6130", 1.0, "rule")
    assert prediction.decision == "auto"
    assert prediction.explanation == "rule 7 (contains 'TGC')"


@pytest.mark.parametrize("examples", [0, 1, 9])
def test_tiny_training_data_gives_no_model_and_no_decisions(examples: int) -> None:
    categorizer = Categorizer.train([], history()[:examples])

    predictions = categorizer.predict([Item("tgc key hill", Decimal("1")), Item("x", Decimal(2))])

    assert categorizer.info.trained is False
    assert {(p.category, p.decision, p.confidence) for p in predictions} == {
        (UNCATEGORIZED, "none", 0.0)
    }
    assert "no model" in predictions[0].explanation
    assert categorizer.threshold == NEVER


def test_one_account_only_gives_no_model() -> None:
    examples = [TrainingExample(f"shop {n}", Decimal(1), "L100") for n in range(20)]

    assert Categorizer.train([], examples).info.trained is False


def test_without_evidence_of_95_percent_precision_nothing_is_booked() -> None:
    # Every merchant split evenly between two accounts: never right often enough to book.
    examples = [
        TrainingExample(f"merchant {m}", Decimal(n), "L100" if n % 2 else "L080")
        for m in range(5)
        for n in range(10)
    ]
    categorizer = Categorizer.train([], examples)

    predictions = categorizer.predict([Item(f"merchant {m}", Decimal(3)) for m in range(5)])

    assert categorizer.threshold == NEVER
    assert all(p.decision != "auto" for p in predictions)


def test_the_model_round_trips_through_bytes(trained: Categorizer) -> None:
    items = [Item(text, Decimal("13.50")) for text in [*CONSISTENT, NOISY, "brand new shop"]]
    rule = Rule(1, "contains", "brand new", None, None, "6010", 1)

    restored = Categorizer.from_bytes(trained.to_bytes(), [rule])

    assert restored.predict(items)[:-1] == trained.predict(items)[:-1]
    assert restored.predict(items)[-1].source == "rule"
    assert restored.info == trained.info


def test_bytes_of_another_format_are_refused() -> None:
    with pytest.raises(ValueError, match="not a categorizer"):
        Categorizer.from_bytes(b"\x80\x04K\x01.")


def test_a_page_of_repeated_rows_gives_one_prediction_each_in_order(
    trained: Categorizer,
) -> None:
    items = [Item(text, Decimal("11")) for text in ["riba services", NOISY] * 50]

    predictions = trained.predict(items)

    assert [p.category for p in predictions] == ["L030", "L100"] * 50


def test_auto_threshold_is_the_lowest_with_95_percent_precision() -> None:
    confidence = np.array([0.99] * 10 + [0.9] * 10 + [0.5] * 10)
    correct = np.array([1] * 10 + [1] * 9 + [0] + [1] * 5 + [0] * 5)

    assert auto_threshold(confidence, correct) == 0.9  # 19 of 20 at or above 0.9
    assert auto_threshold(confidence, np.zeros(30, dtype=int)) == NEVER


def test_suggest_threshold_keeps_suggestions_more_often_right_than_wrong() -> None:
    confidence = np.array([0.8] * 20 + [0.6] * 20 + [0.3] * 20)
    correct = np.array([1] * 20 + [1] * 12 + [0] * 8 + [1] * 4 + [0] * 16)

    assert suggest_threshold(confidence, correct, auto=0.9) == 0.6
    assert suggest_threshold(confidence, np.zeros(60, dtype=int), auto=0.9) == 0.9
