"""OFX and QFX statements (1.x SGML and 2.x XML), parsed whole with ``ofxtools``: they are
small, one statement period of one account.

Only the element tree is used, not ofxtools' strict model conversion, so a bank file with a
missing sign-on field still yields its transactions.
"""

from __future__ import annotations

import datetime
import html
import io
import re
from xml.etree.ElementTree import Element

from ofxtools.Parser import OFXTree

from bookkeeper_jobs.tasks.statements_model import ParsedRow, RowError, StatementFormatError
from bookkeeper_jobs.tasks.statements_values import read_amount

_TRANSACTION_TAG = re.compile(rb"<STMTTRN>", re.IGNORECASE)
_OFX_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
OFX_MARKERS = (b"OFXHEADER", b"<OFX>")
OFX_EXTENSIONS = (".ofx", ".qfx")
_SGML_HEADER = (
    b"OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\n"
    b"CHARSET:1252\nCOMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n"
)


def looks_like_ofx(head: bytes) -> bool:
    """An OFX 1.x header or an ``<OFX>`` root near the start."""
    start = head[:4096].upper()
    return any(marker in start for marker in OFX_MARKERS)


def read_ofx(data: bytes, default_currency: str) -> list[ParsedRow | RowError]:
    """Every STMTTRN in the file, in order; StatementFormatError if it is not OFX."""
    tree = OFXTree()
    try:
        tree.parse(io.BytesIO(_with_header(data)))
    except (SyntaxError, ValueError, LookupError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise StatementFormatError(f"not a valid OFX file: {reason}") from exc
    root: Element | None = tree.getroot()
    if root is None:
        raise StatementFormatError("not a valid OFX file: no OFX body")
    parents = {child: parent for parent in root.iter() for child in parent}
    transactions = list(root.iter("STMTTRN"))
    lines = _tag_lines(data)
    if len(lines) != len(transactions):
        lines = list(range(1, len(transactions) + 1))  # tags the regex did not see: ordinals
    return [
        _read_transaction(line, transaction, _currency(transaction, parents, default_currency))
        for line, transaction in zip(lines, transactions, strict=True)
    ]


def _with_header(data: bytes) -> bytes:
    """Some banks send the ``<OFX>`` body alone; ofxtools needs a header before it."""
    start = data[:4096].upper()
    if b"OFXHEADER" in start or data.lstrip().startswith(b"<?xml"):
        return data
    return _SGML_HEADER + data


def _tag_lines(data: bytes) -> list[int]:
    """The line of each ``<STMTTRN>``, counted incrementally (never quadratic)."""
    newline = b"\n" if b"\n" in data else b"\r"
    lines, line, position = [], 1, 0
    for match in _TRANSACTION_TAG.finditer(data):
        line += data.count(newline, position, match.start())
        position = match.start()
        lines.append(line)
    return lines


def _text(element: Element, path: str) -> str:
    return html.unescape(element.findtext(path) or "").strip()


def _currency(transaction: Element, parents: dict[Element, Element], default: str) -> str:
    """The transaction's own CURRENCY, else its statement's CURDEF, else the default."""
    own = _text(transaction, "CURRENCY/CURSYM")
    if own:
        return own.upper()
    node: Element | None = transaction
    while node is not None:
        if curdef := _text(node, "CURDEF"):
            return curdef.upper()
        node = parents.get(node)
    return default


def _read_transaction(line: int, transaction: Element, currency: str) -> ParsedRow | RowError:
    problems: list[str] = []
    date = _posted_date(_text(transaction, "DTPOSTED"), problems)
    description = _description(transaction)
    if not description:
        problems.append("description is empty")
    raw_amount = _text(transaction, "TRNAMT")
    amount = None
    if not raw_amount:
        problems.append("amount is empty")
    else:
        try:
            amount, _ = read_amount(raw_amount, decimal_comma=False)
        except ValueError:
            problems.append(f"amount '{raw_amount}' is not a number")
    if problems or date is None or amount is None:
        return RowError(line, "; ".join(problems))
    return ParsedRow(line, date, description, amount, currency)


def _posted_date(raw: str, problems: list[str]) -> datetime.date | None:
    """The calendar date as the bank wrote it: ``20240131120000[-5:EST]`` is 31 January,
    whatever the time zone (converting to UTC could move it to another day)."""
    if not raw:
        problems.append("date is empty")
        return None
    match = _OFX_DATE.match(raw)
    try:
        if match:
            return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        pass
    problems.append(f"date '{raw}' is not a date")
    return None


def _description(transaction: Element) -> str:
    """NAME, with MEMO when it adds something (banks cut NAME at 32 characters)."""
    name = _text(transaction, "NAME") or _text(transaction, "PAYEE/NAME")
    memo = _text(transaction, "MEMO")
    if name and memo and memo.casefold() not in name.casefold():
        return " ".join(f"{name} - {memo}".split())
    return " ".join((name or memo).split())
