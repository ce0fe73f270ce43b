"""Finding a CSV statement's header among its first rows, and what the header says: the
delimiter, and which column holds the date, the description and the amount.

The header may follow a few preamble rows (account number, period) and its names vary by
bank, so columns are found by alias, ignoring case, spaces, punctuation and a parenthesized
suffix (``Amount (GBP)``; a currency code there becomes the file's currency).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bookkeeper_jobs.tasks.statements_model import StatementFormatError

HEADER_SEARCH_ROWS = 10
DELIMITERS = (",", ";", "\t", "|")
DATE_ALIASES = (
    "date",
    "transaction date",
    "trans date",
    "posted date",
    "posting date",
    "posted",
    "date posted",
    "booking date",
    "value date",
)
DESCRIPTION_ALIASES = (
    "description",
    "transaction description",
    "payee",
    "merchant",
    "name",
    "narrative",
    "details",
    "memo",
)
AMOUNT_ALIASES = ("amount", "transaction amount", "value")
DEBIT_ALIASES = ("debit", "debit amount", "withdrawal", "withdrawals", "money out", "paid out")
CREDIT_ALIASES = ("credit", "credit amount", "deposit", "deposits", "money in", "paid in")
CURRENCY_ALIASES = ("currency", "currency code", "ccy")

_SUFFIX = re.compile(r"\s*[(\[]([^)\]]*)[)\]]\s*$")
_NOT_WORD = re.compile(r"[\W_]+")


def _normalize(name: str) -> str:
    return _NOT_WORD.sub("", _SUFFIX.sub("", name).casefold())


def _alias_table(aliases: Iterable[str]) -> dict[str, int]:
    return {_normalize(alias): rank for rank, alias in enumerate(aliases)}


_ROLES = {
    "date": _alias_table(DATE_ALIASES),
    "description": _alias_table(DESCRIPTION_ALIASES),
    "amount": _alias_table(AMOUNT_ALIASES),
    "debit": _alias_table(DEBIT_ALIASES),
    "credit": _alias_table(CREDIT_ALIASES),
    "currency": _alias_table(CURRENCY_ALIASES),
}


@dataclass(frozen=True)
class CsvLayout:
    """Where things are in one file: the delimiter, the header row and the columns."""

    delimiter: str
    header_row: int
    """0-based, counting every CSV row before it (blank ones too)."""
    width: int
    date: int
    descriptions: tuple[int, ...]
    """Every description-like column, best first: an empty payee falls back to the memo."""
    amount: int | None
    debit: int | None
    credit: int | None
    currency: int | None
    header_currency: str | None
    """``GBP`` from ``Amount (GBP)``."""
    decimal_comma: bool
    """Semicolon-separated files are European: ``1.234,56``, ``31.01.2024``."""

    @property
    def last_column(self) -> int:
        """The rightmost column we read."""
        used = [self.date, *self.descriptions, self.amount, self.debit, self.credit]
        return max(index for index in [*used, self.currency] if index is not None)


def _columns_by_role(header: list[str]) -> dict[str, list[int]]:
    """Each role's columns, best alias first."""
    found: dict[str, list[tuple[int, int]]] = {role: [] for role in _ROLES}
    for index, name in enumerate(header):
        key = _normalize(name)
        for role, table in _ROLES.items():
            if key in table:
                found[role].append((table[key], index))
    return {role: [index for _, index in sorted(hits)] for role, hits in found.items()}


def _missing(columns: dict[str, list[int]]) -> str | None:
    """Why a row with these columns is not a usable header, or None if it is."""
    if not columns["date"]:
        return f"no date column found; expected one of: {', '.join(DATE_ALIASES)}"
    if not columns["description"]:
        aliases = ", ".join(DESCRIPTION_ALIASES)
        return f"no description column found; expected one of: {aliases}"
    if not (columns["amount"] or columns["debit"] or columns["credit"]):
        return "no amount column: need 'amount' or 'debit'/'credit'"
    return None


def _header_currency(header: list[str], columns: dict[str, list[int]]) -> str | None:
    for role in ("amount", "debit", "credit"):
        for index in columns[role]:
            match = _SUFFIX.search(header[index])
            code = match[1].strip() if match else ""
            if len(code) == 3 and code.isascii() and code.isalpha():
                return code.upper()
    return None


def _layout(delimiter: str, row_index: int, header: list[str]) -> CsvLayout:
    columns = _columns_by_role(header)
    amount = columns["amount"][0] if columns["amount"] else None
    return CsvLayout(
        delimiter=delimiter,
        header_row=row_index,
        width=len(header),
        date=columns["date"][0],
        descriptions=tuple(columns["description"]),
        amount=amount,
        debit=columns["debit"][0] if columns["debit"] and amount is None else None,
        credit=columns["credit"][0] if columns["credit"] and amount is None else None,
        currency=columns["currency"][0] if columns["currency"] else None,
        header_currency=_header_currency(header, columns),
        decimal_comma=delimiter == ";",
    )


def _first_rows(head: str, delimiter: str) -> list[list[str]]:
    """Up to HEADER_SEARCH_ROWS rows, fewer if one is broken (the row reader reports it)."""
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(head), delimiter=delimiter)
    try:
        for row in reader:
            rows.append(row)
            if len(rows) == HEADER_SEARCH_ROWS:
                break
    except csv.Error:
        pass
    return rows


def detect_layout(head: str) -> CsvLayout:
    """The layout from the start of the file; StatementFormatError if no header is found."""
    best: tuple[int, str] | None = None  # (roles found, why it is unusable)
    layouts: list[CsvLayout] = []
    for delimiter in DELIMITERS:
        for index, row in enumerate(_first_rows(head, delimiter)):
            columns = _columns_by_role(row)
            problem = _missing(columns)
            if problem is None:
                layouts.append(_layout(delimiter, index, row))
                break
            score = sum(1 for hits in columns.values() if hits)
            if score and (best is None or score > best[0]):
                best = (score, problem)
    if layouts:
        return max(layouts, key=lambda layout: layout.width)
    if best is not None:
        raise StatementFormatError(best[1])
    raise StatementFormatError(
        f"no header row found in the first {HEADER_SEARCH_ROWS} lines; "
        "expected columns such as Date, Description and Amount"
    )
