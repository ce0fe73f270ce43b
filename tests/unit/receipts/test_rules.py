"""The field rules on rows of text, without OCR."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bookkeeper_jobs.receipts.amounts import find_tax, find_total, parse_amount
from bookkeeper_jobs.receipts.company import clean_name, find_company
from bookkeeper_jobs.receipts.dates import find_date
from bookkeeper_jobs.receipts.layout import Row
from bookkeeper_jobs.receipts.ocr import Word

TODAY = dt.date(2024, 6, 1)


def receipt(*lines: str) -> list[Row]:
    rows = []
    for number, line in enumerate(lines):
        words, left = [], 0
        for text in line.split():
            words.append(Word(text, 90.0, left, number * 40, 10 * len(text), 30))
            left += 10 * len(text) + 10
        rows.append(Row(words))
    return rows


@pytest.mark.parametrize(
    ("text", "value"),
    [("RM 1,007.50", "1007.50"), ("$8.20", "8.20"), ("62,60", "62.60"), ("12.5%", None)],
)
def test_amounts(text: str, value: str | None) -> None:
    assert parse_amount(text) == (Decimal(value) if value else None)


def test_the_final_total_wins_over_parts_and_tenders() -> None:
    rows = receipt(
        "SUB TOTAL 169.00",
        "Total GST (RM) 10.14",
        "Total Sales (Inclusive GST) RM 14.38",
        "Rounding Adjustment RM 0.02",
        "Rounding RM 14.40",
        "CASH RM 20.00",
        "CHANGE RM 5.60",
    )
    total = find_total(rows)
    assert total is not None
    assert (total.value, total.currency) == (Decimal("14.40"), "MYR")


def test_without_a_total_row_cash_minus_change_is_the_total() -> None:
    total = find_total(receipt("SUBTOTAL RM53.60", "CASH RM100.00", "CHANGE RM46.40"))
    assert total is not None
    assert total.value == Decimal("53.60")
    assert total.confidence < 0.7


def test_tax_is_read_when_printed() -> None:
    rows = receipt("GST ID No: 000381399040", "Total 6% supplies 33.96", "GST @6% RM 2.03")
    tax = find_tax(rows, Decimal("35.99"))
    assert tax is not None
    assert tax.value == Decimal("2.03")


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["Invoice 12/01/2018 10:00", "Date: 03/04/18"], dt.date(2018, 4, 3)),
        (["10 MAR 2018 12:41"], dt.date(2018, 3, 10)),
        (["Date : 2018/03/27"], dt.date(2018, 3, 27)),
        (["Date: 09/03/2078"], dt.date(2018, 3, 9)),
        (["12/25/2019"], dt.date(2019, 12, 25)),
        (["Expiry 01/01/2020", "Date 05-06-2019"], dt.date(2019, 6, 5)),
    ],
)
def test_dates(lines: list[str], expected: dt.date) -> None:
    found = find_date(receipt(*lines), TODAY)
    assert found is not None
    assert found.value == expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["tan woon yann", "INDAH GIFT & HOME DECO", "27, JALAN DEDAP 13,"],
            "INDAH GIFT & HOME DECO",
        ),
        (["GARDENIA BAKERIES (KL) SON EHD (139386 X)", "Lot 3"], "GARDENIA BAKERIES (KL) SDN BHD"),
        (["POPULAR BOOK", "co. CM) SDN BHD", "(Co. No. 113825-W)"], "POPULAR BOOK co. (M) SDN BHD"),
        (["FILL IN ENTERPRISE", "Company No: 12345-M"], "FILL IN ENTERPRISE"),
        (["EIGHT OUNCE COFFEE CO. THE GARDENS MALL"], "EIGHT OUNCE COFFEE CO."),
    ],
)
def test_company(lines: list[str], expected: str) -> None:
    found = find_company(receipt(*lines))
    assert found is not None
    assert found.value == expected


def test_clean_name_keeps_printed_dots() -> None:
    assert clean_name("SANJUNG REALITI SDN. BHD. (1234-X)") == "SANJUNG REALITI SDN. BHD."
