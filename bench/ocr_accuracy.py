"""Receipt extraction accuracy and speed on the SROIE dev receipts (prints figures; not a test).

    .venv/bin/python bench/ocr_accuracy.py [--dataset DIR] [--show-misses]
        [--no-clean-borders] [--rescale] [--threshold] [--no-softened-reread]

Runs ``extract_receipt`` on every ``<id>.jpg`` of the dataset (default: ``sroie-dev`` in the
``shared/datasets`` folder beside the checkout) and compares with its ``<id>.json`` after
normalisation: amounts as decimals (currency and thousands separators dropped), dates as
calendar dates (the ground truth's own printed formats parsed), companies case- and
space-insensitive. A ground truth with an empty total counts as "no total". Seconds per
receipt are wall-clock times of the whole extraction, one receipt at a time, tesseract on one
thread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bookkeeper_jobs.receipts import ReceiptExtraction, extract_receipt
from bookkeeper_jobs.receipts.preprocess import Preprocessing

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sroie-dev"
TARGETS = {"total": 0.90, "date": 0.90, "company": 0.75}
SECONDS_TARGET = 2.0
_TRUTH_DATE_FORMATS = (
    "%d/%m/%Y",
    "%d/%m/%y",
    "%d-%m-%Y",
    "%d-%m-%y",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%d %b %Y",
    "%d %b %y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%Y/%m/%d",
    "%Y-%m-%d",
    "%b %d, %Y",
)


def truth_amount(text: str) -> Decimal | None:
    cleaned = re.sub(r"[^\d.]", "", text.replace(",", ""))
    if not cleaned:
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def truth_date(text: str) -> dt.date | None:
    text = " ".join(text.split())
    for pattern in _TRUTH_DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def company_key(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "").upper()


def score(found: ReceiptExtraction, truth: dict[str, str]) -> dict[str, bool]:
    return {
        "total": found.total == truth_amount(truth.get("total", "")),
        "date": found.date == truth_date(truth.get("date", "")),
        "company": company_key(found.company) == company_key(truth.get("company")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--show-misses", action="store_true", help="print each wrong field")
    parser.add_argument("--no-clean-borders", action="store_true")
    parser.add_argument("--rescale", action="store_true")
    parser.add_argument("--threshold", action="store_true")
    parser.add_argument(
        "--no-softened-reread", action="store_true", help="one reading, even of doubtful fields"
    )
    args = parser.parse_args(argv)
    steps = Preprocessing(
        clean_borders=not args.no_clean_borders,
        rescale=args.rescale,
        threshold=args.threshold,
        softened_reread=not args.no_softened_reread,
    )
    images = sorted(args.dataset.glob("*.jpg"))
    if not images:
        print(f"no receipts in {args.dataset}", file=sys.stderr)
        return 2
    hits = dict.fromkeys(TARGETS, 0)
    seconds = []
    empty_totals = []
    for image in images:
        truth = json.loads(image.with_suffix(".json").read_text(encoding="utf-8"))
        if truth_amount(truth.get("total", "")) is None:
            empty_totals.append(image.stem)
        started = time.perf_counter()
        found = extract_receipt(image.read_bytes(), filename=image.name, steps=steps)
        seconds.append(time.perf_counter() - started)
        for field, correct in score(found, truth).items():
            hits[field] += correct
            if args.show_misses and not correct:
                value = getattr(found, field)
                print(f"  miss {image.stem} {field}: got {value!s:.60} want {truth.get(field)!r}")
    count = len(images)
    print(f"receipts: {count} ({args.dataset.name}), steps: {steps}")
    if empty_totals:
        print(f"ground truth without a total (scored as 'no total'): {', '.join(empty_totals)}")
    for field, target in TARGETS.items():
        accuracy = hits[field] / count
        print(f"{field:<8} {hits[field]:>3}/{count}  {accuracy:6.1%}  (target {target:.0%})")
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * len(ordered)) - 1)]
    print(
        f"seconds per receipt: median {statistics.median(ordered):.2f}, p90 {p90:.2f},"
        f" max {ordered[-1]:.2f}  (target < {SECONDS_TARGET:g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
