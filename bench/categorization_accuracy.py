"""Categorization accuracy on transactions-dev, through the real ledger and categorizer.

A deterministic 80/20 split of the dev file (by a hash of the row id): the 80% go into a
temporary SQLite ledger as approved, categorized history; the 20% are imported uncategorized
and categorized by ``categorize_transactions``. Prints accuracy (over all test rows; a row
sent to Uncategorized counts as wrong), accuracy and coverage above the confidence
threshold, the dataset's reference baselines, and the time taken.

Labels are scored against the council's own account codes (added to the company's chart),
not mapped to the default small-business chart.

    .venv/bin/python bench/categorization_accuracy.py [--dataset PATH]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bookkeeper_jobs.ledger import (
    UNCATEGORIZED,
    AccountSpec,
    CategoryAssignment,
    Ledger,
    NewTransaction,
    create_ledger_engine,
    transaction_fingerprint,
)
from bookkeeper_jobs.tasks.categorize import categorize_transactions
from bookkeeper_jobs.tasks.categorizer import DEFAULT_THRESHOLD, Categorizer

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = (
    REPO_ROOT / ".." / "shared" / "datasets" / "transactions-dev" / "transactions-dev.csv"
)
COMPANY, TENANT = "bench", "bench"
TEST_SHARE = 20  # percent of rows held out
BATCH = 5_000


@dataclass(frozen=True)
class Labeled:
    row: NewTransaction
    code: str
    name: str


def is_test_row(row_id: str) -> bool:
    # Not sha1: the dev file itself is the rows whose sha1 falls below 30 (mod 100).
    return int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % 100 < TEST_SHARE


def read_dataset(path: Path) -> tuple[list[Labeled], list[Labeled]]:
    """(train, test), each row numbered by occurrence so identical rows stay distinct."""
    train: list[Labeled] = []
    test: list[Labeled] = []
    seen: Counter[tuple[str, str, str]] = Counter()
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            key = (record["date"], record["description"], record["amount_gbp"])
            row = NewTransaction(
                date=datetime.date.fromisoformat(record["date"]),
                description=record["description"],
                amount=Decimal(record["amount_gbp"]),
                currency="GBP",
                occurrence=seen[key],
            )
            seen[key] += 1
            labeled = Labeled(row, record["category_code"], record["category"])
            (test if is_test_row(record["id"]) else train).append(labeled)
    return train, test


def load_history(ledger: Ledger, train: list[Labeled]) -> None:
    """Import ``train`` and approve it with its labels: the history the model learns from."""
    accounts = {(t.code, t.name) for t in train}
    ledger.ensure_accounts(COMPANY, [AccountSpec(c, n, "expense") for c, n in sorted(accounts)])
    for start in range(0, len(train), BATCH):
        ledger.add_transactions(COMPANY, [t.row for t in train[start : start + BATCH]])
    labels = {transaction_fingerprint(COMPANY, t.row): t.code for t in train}
    stored = ledger.list_transactions(COMPANY, limit=len(train) + 1)
    ledger.save_categories(
        COMPANY,
        [CategoryAssignment(t.id, labels[t.fingerprint], 1.0, "model") for t in stored],
    )
    ledger.approve(COMPANY, [t.id for t in stored])


def import_test(ledger: Ledger, test: list[Labeled]) -> dict[str, str]:
    """Import ``test`` uncategorized; returns fingerprint → true account code."""
    for start in range(0, len(test), BATCH):
        rows = [t.row for t in test[start : start + BATCH]]
        ledger.add_transactions(COMPANY, rows, import_job_id="bench-test")
    return {transaction_fingerprint(COMPANY, t.row): t.code for t in test}


class QuietReporter:
    def update(self, progress: float, message: str = "") -> None:
        pass

    def cancelled(self) -> bool:
        return False


def score(ledger: Ledger, truth: dict[str, str]) -> tuple[int, int, int, int]:
    """(rows, correct, rows above threshold, correct above threshold)."""
    rows = correct = confident = confident_correct = 0
    for t in ledger.list_transactions(COMPANY, limit=len(truth) + 1, import_job_id="bench-test"):
        right = t.category == truth[t.fingerprint]
        rows += 1
        correct += right
        if t.category != UNCATEGORIZED and (t.confidence or 0) >= DEFAULT_THRESHOLD:
            confident += 1
            confident_correct += right
    return rows, correct, confident, confident_correct


def baselines(train: list[Labeled], test: list[Labeled]) -> tuple[float, float]:
    """Majority class, and exact-merchant lookup (majority label of that description)."""
    majority = Counter(t.code for t in train).most_common(1)[0][0]
    by_merchant: dict[str, Counter[str]] = {}
    for t in train:
        by_merchant.setdefault(t.row.description, Counter())[t.code] += 1
    lookup = [
        by_merchant[t.row.description].most_common(1)[0][0]
        if t.row.description in by_merchant
        else majority
        for t in test
    ]
    majority_hits = sum(t.code == majority for t in test)
    lookup_hits = sum(t.code == guess for t, guess in zip(test, lookup, strict=True))
    return majority_hits / len(test), lookup_hits / len(test)


def run(dataset: Path) -> None:
    train, test = read_dataset(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ledger = Ledger(create_ledger_engine(f"sqlite:///{root / 'ledger.db'}"))
        try:
            ledger.migrate()
            ledger.ensure_company(COMPANY, TENANT)
            load_history(ledger, train)
            truth = import_test(ledger, test)
            started = time.perf_counter()
            Categorizer.train(ledger.list_rules(COMPANY), ledger.training_examples(COMPANY))
            train_seconds = time.perf_counter() - started
            started = time.perf_counter()
            result = categorize_transactions(
                ledger, COMPANY, reporter=QuietReporter(), import_job_id="bench-test"
            )
            elapsed = time.perf_counter() - started
            rows, correct, confident, confident_correct = score(ledger, truth)
        finally:
            ledger.dispose()
    majority, lookup = baselines(train, test)
    print(f"dataset            {dataset.name}: {len(train)} train / {len(test)} test rows")
    model = result.model
    print(f"classes            {model.classes} (trained on {model.examples} rows)")
    print(f"accuracy           {correct / rows:.1%} of all test rows")
    print(
        f"above threshold    {confident_correct / max(confident, 1):.1%} accuracy, "
        f"{confident / rows:.1%} coverage (confidence >= {DEFAULT_THRESHOLD})"
    )
    print(f"baselines          majority class {majority:.1%}, exact-merchant lookup {lookup:.1%}")
    predict_seconds = max(elapsed - train_seconds, 1e-9)
    print(f"training           {train_seconds:.1f} s (loading examples and fitting)")
    print(
        f"categorize run     {elapsed:.1f} s incl. training; "
        f"~{rows / predict_seconds:,.0f} rows/s after training"
    )
    print(f"by source          {result.by_source.model_dump()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    args = parser.parse_args(argv)
    if not args.dataset.is_file():
        print(f"dataset not found: {args.dataset}", file=sys.stderr)
        return 2
    run(args.dataset.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
