"""Reading the two hard fields of a bank statement row, dates and amounts, as banks write them.

Dates: ISO ``2024-01-31``, ``2024/01/31``, ``20240131``, numeric ``01/31/2024``,
``31/01/2024``, ``31.01.2024``, ``31-01-24`` (which of the first two numbers is the day is a
per-file decision, see :class:`NumericDate`), and month names (``31-Jan-2024``,
``Jan 31, 2024``). Amounts: thousands separators either way round, currency symbols and
codes, ``(12.50)``, ``12.50-``, ``12.50 CR`` / ``DR``.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

_TIME_SUFFIX = re.compile(
    r"(?:[T ]\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?\s*(?:Z|[+-]\d{2}:?\d{2})?)$"
)
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_NUMERIC = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})")
_TOKENS = re.compile(r"[^\W\d_]+|\d+")
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTHS = {name: month for month, full in enumerate(_MONTH_NAMES, 1) for name in (full, full[:3])}
_MONTHS["sept"] = 9
_IGNORED_WORDS = frozenset(
    ["st", "nd", "rd", "th", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
)


@dataclass(frozen=True, slots=True)
class NumericDate:
    """A date written as three numbers with the year last that reads as two different days,
    like ``01/02/2024``, with both readings (None where a reading is no valid day).

    Which one is meant is the file's convention: a file is consistently day-first or
    month-first, and a row that only one reading fits (``31/01/2024``) decides it.
    """

    day_first: datetime.date | None
    month_first: datetime.date | None
    separator: str
    """``.`` hints at day-first (``31.01.2024`` is the German way), ``/`` at neither."""

    @property
    def forced_day_first(self) -> bool | None:
        """True or False when only one reading is a valid day, None when both are."""
        if self.day_first is None or self.month_first is None:
            return self.day_first is not None
        return None

    def resolve(self, day_first: bool) -> datetime.date:
        """The date in the file's order; ValueError if that reading is no valid day."""
        found = self.day_first if day_first else self.month_first
        if found is None:
            raise ValueError("not a valid day in this order")
        return found


def full_year(year: str) -> int:
    """Two-digit years are 2000-2069 or 1970-1999."""
    if len(year) == 4:
        return int(year)
    short = int(year)
    return 2000 + short if short < 70 else 1900 + short


@lru_cache(maxsize=4096)
def read_date(raw: str) -> datetime.date | NumericDate:
    """The date in ``raw`` (stripped), or the numbers of an order-ambiguous one.

    Statements repeat the same few dates thousands of times, hence the cache.
    Raises ValueError when ``raw`` is not a date in any of the known formats.
    """
    text = _TIME_SUFFIX.sub("", raw).strip()
    if match := _YEAR_FIRST.fullmatch(text):
        return datetime.date(int(match[1]), int(match[3]), int(match[4]))
    if match := _COMPACT.fullmatch(text):
        return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    if match := _NUMERIC.fullmatch(text):
        return _numeric_date(int(match[1]), int(match[3]), full_year(match[4]), match[2])
    return _read_month_name_date(text)


def _numeric_date(
    first: int, second: int, year: int, separator: str
) -> datetime.date | NumericDate:
    day_first = _valid_date(year, second, first)
    month_first = _valid_date(year, first, second)
    if day_first is None and month_first is None:
        raise ValueError(f"{first}/{second}/{year}")
    if day_first == month_first:
        assert day_first is not None
        return day_first
    return NumericDate(day_first, month_first, separator)


def _valid_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _read_month_name_date(text: str) -> datetime.date:
    """``31-Jan-2024``, ``31 January 24``, ``Jan 31, 2024``, ``Wed Jan 31st 2024``,
    ``2024-Jan-31``."""
    month = None
    numbers = []
    for token in _TOKENS.findall(text):
        if token.isdigit():
            numbers.append(token)
        elif (lowered := token.casefold()) in _MONTHS and month is None:
            month = _MONTHS[lowered]
        elif lowered not in _IGNORED_WORDS:
            raise ValueError(text)
    if month is None or len(numbers) != 2:
        raise ValueError(text)
    if len(numbers[0]) == 4:
        year, day = numbers
    else:
        day, year = numbers
    if len(day) > 2 or len(year) not in (2, 4):
        raise ValueError(text)
    return datetime.date(full_year(year), month, int(day))


_PLAIN_AMOUNT = re.compile(r"-?\d+(?:\.\d+)?")
_GROUPED_AMOUNT = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_IGNORED_IN_AMOUNT = re.compile(r"[\s'\u2019]+")  # spaces, NBSP, thin spaces, Swiss 1'234
_DIGITS_AND_SEPARATORS = re.compile(r"[\d.,]*\d[\d.,]*")
_MINUS_SIGNS = "-\u2212\u2013"
_BEFORE_MARKER = frozenset("0123456789)")


def read_amount(raw: str, *, decimal_comma: bool) -> tuple[Decimal, str | None]:
    """The amount in ``raw`` and the currency code written with it, if any.

    ``decimal_comma`` settles only the one ambiguous shape, ``1,234`` (or ``1.234``):
    thousands in a file that writes ``1,234.56``, a fraction in one that writes ``1.234,56``.
    Raises ValueError when ``raw`` is not an amount.
    """
    if not decimal_comma:
        if _PLAIN_AMOUNT.fullmatch(raw):
            return _positive_zero(Decimal(raw)), None
        if _GROUPED_AMOUNT.fullmatch(raw):
            return _positive_zero(Decimal(raw.replace(",", ""))), None
    text = _IGNORED_IN_AMOUNT.sub("", raw)
    marker = text[-2:].upper()
    if marker in ("CR", "DR") and text[-3:-2] in _BEFORE_MARKER:  # not the end of "IDR"
        text = text[:-2]
    else:
        marker = ""
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    text, lead_negative, lead_code = _peel_start(text)
    text, trail_negative, trail_code = _peel_end(text)
    if not _DIGITS_AND_SEPARATORS.fullmatch(text):
        raise ValueError(raw)
    amount = Decimal(_plain_number(text, decimal_comma=decimal_comma))
    if marker in ("CR", "DR"):
        negative = marker == "DR"
    else:
        negative = negative or lead_negative or trail_negative
    return _positive_zero(-amount if negative else amount), lead_code or trail_code


def _positive_zero(amount: Decimal) -> Decimal:
    return abs(amount) if amount.is_zero() else amount


def _peel_start(text: str) -> tuple[str, bool, str | None]:
    """Strips signs, currency symbols and a currency code from the front."""
    negative, code = False, None
    while text:
        if text[0] in _MINUS_SIGNS:
            negative = True
        elif _is_code(text[:3]) and code is None:
            code, text = text[:3].upper(), text[3:]
            continue
        elif text[0] != "+" and unicodedata.category(text[0]) != "Sc":
            break
        text = text[1:]
    return text, negative, code


def _peel_end(text: str) -> tuple[str, bool, str | None]:
    """Strips signs, currency symbols and a currency code from the back."""
    negative, code = False, None
    while text:
        if text[-1] in _MINUS_SIGNS:
            negative = True
        elif _is_code(text[-3:]) and code is None:
            code, text = text[-3:].upper(), text[:-3]
            continue
        elif text[-1] != "+" and unicodedata.category(text[-1]) != "Sc":
            break
        text = text[:-1]
    return text, negative, code


def _plain_number(text: str, *, decimal_comma: bool) -> str:
    """``1,234.56`` / ``1.234,56`` / ``1 234,56`` (spaces already gone) as ``1234.56``."""
    point = _decimal_point(text, decimal_comma=decimal_comma)
    whole, fraction = text.rsplit(point, 1) if point else (text, "")
    separator = "," if point == "." else "." if point == "," else ("," if "," in whole else ".")
    groups = whole.split(separator)
    if len(groups) > 1 and not _valid_grouping(groups):
        raise ValueError(text)
    digits = "".join(groups) or "0"
    if not digits.isdigit() or (fraction and not fraction.isdigit()) or (point and not fraction):
        raise ValueError(text)
    return f"{digits}.{fraction}" if fraction else digits


def _decimal_point(text: str, *, decimal_comma: bool) -> str | None:
    """Which of ``.`` and ``,`` separates the fraction, or None for a whole number."""
    dot, comma = text.rfind("."), text.rfind(",")
    if dot >= 0 and comma >= 0:
        return "." if dot > comma else ","
    last = max(dot, comma)
    if last < 0:
        return None
    mark = text[last]
    if text.count(mark) > 1:
        return None
    if len(text) - last - 1 != 3:
        return mark
    return mark if decimal_comma == (mark == ",") else None


def _valid_grouping(groups: list[str]) -> bool:
    """``1,234,567`` and the Indian ``12,34,567``; not ``1,2,3``."""
    first, *middle, last = groups
    return 1 <= len(first) <= 3 and all(len(group) in (2, 3) for group in middle) and len(last) == 3


def _is_code(text: str) -> bool:
    """An ISO 4217 shape: three capital ASCII letters."""
    return len(text) == 3 and text.isascii() and text.isalpha() and text.isupper()
