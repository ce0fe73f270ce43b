"""Writes bank-statement CSVs: a big synthetic one for the parse benchmark, or the small
realistic sample in ``examples/``. Both are deterministic for a given seed.

    python bench/make_statement.py --rows 1000000 --out var/statement-1m.csv
    python bench/make_statement.py --example --out examples/bank-statement.csv

The synthetic file is ``Date,Description,Amount,Balance`` with US dates, mostly card and ACH
lines, some quoted ``"-1,234.56"`` amounts, and about 0.1 % bad rows (a bad date, a bad
amount, an empty description, an unquoted comma) that the parser must report and skip.
"""

from __future__ import annotations

import argparse
import datetime
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

HEADER = "Date,Description,Amount,Balance\n"
CENT = Decimal("0.01")

# (description template, low, high); {n} is a store or reference number, negative is money out.
CARD_SPEND: list[tuple[str, int, int]] = [
    ("AMAZON MKTPLACE PMTS AMZN.COM/BILL WA", -300, -8),
    ("SHELL OIL {n}", -95, -25),
    ("CHEVRON {n} SAN JOSE CA", -90, -30),
    ("UBER *TRIP HELP.UBER.COM CA", -65, -9),
    ("LYFT *RIDE SAT 10AM", -45, -8),
    ("STARBUCKS STORE {n}", -25, -4),
    ("OFFICE DEPOT #{n}", -240, -12),
    ("STAPLES {n}", -180, -10),
    ("COSTCO WHSE #{n}", -600, -40),
    ("HOME DEPOT #{n}", -450, -15),
    ("DOORDASH*LUNCH ORDER", -80, -15),
    ("SQ *BLUE BOTTLE COFFEE", -30, -5),
    ("DELTA AIR {n}", -900, -180),
    ("MARRIOTT {n} CHICAGO IL", -700, -150),
    ("USPS PO {n}", -60, -3),
    ("FEDEX {n}", -120, -12),
    ("GOOGLE *GSUITE_EXAMPLE", -144, -72),
    ("ZOOM.US 888-799-9666", -160, -15),
    ("SLACK T0{n}", -250, -80),
    ("GITHUB, INC.", -84, -4),
]
MONEY_IN: list[tuple[str, int, int]] = [
    ("STRIPE TRANSFER ST-{n}", 300, 9000),
    ("SQUARE INC DEP {n}", 100, 4000),
    ("MOBILE DEPOSIT REF #{n}", 250, 6000),
    ("ZELLE FROM RIVERA CONSULTING", 400, 3500),
]
BAD_ROWS: list[Callable[[str, str], str]] = [
    lambda date, amount: f"13/45/2024,STARBUCKS STORE 1187,{amount},\n",
    lambda date, amount: f"{date},SHELL OIL 57444,12.3.4,\n",
    lambda date, amount: f"{date},,{amount},\n",
    lambda date, amount: f"{date},ACME, INC PAYMENT,{amount},1000.00\n",
    lambda date, amount: f"{date},UBER *TRIP,N/A,\n",
]


def money(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENT)


def fill(template: str, rng: random.Random) -> str:
    return template.format(n=rng.randint(1000, 99999)) if "{n}" in template else template


def csv_field(text: str) -> str:
    return f'"{text}"' if "," in text else text


def format_amount(amount: Decimal) -> str:
    """Plain ``-12.34``, or quoted ``"-1,234.56"`` above a thousand as many banks write it."""
    return f'"{amount:,}"' if abs(amount) >= 1000 else str(amount)


def cents_text(cents: int, *, grouped: bool = False) -> str:
    """``-123456`` as ``-1234.56`` (or ``-1,234.56``): integer cents, as Decimal is slow."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d}" if grouped else f"{sign}{whole}.{part:02d}"


def synthetic_rows(rows: int, seed: int, bad_share: float) -> Iterator[str]:
    rng = random.Random(seed)
    start = datetime.date(2024, 1, 1)
    days = max(1, min(730, rows // 50))
    dates = [(start + datetime.timedelta(days=day)).strftime("%m/%d/%Y") for day in range(days)]
    kinds = MONEY_IN + CARD_SPEND
    descriptions = [csv_field(template) for template, _, _ in kinds]
    balance = 25_000_000
    for index in range(rows):
        date = dates[index * days // rows]
        if rng.random() < 0.12:
            pick = rng.randrange(len(MONEY_IN))
        else:
            pick = len(MONEY_IN) + rng.randrange(len(CARD_SPEND))
        _, low, high = kinds[pick]
        cents = rng.randint(low * 100, high * 100)
        if rng.random() < bad_share:
            yield rng.choice(BAD_ROWS)(date, cents_text(cents))
            continue
        balance += cents
        description = descriptions[pick]
        if "{n}" in description:
            description = description.replace("{n}", str(rng.randint(1000, 99999)))
        amount = (
            f'"{cents_text(cents, grouped=True)}"' if abs(cents) >= 100_000 else cents_text(cents)
        )
        yield f"{date},{description},{amount},{cents_text(balance)}\n"


def write_synthetic(out: Path, rows: int, seed: int, bad_share: float) -> None:
    with out.open("w", encoding="utf-8", newline="") as file:
        file.write(HEADER)
        batch: list[str] = []
        for line in synthetic_rows(rows, seed, bad_share):
            batch.append(line)
            if len(batch) == 10_000:
                file.writelines(batch)
                batch.clear()
        file.writelines(batch)


# The sample: one small business's checking account over the first quarter of 2024.
MONTHLY: list[tuple[int, str, Decimal]] = [
    (1, "ONLINE TRANSFER TO OAKRIDGE PROPERTIES RENT", Decimal("-4850.00")),
    (3, "COMCAST CABLE COMM 800-COMCAST", Decimal("-189.95")),
    (5, "ADOBE *CREATIVE CLD 800-833-6687 CA", Decimal("-89.99")),
    (8, "PG&E WEB ONLINE PAYMENT", Decimal("-412.37")),
    (10, "INTUIT *QBOOKS ONLINE", Decimal("-90.00")),
    (12, "CITY OF SAN JOSE WATER UTIL", Decimal("-96.40")),
    (15, "GUSTO PAYROLL 240115 NET PAY", Decimal("-18640.22")),
    (15, "GUSTO TAX 240115 FED/STATE", Decimal("-6021.48")),
    (18, "THE HARTFORD INSURANCE PREM", Decimal("-318.00")),
    (20, "AT&T MOBILITY ONLINE PMT", Decimal("-276.14")),
    (26, "MONTHLY SERVICE FEE", Decimal("-25.00")),
    (26, "INTEREST PAYMENT", Decimal("3.87")),
    (28, "GUSTO PAYROLL 240128 NET PAY", Decimal("-18640.22")),
    (28, "GUSTO TAX 240128 FED/STATE", Decimal("-6021.48")),
]
CLIENTS = [
    "ACH DEPOSIT BRIGHTLINE MEDIA INV",
    "ACH DEPOSIT NORTHWIND TRADERS PMT",
    "WIRE TRANSFER IN CONTOSO LTD",
    "ACH DEPOSIT FABRIKAM INC AP",
    "STRIPE TRANSFER ST-",
]


ODD_BUT_VALID = [
    (datetime.date(2024, 2, 9), "AMAZON MKTPLACE PMTS REFUND AMZN.COM/BILL WA", Decimal("64.29")),
    (datetime.date(2024, 3, 6), "PAYPAL *ACME SUPPLY, INC", Decimal("-212.00")),
    (datetime.date(2024, 3, 21), "WIRE TRANSFER IN GLOBEX CORP", Decimal("25000.00")),
]


def example_rows(seed: int) -> list[tuple[datetime.date, str, Decimal]]:
    rng = random.Random(seed)
    rows: list[tuple[datetime.date, str, Decimal]] = []
    for month in (1, 2, 3):
        for day, description, amount in MONTHLY:
            stamp = description.replace("2401", f"240{month}")
            rows.append((_next_business_day(datetime.date(2024, month, day)), stamp, amount))
        for _ in range(13):
            client = rng.choice(CLIENTS)
            if client.endswith("-"):
                client += str(rng.randint(10_000_000, 99_999_999))
            rows.append((_business_day(rng, month), client, money(rng, 1500, 8000)))
        for _ in range(72):
            template, low, high = rng.choice(CARD_SPEND)
            rows.append((_business_day(rng, month), fill(template, rng), money(rng, low, high)))
    rows.extend(ODD_BUT_VALID)
    return sorted(rows, key=lambda row: row[0])


HOLIDAYS = {datetime.date(2024, 1, 1), datetime.date(2024, 1, 15), datetime.date(2024, 2, 19)}


def _business_day(rng: random.Random, month: int) -> datetime.date:
    """A day the bank posts on: a weekday that is not a federal holiday."""
    day = datetime.date(2024, month, rng.randint(1, 28 if month == 2 else 29))
    return _next_business_day(day)


def _next_business_day(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5 or day in HOLIDAYS:
        day += datetime.timedelta(days=1)
    return day


def write_example(out: Path, seed: int) -> None:
    balance = Decimal("48250.00")
    with out.open("w", encoding="utf-8", newline="") as file:
        file.write(HEADER)
        for day, description, amount in example_rows(seed):
            balance += amount
            file.write(
                f"{day:%m/%d/%Y},{csv_field(description)},{format_amount(amount)},{balance}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240131)
    parser.add_argument("--bad-share", type=float, default=0.001)
    parser.add_argument("--example", action="store_true", help="the small realistic sample")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.example:
        write_example(args.out, args.seed)
    else:
        write_synthetic(args.out, args.rows, args.seed, args.bad_share)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
