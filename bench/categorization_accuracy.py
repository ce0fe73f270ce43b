"""Categorization on transactions-dev, through the real ledger and categorizer.

A deterministic 80/20 split of the dev file (by a hash of the row id): the 80% go into a
temporary SQLite ledger as approved, categorized history; the 20% are imported uncategorized
and categorized by ``categorize_transactions``, the job's own code. Prints, for the test
rows:

- top-1 accuracy, strictly (a row the model left without a category, decision ``none``,
  counts as wrong; ``auto`` and ``suggest`` rows count their guess) and of the guess on
  every row;
- what the decisions did: auto-applied share and precision (the auto threshold was chosen
  by cross-validation on the training part only), suggested share and precision, none;
- the reliability curve: precision and coverage of the rows at or above several confidences;
- predictions per CPU-second on one thread, and the training time on 100,000 rows made by
  resampling the training part with replacement (seed 0);
- each target of issue 10 as met or missed.

Labels are scored against the council's own account codes (added to the company's chart),
not mapped to the default small-business chart.

    .venv/bin/python bench/categorization_accuracy.py [--dataset PATH] [--no-100k]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from threadpoolctl import threadpool_limits

from bookkeeper_jobs.ledger import (
    AccountSpec,
    CategoryAssignment,
    Ledger,
    NewTransaction,
    create_ledger_engine,
    transaction_fingerprint,
)
from bookkeeper_jobs.tasks.categorize import categorize_transactions
from bookkeeper_jobs.tasks.categorizer import Categorizer, Item, Prediction

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = (
    REPO_ROOT / ".." / "shared" / "datasets" / "transactions-dev" / "transactions-dev.csv"
)
COMPANY, TENANT = "bench", "bench"
TEST_SHARE = 20  # percent of rows held out
BATCH = 5_000
RESAMPLED_ROWS = 100_000
CURVE = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
TARGET_ACCURACY, TARGET_AUTO_COVERAGE, TARGET_AUTO_PRECISION = 0.72, 0.30, 0.95
TARGET_RATE, TARGET_TRAIN_SECONDS = 20_000, 60.0


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


def ledger_check(ledger: Ledger, truth: dict[str, str]) -> tuple[int, int, int, int]:
    """From the ledger after the job: (rows, booked right, suggestions, suggestions right)."""
    rows = booked_right = suggested = suggested_right = 0
    for t in ledger.list_transactions(COMPANY, limit=len(truth) + 1, import_job_id="bench-test"):
        rows += 1
        booked_right += t.category == truth[t.fingerprint]
        if t.suggested_category is not None:
            suggested += 1
            suggested_right += t.suggested_category == truth[t.fingerprint]
    return rows, booked_right, suggested, suggested_right


def items_of(rows: list[Labeled]) -> list[Item]:
    return [Item(t.row.description, t.row.amount, t.row.date) for t in rows]


def rate_per_cpu_second(categorizer: Categorizer, items: list[Item]) -> float:
    """Predictions per CPU-second on one thread (after a warm-up call)."""
    with threadpool_limits(1):
        categorizer.predict(items)
        started = time.process_time()
        for _ in range(3):
            categorizer.predict(items)
        return 3 * len(items) / max(time.process_time() - started, 1e-9)


def train_resampled(ledger: Ledger) -> tuple[float, float]:
    """(wall, CPU) seconds to train on RESAMPLED_ROWS examples drawn with replacement."""
    examples = ledger.training_examples(COMPANY)
    resampled = random.Random(0).choices(examples, k=RESAMPLED_ROWS)
    wall, cpu = time.perf_counter(), time.process_time()
    Categorizer.train([], resampled)
    return time.perf_counter() - wall, time.process_time() - cpu


def share(part: int, whole: int) -> str:
    return f"{part / max(whole, 1):6.1%}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


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


def run(dataset: Path, *, resample: bool) -> None:
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
            categorizer = Categorizer.train(
                ledger.list_rules(COMPANY), ledger.training_examples(COMPANY)
            )
            train_seconds = time.perf_counter() - started
            predictions = categorizer.predict(items_of(test))
            rate = rate_per_cpu_second(categorizer, items_of(test))
            result = categorize_transactions(
                ledger, COMPANY, reporter=QuietReporter(), import_job_id="bench-test"
            )
            check = ledger_check(ledger, truth)
            resampled = train_resampled(ledger) if resample else None
        finally:
            ledger.dispose()
    report(dataset, train, test, categorizer, train_seconds, predictions, rate, check)
    print(
        f"the job's run       by_source {result.by_source.model_dump()}, auto "
        f"{result.auto_applied}, suggested {result.suggested}, left {result.left}"
    )
    majority, lookup = baselines(train, test)
    print(f"baselines           majority class {majority:.1%}, exact-merchant lookup {lookup:.1%}")
    strict = sum(
        p.category == t.code for p, t in zip(predictions, test, strict=True) if p.decision != "none"
    ) / len(test)
    autos = [(p, t) for p, t in zip(predictions, test, strict=True) if p.decision == "auto"]
    auto_precision = sum(p.category == t.code for p, t in autos) / max(len(autos), 1)
    print("targets (issue 10)")
    every = sum(p.category == t.code for p, t in zip(predictions, test, strict=True)) / len(test)
    print(
        f"  top-1 accuracy >= {TARGET_ACCURACY:.0%}: {strict:.1%} counting `none` rows as "
        f"wrong, {every:.1%} with their guess; {verdict(every >= TARGET_ACCURACY)}"
    )
    auto_ok = (
        len(autos) / len(test) >= TARGET_AUTO_COVERAGE and auto_precision >= TARGET_AUTO_PRECISION
    )
    print(
        f"  >= {TARGET_AUTO_COVERAGE:.0%} auto-applied at >= {TARGET_AUTO_PRECISION:.0%} "
        f"precision: {len(autos) / len(test):.1%} at {auto_precision:.1%} {verdict(auto_ok)}"
    )
    print(
        f"  >= {TARGET_RATE:,} predictions/s per core: {rate:,.0f} {verdict(rate >= TARGET_RATE)}"
    )
    if resampled is not None:
        wall, cpu = resampled
        print(
            f"  training on {RESAMPLED_ROWS:,} rows < {TARGET_TRAIN_SECONDS:.0f} s: {wall:.1f} s "
            f"({cpu:.1f} CPU-s; the training part resampled with replacement, seed 0) "
            f"{verdict(wall < TARGET_TRAIN_SECONDS)}"
        )


def report(
    dataset: Path,
    train: list[Labeled],
    test: list[Labeled],
    categorizer: Categorizer,
    train_seconds: float,
    predictions: list[Prediction],
    rate: float,
    check: tuple[int, int, int, int],
) -> None:
    info, n = categorizer.info, len(test)
    right = [p.category == t.code for p, t in zip(predictions, test, strict=True)]
    print(f"dataset             {dataset.name}: {len(train)} train / {n} test rows")
    print(
        f"classes             {info.classes} "
        f"(trained on {info.examples} rows in {train_seconds:.1f} s)"
    )
    print(
        f"thresholds (CV)     auto {info.auto_threshold:.4f}, suggest {info.suggest_threshold:.4f}"
        " (5-fold out-of-fold predictions, calibrator's own 3-fold CV, training part only)"
    )
    if info.reliability is not None:
        r = info.reliability
        print(
            f"  on training CV    auto {r.auto_coverage:.1%} of rows at {r.auto_precision:.1%}, "
            f"suggest {r.suggest_coverage:.1%} at {r.suggest_precision:.1%}"
        )
    strict = sum(ok for ok, p in zip(right, predictions, strict=True) if p.decision != "none")
    print(f"top-1 accuracy      {strict / n:.1%} (a `none` row counts as wrong)")
    print(f"                    {sum(right) / n:.1%} (the guess on every row, `none` ones too)")
    print("decisions on test   share  precision")
    for decision in ("auto", "suggest", "none"):
        chosen = [ok for ok, p in zip(right, predictions, strict=True) if p.decision == decision]
        print(f"  {decision:<8}         {share(len(chosen), n)}  {share(sum(chosen), len(chosen))}")
    print("reliability curve   confidence >= t: coverage, precision (test rows)")
    for t in CURVE:
        chosen = [ok for ok, p in zip(right, predictions, strict=True) if p.confidence >= t]
        print(f"  t = {t:<4}          {share(len(chosen), n)}  {share(sum(chosen), len(chosen))}")
    rows, booked_right, suggested, suggested_right = check
    print(
        f"ledger after the job {share(booked_right, rows)} of rows booked right; "
        f"{share(suggested, rows)} carry a suggestion, {share(suggested_right, suggested)} right"
    )
    print(f"prediction          {rate:,.0f} rows per CPU-second (one thread)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument(
        "--no-100k", action="store_true", help="skip timing the training on 100,000 rows"
    )
    args = parser.parse_args(argv)
    if not args.dataset.is_file():
        print(f"dataset not found: {args.dataset}", file=sys.stderr)
        return 2
    run(args.dataset.resolve(), resample=not args.no_100k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
