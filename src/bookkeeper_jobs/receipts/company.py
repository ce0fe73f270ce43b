"""The vendor: the company name printed in the receipt's header.

Among the first rows, the first row naming a business (a legal form such as ``SDN BHD``,
``LTD``, ``INC``, ``GMBH``, or a trade word such as ``TRADING``, ``RESTAURANT``, ``MART`` with
another word beside it) wins; else the first row that reads like a name (mostly letters, read
with some confidence, not an address, phone, registration or document title). A name split
over two rows (``POPULAR BOOK`` / ``CO. (M) SDN BHD``) is joined. Registration numbers in
brackets after it are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bookkeeper_jobs.receipts.layout import Row

HEADER_ROWS: Final = 10
_LEGAL_FORM: Final = (
    r"(?:sdn\.?\s*bhd|s/b|bhd|berhad|pte\.?\s*ltd|ltd|limited|llc|inc|corp(?:oration)?|gmbh|"
    r"plc|co\.|company)"
)
_LEGAL: Final = re.compile(rf"\b{_LEGAL_FORM}(?!\w)", re.IGNORECASE)
_TRADE: Final = re.compile(
    r"\b(?:enterprises?|trading|traders?|restaurant|restoran|cafe|coffee|bakery|bakeries|"
    r"mart|supermarket|minimarket|market|stores?|bookstores?|hardware|pharmacy|station|shop|"
    r"kedai|perniagaan|syarikat|industries|holdings|group|services?)\b",
    re.IGNORECASE,
)
_MISREAD_SDN_BHD: Final = re.compile(r"\b[S5][DO0][NM]\.?\s+[BE8][HN][DO0]\b", re.IGNORECASE)
_MISREAD_S_B: Final = re.compile(r"(?<![\w/])[5S]{1,2}\s?/\s?[B8](?![\w/])")
"""``S/B`` (Sdn Bhd) as OCR misreads it: ``5/B``, ``5S/B``, ``S/8``."""
_MISREAD_OPEN_BRACKET: Final = re.compile(r"(?<![(\w])C([A-Z]{1,2})\)")
_STRAY_MARKS: Final = re.compile(r"[\'\"\u2018\u2019\u201c\u201d|]")
_LEGAL_FORM_START: Final = re.compile(
    r"^\W*(?:co\.?|company|sdn\.?|bhd|ltd|limited|inc|pte|\(m\))\b", re.IGNORECASE
)
_NOT_NAME: Final = re.compile(
    r"\b(?:tel|telefon|phone|fax|h/?p|jalan|jln|lot|no\.?\s*\d|street|st\.|road|rd\.|"
    r"avenue|taman|gst|reg|registration|tax|invoice|receipt|bill|welcome|cashier|date|"
    r"time|table|www|http|email|e-mail|order|counter|member|id)\b|@|\d{4,}",
    re.IGNORECASE,
)
_CONTACT: Final = re.compile(
    r"\b(?:tel|fax|phone|reg|registration|no|number|gst|jalan|jln|lot|www|invoice|receipt)\b|@",
    re.IGNORECASE,
)
_TRAILING_REGISTRATION: Final = re.compile(r"\s*[(\[{][^()\[\]{}]*\d[^()\[\]{}]*[)\]}]?\W*$")
_EDGE_JUNK: Final = re.compile(r"^[^\w(]+|[^\w.)]+$")


@dataclass(frozen=True)
class FoundCompany:
    value: str
    confidence: float


def clean_name(text: str) -> str:
    """The name as printed, without what follows its legal form (a bracketed registration
    number, a branch), stray quote marks, and with common OCR misreadings of the legal form
    (``SON EHD`` for ``SDN BHD``, ``5/B`` for ``S/B``, ``CM)`` for ``(M)``) put right."""
    text = _STRAY_MARKS.sub("", text)
    text = _MISREAD_SDN_BHD.sub(_sdn_bhd, text)
    text = _MISREAD_S_B.sub("S/B", text)
    text = _MISREAD_OPEN_BRACKET.sub(r"(\1)", text)
    text = _TRAILING_REGISTRATION.sub("", text)
    legal_forms = list(_LEGAL.finditer(text))
    if legal_forms:
        end = legal_forms[-1].end()
        text = text[: end + 1 if text[end : end + 1] == "." else end]
    return " ".join(_EDGE_JUNK.sub("", text).split())


def _sdn_bhd(match: re.Match[str]) -> str:
    printed = match.group(0)
    return printed if re.fullmatch(r"SDN\.?\s+BHD", printed, re.IGNORECASE) else "SDN BHD"


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[\s.,&()]+", text) if len(word) >= 2 and word.isalpha()]


def _letters(text: str) -> int:
    return sum(char.isalpha() for char in text)


def _name_like(row: Row) -> bool:
    text = clean_name(row.text)
    letters = _letters(text)
    visible = sum(not char.isspace() for char in text)
    return (
        letters >= 3
        and letters >= 0.7 * visible
        and row.conf >= 0.45
        and not _NOT_NAME.search(text)
        and bool(_words(text))
    )


def find_company(rows: list[Row]) -> FoundCompany | None:
    """The company name in the header rows of the first page (see the module)."""
    header = [row for row in rows if row.page == 1][:HEADER_ROWS]
    # The vendor prints its name first: a business named further down (a customer, a
    # supplier, the mall) is not it, even when only the lower one states a legal form.
    businesses = [
        found
        for found in (_business_row(header, _LEGAL, 0.9), _business_row(header, _TRADE, 0.8))
        if found
    ]
    if businesses:
        return min(businesses, key=lambda found: found[1])[0]
    named = [row for row in header if _name_like(row)]
    # Shops print their name in capitals; a lower-case line above it is handwriting or a slogan.
    capitals = [row for row in named if _mostly_capitals(row.text)]
    for row in capitals[:1] or named[:1]:
        return FoundCompany(clean_name(row.text), round(row.conf * 0.6, 3))
    return None


def _mostly_capitals(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and sum(char.isupper() for char in letters) >= 0.7 * len(letters)


def _business_row(
    header: list[Row], pattern: re.Pattern[str], weight: float
) -> tuple[FoundCompany, int] | None:
    """The first header row naming a business by ``pattern``, and its index."""
    for index, row in enumerate(header):
        name = clean_name(row.text)
        if not pattern.search(name) or _CONTACT.search(row.text) or _letters(name) < 3:
            continue
        if pattern is _TRADE and len(_words(name)) < 2:
            continue  # a trade word alone ("COFFEE") is a logo or a sign, not a name
        if row.conf < 0.4:
            continue
        if _LEGAL_FORM_START.search(name) and index > 0 and _name_like(header[index - 1]):
            previous = header[index - 1]
            joined = f"{clean_name(previous.text)} {name}"
            confidence = round(min(row.conf, previous.conf) * weight * 0.95, 3)
            return FoundCompany(joined, confidence), index - 1
        return FoundCompany(name, round(row.conf * weight, 3)), index
    return None
