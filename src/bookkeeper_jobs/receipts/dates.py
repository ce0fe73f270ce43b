"""The receipt's date: every calendar date printed on it, the one labelled "date" first.

Numeric dates are read day first (``03/04/18`` is 3 April), as most of the world prints them,
unless only the month-first reading is a valid date. Two-digit years are 2000-2099. A date far
from today (before 1990, or more than a year ahead) is an OCR error, not a receipt date.

OCR sometimes loses the separator between day and month (``2509/2017`` for ``25/09/2017``);
such a glued date is read only when it is valid, and ranks below any date printed whole.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from bookkeeper_jobs.receipts.layout import Row

_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_NAME: Final = "|".join(sorted(_MONTHS, key=len, reverse=True))
_SEP: Final = r"\s?[/.\-]\s?"
_NUMERIC_YMD: Final = re.compile(
    rf"(?<!\d)(?P<y>(?:19|20)\d\d){_SEP}(?P<m>\d{{1,2}}){_SEP}(?P<d>\d{{1,2}})(?!\d)"
)
_NUMERIC_DMY: Final = re.compile(
    rf"(?<!\d)(?P<a>\d{{1,2}})(?P<s>{_SEP})(?P<b>\d{{1,2}})(?P=s)(?P<y>\d{{4}}|\d{{2}})(?!\d)"
)
_GLUED_DMY: Final = re.compile(
    rf"(?<![\d/.\-])(?P<a>\d{{2}})(?P<b>\d{{2}})(?P<s>{_SEP})(?P<y>(?:19|20)?\d\d)(?![\d/.\-])"
)
"""A day-month-year date whose first separator OCR lost."""
_NAMED: Final = re.compile(
    rf"(?<![a-z\d])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[\s\-/.]*(?P<m>{_MONTH_NAME})[a-z]*\.?[\s\-/.,]*"
    rf"(?P<y>\d{{4}}|\d{{2}})(?!\d)",
    re.IGNORECASE,
)
_NAMED_US: Final = re.compile(
    rf"(?<![a-z])(?P<m>{_MONTH_NAME})[a-z]*\.?\s*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s*"
    rf"(?P<y>\d{{4}})(?!\d)",
    re.IGNORECASE,
)
_DATE_LABEL: Final = re.compile(r"\b(?:dat[ae]|dated|tarikh|dt)\b", re.IGNORECASE)
_OTHER_DATE: Final = re.compile(r"\b(?:expir\w*|exp|valid|due|birth|since)\b", re.IGNORECASE)


@dataclass(frozen=True)
class FoundDate:
    value: dt.date
    confidence: float


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def _repaired_year(year: int, today: dt.date) -> int:
    """A four-digit year OCR misread in its decade digit (``2078`` for ``2018``) gets the
    latest decade that makes it a plausible receipt year; others are returned unchanged."""
    if 1990 <= year <= today.year + 1 or not 2000 <= year <= 2099:
        return year
    for decade in range((today.year + 1 - 2000) // 10, -1, -1):
        candidate = 2000 + decade * 10 + year % 10
        if candidate <= today.year + 1:
            return candidate
    return year


def _date(year: int, month: int, day: int, today: dt.date) -> dt.date | None:
    try:
        value = dt.date(year, month, day)
    except ValueError:
        return None
    if value.year < 1990 or value > today + dt.timedelta(days=366):
        return None
    return value


def dates_in(text: str, today: dt.date) -> list[tuple[dt.date, int, int]]:
    """Every plausible date in ``text`` with its span, in reading order."""
    found: list[tuple[dt.date, int, int]] = []
    for match in _NUMERIC_YMD.finditer(text):
        value = _date(int(match["y"]), int(match["m"]), int(match["d"]), today)
        if value:
            found.append((value, match.start(), match.end()))
    for match in _NUMERIC_DMY.finditer(text):
        value = _day_first(match, today)
        if value:
            found.append((value, match.start(), match.end()))
    for pattern in (_NAMED, _NAMED_US):
        for match in pattern.finditer(text):
            month = _MONTHS[match["m"].lower()]
            value = _date(_year(match["y"]), month, int(match["d"]), today)
            if value:
                found.append((value, match.start(), match.end()))
    return sorted(found, key=lambda item: item[1])


def glued_dates_in(text: str, today: dt.date) -> list[tuple[dt.date, int, int]]:
    """Dates whose day-month separator OCR lost (``2509/2017``), day first only."""
    found = []
    for match in _GLUED_DMY.finditer(text):
        year = _repaired_year(_year(match["y"]), today)
        value = _date(year, int(match["b"]), int(match["a"]), today)
        if value:
            found.append((value, match.start(), match.end()))
    return found


def _day_first(match: re.Match[str], today: dt.date) -> dt.date | None:
    a, b, year = int(match["a"]), int(match["b"]), _year(match["y"])
    year = _repaired_year(year, today)
    return _date(year, b, a, today) or _date(year, a, b, today)


def find_date(rows: list[Row], today: dt.date | None = None) -> FoundDate | None:
    """The receipt date: on a row labelled date if there is one, else the first date; a
    glued date (see the module) only when no date is printed whole."""
    today = today or dt.date.today()
    best: tuple[float, int, dt.date, float] | None = None
    for index, row in enumerate(rows):
        text = row.text
        labelled = bool(_DATE_LABEL.search(text))
        other = bool(_OTHER_DATE.search(text))
        score = (2.0 if labelled else 1.0) - (1.5 if other else 0.0)
        readings = [(d, start, end, score) for d, start, end in dates_in(text, today)]
        readings += [(d, s, e, score - 2.0) for d, s, e in glued_dates_in(text, today)]
        for value, start, end, rank in readings:
            key = (rank, -index, value, row.conf_of(start, end))
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:
        return None
    score, _, value, conf = best
    return FoundDate(value, round(conf * (0.95 if score >= 2 else 0.8 if score >= 0 else 0.5), 3))
