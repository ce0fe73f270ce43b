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
        (
            ["EIGHT OUNCE", "COFFEE", "EIGHT OUNCE COFFEE CO. THE GARDENS MALL"],
            "EIGHT OUNCE COFFEE CO.",
        ),
        (
            [
                "PERNIAGAAN ZHENG HUI",
                "JM0326955-V",
                "NO.89 JALAN PERMAS 9/6",
                "SIMPLIFIED TAX INVOICE",
                "GOGIANT ENGINEERING (M) SDN BHD",
            ],
            "PERNIAGAAN ZHENG HUI",
        ),
    ],
)
def test_company(lines: list[str], expected: str) -> None:
    found = find_company(receipt(*lines))
    assert found is not None
    assert found.value == expected


def test_clean_name_keeps_printed_dots() -> None:
    assert clean_name("SANJUNG REALITI SDN. BHD. (1234-X)") == "SANJUNG REALITI SDN. BHD."


def test_a_total_printed_with_one_decimal_keeps_its_cents() -> None:
    total = find_total(receipt("1 SUB TOTAL 159,00", "NET TOTAL 174.9", "CHANGE 25.10"))
    assert total is not None
    assert total.value == Decimal("174.90")


def test_a_total_row_the_payment_contradicts_gives_way_to_the_subtotal_it_confirms() -> None:
    rows = receipt(
        "SUBTOTAL 38.37",
        "TOTAL (GST INCL) 36.37",
        "CASH 40.35",
        "ROUNDING ADJUSTMENTS 0.02",
        "CHANGE DUE 2.00",
    )
    total = find_total(rows)
    assert total is not None
    assert total.value == Decimal("38.37")


def test_a_total_the_payment_confirms_after_rounding_stays() -> None:
    rows = receipt(
        "SUBTOTAL 35.00",
        "TOTAL 38.37",
        "ROUNDING ADJ -0.02",
        "CASH 40.35",
        "CHANGE 2.00",
    )
    total = find_total(rows)
    unchecked = find_total(rows[:2])
    assert total is not None
    assert unchecked is not None
    assert total.value == unchecked.value == Decimal("38.37")
    assert total.confidence > unchecked.confidence


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["VEN Date: 25/29/2017", "DD: 2509/2017 12:12"], dt.date(2017, 9, 25)),
        (["Ref 1203/2018", "Date: 05/06/2019"], dt.date(2019, 6, 5)),
    ],
)
def test_a_date_whose_separator_ocr_lost_is_read_only_without_a_whole_one(
    lines: list[str], expected: dt.date
) -> None:
    found = find_date(receipt(*lines), TODAY)
    assert found is not None
    assert found.value == expected


def test_a_glued_date_is_less_sure_than_a_whole_one() -> None:
    glued = find_date(receipt("DD: 2509/2017"), TODAY)
    whole = find_date(receipt("DD: 25/09/2017"), TODAY)
    assert glued is not None
    assert whole is not None
    assert glued.confidence < whole.confidence


@pytest.mark.parametrize("printed", ["99 SPEED MART 5S/B (519537-X)", "99 SPEED MART 5/B"])
def test_misread_s_b_is_put_right(printed: str) -> None:
    found = find_company(receipt(printed, "LOT P.T. 2811, JALAN ANGSA,"))
    assert found is not None
    assert found.value == "99 SPEED MART S/B"


def test_a_printed_rounded_total_the_payment_settles_beats_the_unrounded_one() -> None:
    rows = receipt(
        "TOTAL AMT RM 60.31",
        "ROUNDING ADJ 0.01",
        "RM 60.30",
        "CASH RM 70.30",
        "CHANGE RM 10.00",
    )
    total = find_total(rows)
    assert total is not None
    assert total.value == Decimal("60.30")
