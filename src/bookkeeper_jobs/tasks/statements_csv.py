"""Reading a CSV statement's rows one at a time, after the header that
:mod:`.statements_csv_layout` found; the file is never held in memory.
"""

from __future__ import annotations

import csv
import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TextIO

from bookkeeper_jobs.tasks.statements_csv_layout import CsvLayout
from bookkeeper_jobs.tasks.statements_model import ParsedRow, RowError
from bookkeeper_jobs.tasks.statements_values import NumericDate, read_amount, read_date

MAX_LINE_CHARS = 1 << 20
"""A longer line is reported as a row error and skipped, so a file without line breaks
cannot make the parser hold it whole."""
MAX_UNDECIDED_ROWS = 20_000
"""Rows held back while every date so far reads both day-first and month-first."""

_SPACE_RUN = re.compile(r"\s\s|[^\S ]")


@dataclass(frozen=True, slots=True)
class _Undated:
    """A good row held back until the file shows whether its dates are day-first."""

    line: int
    raw_date: str
    date: NumericDate
    description: str
    amount: Decimal
    currency: str


_Item = ParsedRow | RowError | _Undated


def read_csv(
    text: TextIO, layout: CsvLayout, default_currency: str
) -> Iterator[ParsedRow | RowError]:
    """Every row after the header, in file order, as a ParsedRow or a RowError.

    Rows are held back only while every numeric date so far reads both ways (``01/02/2024``),
    at most :data:`MAX_UNDECIDED_ROWS` of them; then the default order applies.
    """
    rows = _CsvRows(layout, default_currency)
    overlong: set[int] = set()
    reader = csv.reader(_bounded_lines(text, overlong), delimiter=layout.delimiter)
    for _ in range(layout.header_row + 1):
        next(reader, None)
    held: list[_Item] = []
    previous_line = reader.line_num
    while True:
        item: _Item
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            item = RowError(previous_line + 1, f"row is not valid CSV: {exc}")
        else:
            if previous_line + 1 in overlong:
                item = RowError(
                    previous_line + 1, f"line is longer than {MAX_LINE_CHARS} characters"
                )
            elif not row or not "".join(row).strip():
                previous_line = reader.line_num
                continue  # a blank line
            else:
                item = rows.read(previous_line + 1, row)
        previous_line = reader.line_num
        if held or isinstance(item, _Undated):
            yield from rows.hold(held, item)
        else:
            yield item
    if held:
        rows.decide_default(held)
        yield from rows.release(held)


def _bounded_lines(text: TextIO, overlong: set[int]) -> Iterator[str]:
    """The file's lines, each overlong one replaced by a blank line whose number is noted."""
    number = 0
    while line := text.readline(MAX_LINE_CHARS):
        number += 1
        if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            while (rest := text.readline(MAX_LINE_CHARS)) and not rest.endswith(("\n", "\r")):
                pass
            overlong.add(number)
            line = "\n"
        yield line


class _CsvRows:
    """Reads the data rows of one file. Knows its day/month order once a row has shown it."""

    def __init__(self, layout: CsvLayout, default_currency: str) -> None:
        self.layout = layout
        self.default_currency = layout.header_currency or default_currency
        self.day_first: bool | None = None
        self._width = layout.width
        self._last_column = layout.last_column

    def hold(self, held: list[_Item], item: _Item) -> Iterator[ParsedRow | RowError]:
        """Holds ``item`` while the order is unknown; releases everything once it is known."""
        if isinstance(item, _Undated) and (forced := item.date.forced_day_first) is not None:
            self.day_first = forced
            yield from self.release(held)
            yield self.resolve(item)
            return
        held.append(item)
        if len(held) >= MAX_UNDECIDED_ROWS:
            self.decide_default(held)
            yield from self.release(held)

    def release(self, held: list[_Item]) -> Iterator[ParsedRow | RowError]:
        for item in held:
            yield self.resolve(item) if isinstance(item, _Undated) else item
        held.clear()

    def decide_default(self, held: list[_Item]) -> None:
        """Nothing decided it: month-first, except in European-looking files."""
        sample = next(item for item in held if isinstance(item, _Undated))
        self.day_first = sample.date.separator == "." or self.layout.decimal_comma

    def resolve(self, item: _Undated) -> ParsedRow | RowError:
        date = self._resolve_date(item.line, item.raw_date, item.date)
        if isinstance(date, RowError):
            return date
        return ParsedRow(item.line, date, item.description, item.amount, item.currency)

    def _resolve_date(self, line: int, raw: str, date: NumericDate) -> datetime.date | RowError:
        assert self.day_first is not None
        try:
            return date.resolve(self.day_first)
        except ValueError:
            order = "day/month/year" if self.day_first else "month/day/year"
            return RowError(line, f"date '{raw}' is not a date in {order} order")

    def read(self, line: int, row: list[str]) -> _Item:
        layout = self.layout
        width = len(row)
        if width != self._width:
            while width > self._width and not row[width - 1].strip():
                width -= 1  # trailing delimiters
            if width > self._width or width <= self._last_column:
                return RowError(line, f"expected {self._width} fields, found {width}")
        problems: list[str] = []
        raw_date = row[layout.date].strip()
        date = _date(raw_date, problems)
        description = _description(row, layout)
        if not description:
            problems.append("description is empty")
        amount, code = _amount(row, layout, problems)
        currency = self._currency(row, code, problems)
        if problems or date is None or amount is None:
            return RowError(line, "; ".join(problems))
        if isinstance(date, NumericDate):
            if self.day_first is None:
                return _Undated(line, raw_date, date, description, amount, currency)
            resolved = self._resolve_date(line, raw_date, date)
            if isinstance(resolved, RowError):
                return resolved
            date = resolved
        return ParsedRow(line, date, description, amount, currency)

    def _currency(self, row: list[str], code: str | None, problems: list[str]) -> str:
        if self.layout.currency is None:
            return code or self.default_currency
        raw = _cell(row, self.layout.currency).upper()
        if not raw:
            return code or self.default_currency
        if len(raw) != 3 or not raw.isascii() or not raw.isalpha():
            problems.append(f"currency '{raw}' is not a 3-letter code")
        return raw


def _date(raw: str, problems: list[str]) -> datetime.date | NumericDate | None:
    if not raw:
        problems.append("date is empty")
        return None
    try:
        return read_date(raw)
    except ValueError:
        problems.append(f"date '{raw}' is not a date")
        return None


def _description(row: list[str], layout: CsvLayout) -> str:
    """The first non-empty description column, runs of spaces squeezed."""
    for index in layout.descriptions:
        text = row[index].strip() if index < len(row) else ""
        if _SPACE_RUN.search(text):
            text = " ".join(text.split())
        if text:
            return text
    return ""


def _amount(
    row: list[str], layout: CsvLayout, problems: list[str]
) -> tuple[Decimal | None, str | None]:
    """The signed amount and any currency code written with it."""
    if layout.amount is not None:
        raw = row[layout.amount].strip()
        if not raw:
            problems.append("amount is empty")
            return None, None
        return _money(raw, "amount", layout, problems)
    raw_debit, raw_credit = _cell(row, layout.debit), _cell(row, layout.credit)
    if not raw_debit and not raw_credit:
        problems.append(_both_empty(layout))
        return None, None
    debit, debit_code = _money(raw_debit, "debit", layout, problems) if raw_debit else _NONE
    credit, credit_code = _money(raw_credit, "credit", layout, problems) if raw_credit else _NONE
    if (raw_debit and debit is None) or (raw_credit and credit is None):
        return None, None
    # A debit is money out however the bank signs it; credit minus debit if both are filled.
    money_in = abs(credit) if credit is not None else Decimal(0)
    money_out = abs(debit) if debit is not None else Decimal(0)
    return money_in - money_out, credit_code or debit_code


_NONE: tuple[None, None] = (None, None)


def _both_empty(layout: CsvLayout) -> str:
    if layout.debit is not None and layout.credit is not None:
        return "debit and credit are both empty"
    return "debit is empty" if layout.debit is not None else "credit is empty"


def _cell(row: list[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def _money(
    raw: str, label: str, layout: CsvLayout, problems: list[str]
) -> tuple[Decimal | None, str | None]:
    try:
        return read_amount(raw, decimal_comma=layout.decimal_comma)
    except ValueError:
        problems.append(f"{label} '{raw}' is not a number")
        return None, None
