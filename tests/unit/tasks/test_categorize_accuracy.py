"""Behaviour check on real data: the model learns a company's history well beyond the
majority-class baseline (25.6%). Scores are printed by ``bench/categorization_accuracy.py``."""

from __future__ import annotations

import csv
import datetime
import hashlib
import os
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from bookkeeper_jobs.ledger import (
    AccountSpec,
    CategoryAssignment,
    Ledger,
    NewTransaction,
    transaction_fingerprint,
)
from bookkeeper_jobs.tasks.categorize import categorize_transactions
from tests.unit.ledger.factories import COMPANY, open_ledger, recording_reporter, sqlite_url

DATASET = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "datasets"
    / "transactions-dev"
    / "transactions-dev.csv"
)

Labeled = tuple[NewTransaction, str]


def read_split() -> tuple[list[Labeled], list[Labeled]]:
    if not DATASET.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"dataset missing under CI=true: {DATASET}")
        pytest.skip("transactions-dev dataset not available")
    train: list[Labeled] = []
    held_out: list[Labeled] = []
    occurrences: Counter[tuple[str, str, str]] = Counter()
    with DATASET.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            key = (record["date"], record["description"], record["amount_gbp"])
            row = NewTransaction(
                date=datetime.date.fromisoformat(record["date"]),
                description=record["description"],
                amount=Decimal(record["amount_gbp"]),
                currency="GBP",
                occurrence=occurrences[key],
            )
            occurrences[key] += 1
            digest = int(hashlib.sha256(record["id"].encode()).hexdigest(), 16)
            (held_out if digest % 100 < 20 else train).append((row, record["category_code"]))
    return train, held_out


def load_approved_history(ledger: Ledger, train: list[Labeled]) -> None:
    codes = sorted({code for _, code in train})
    ledger.ensure_accounts(COMPANY, [AccountSpec(code, code, "expense") for code in codes])
    ledger.add_transactions(COMPANY, [r for r, _ in train], import_job_id="history")
    labels = {transaction_fingerprint(COMPANY, r): code for r, code in train}
    stored = ledger.list_transactions(COMPANY, limit=len(train) + 1)
    ledger.save_categories(
        COMPANY, [CategoryAssignment(t.id, labels[t.fingerprint], 1.0, "model") for t in stored]
    )
    ledger.approve(COMPANY, [t.id for t in stored])


@pytest.mark.slow
def test_model_accuracy_is_well_above_the_majority_baseline(tmp_path: Path) -> None:
    train, held_out = read_split()
    with open_ledger(sqlite_url(tmp_path), tmp_path) as ledger:
        load_approved_history(ledger, train)
        ledger.add_transactions(COMPANY, [r for r, _ in held_out], import_job_id="new")
        truth = {transaction_fingerprint(COMPANY, r): code for r, code in held_out}

        result = categorize_transactions(
            ledger, COMPANY, reporter=recording_reporter()[0], import_job_id="new"
        )

        predicted = ledger.list_transactions(COMPANY, limit=len(held_out), import_job_id="new")
    accuracy = sum(t.category == truth[t.fingerprint] for t in predicted) / len(predicted)
    assert result["categorized"] == len(held_out)
    assert accuracy > 0.5
