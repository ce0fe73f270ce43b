"""Bank statements in, transactions out: CSV exports (streamed, any size) and OFX/QFX files.

The API calls :func:`sniff_statement` on the head of an upload to refuse unusable files with
a 4xx; the import task calls :func:`count_data_lines` for a progress total, then
:func:`parse_statement`, which yields one :class:`ParsedRow` or :class:`RowError` per row.

Text encoding is UTF-8 (with or without a BOM) or UTF-16 with a BOM; a file whose first
64 KiB are not UTF-8 is read as Windows-1252 (Excel on Windows), or Latin-1 as a last resort.
The CSV rules live in :mod:`.statements_csv_layout` (the header) and :mod:`.statements_csv`
(the rows), the OFX ones in :mod:`.statements_ofx`; dates and amounts in
:mod:`.statements_values`.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, Literal

from bookkeeper_jobs.tasks.statements_csv import read_csv
from bookkeeper_jobs.tasks.statements_csv_layout import detect_layout
from bookkeeper_jobs.tasks.statements_model import ParsedRow, RowError, StatementFormatError
from bookkeeper_jobs.tasks.statements_ofx import OFX_EXTENSIONS, looks_like_ofx, read_ofx

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "HEAD_BYTES",
    "ParsedRow",
    "RowError",
    "StatementFormatError",
    "count_data_lines",
    "parse_statement",
    "sniff_statement",
]

HEAD_BYTES = 64 * 1024
"""What :func:`sniff_statement` is given and what the parser reads first to find the header."""
_CHUNK_BYTES = 1 << 20
_BINARY_SIGNATURES = {
    b"%PDF": "it looks like a PDF; export the statement as CSV or OFX instead",
    b"PK\x03\x04": "it looks like an Excel workbook or a zip archive; save it as CSV",
    b"\xd0\xcf\x11\xe0": "it looks like an old Excel (.xls) file; save it as CSV",
}
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f-\x9f]")
"""Not in text: controls other than tab, line breaks, form feed and DOS end-of-file (0x1a)."""
_CONTROL_SHARE = 0.02
"""More control characters than this (2 %) in the head means not a text file."""


def sniff_statement(head: bytes, filename: str) -> None:
    """Raises StatementFormatError unless ``head`` (the first up to 64 KiB) can start a
    statement: not empty, text, and OFX or a CSV with date, description and amount columns."""
    if _classify(head, filename) == "ofx":
        return
    detect_layout(_decode_head(head, _text_encoding(head)))


def parse_statement(
    stream: BinaryIO, filename: str, *, default_currency: str = "USD"
) -> Iterator[ParsedRow | RowError]:
    """The statement's rows in file order; blank lines are skipped.

    Reads the first 64 KiB now, so an unusable file raises StatementFormatError before this
    returns; CSV rows are then read one at a time (memory stays flat for any file size).
    OFX files are read whole. ``stream`` is left open.
    """
    currency = default_currency.upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"default_currency {default_currency!r} is not a 3-letter code")
    head = _read_head(stream)
    if _classify(head, filename) == "ofx":
        return iter(read_ofx(head + stream.read(), currency))
    encoding = _text_encoding(head)
    layout = detect_layout(_decode_head(head, encoding))
    text = io.TextIOWrapper(
        io.BufferedReader(_ReplayStream(head, stream), buffer_size=_CHUNK_BYTES),
        encoding=encoding,
        errors="replace",  # a stray byte past the head becomes U+FFFD, not a failed import
        newline="",
    )
    return _closing(read_csv(text, layout, currency), text)


def count_data_lines(stream: BinaryIO) -> int:
    """The number of lines from the stream's position to its end, for a progress total to
    compare with ``ParsedRow.line``; a last line without a line break counts. Leaves the
    stream at its end: seek back before parsing."""
    lines = carriage_returns = 0
    last = b"\n"
    while chunk := stream.read(_CHUNK_BYTES):
        lines += chunk.count(b"\n")
        carriage_returns += chunk.count(b"\r")
        last = chunk[-1:]
    if not lines:
        lines = carriage_returns  # classic Mac line breaks
    return lines + (last not in (b"\n", b"\r"))


def _closing(
    rows: Iterator[ParsedRow | RowError], text: io.TextIOWrapper
) -> Iterator[ParsedRow | RowError]:
    with text:
        yield from rows


def _read_head(stream: BinaryIO) -> bytes:
    """Up to HEAD_BYTES, looping because a raw stream may return less than asked."""
    parts: list[bytes] = []
    size = 0
    while size < HEAD_BYTES and (part := stream.read(HEAD_BYTES - size)):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _classify(head: bytes, filename: str) -> Literal["ofx", "csv"]:
    """Refuses empty and binary files; tells OFX/QFX from what may be a CSV."""
    if not head.strip(b" \t\r\n\f\v" + codecs.BOM_UTF8):
        raise StatementFormatError("file is empty")
    _refuse_binary(head)
    if looks_like_ofx(head):
        return "ofx"
    if filename.lower().endswith(OFX_EXTENSIONS):
        raise StatementFormatError(
            "file is named like an OFX file but has no OFX header (OFXHEADER or <OFX>)"
        )
    return "csv"


def _refuse_binary(head: bytes) -> None:
    for signature, hint in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise StatementFormatError(f"file is not text (binary content): {hint}")
    text = _decode_head(head, _text_encoding(head))
    controls = len(_CONTROL_CHARS.findall(text))
    if controls > _CONTROL_SHARE * len(text) or (b"\x00" in head and not _is_utf16(head)):
        raise StatementFormatError("file is not text (binary content)")


def _is_utf16(head: bytes) -> bool:
    return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def _text_encoding(head: bytes) -> str:
    if _is_utf16(head):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8-sig"
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _decode_head(head: bytes, encoding: str) -> str:
    """The head as text; a character cut in two at the end of the head is dropped."""
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)


class _ReplayStream(io.RawIOBase):
    """The head already read, then the rest of the stream: a peek that needs no seek().
    Closing it leaves the underlying stream open."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        if self._head:
            size = min(len(target), len(self._head))
            target[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._stream.read(len(target))
        target[: len(data)] = data
        return len(data)
