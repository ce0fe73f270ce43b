"""Safe terminal text: what the CLI prints that it did not write itself.

Job messages, errors, file names, ids and company ids come from the server, and the server
quotes what users uploaded (a CSV cell, a file name). Printed as ``rich`` markup, ``[/red]``
in a cell crashes the command and ``[link=...]`` makes a clickable link; printed raw, an
escape sequence can retitle the terminal, clear the screen or hide text. So untrusted text is
always printed through :func:`visible` and as ``rich.text.Text`` (never parsed as markup).
"""

from __future__ import annotations

import re

from rich.text import Text

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 (ESC, BEL, CR, ...), DEL and C1 (CSI 0x9b, OSC 0x9d, ...)
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks and overrides reorder text
    "\u2028\u2029]"  # line and paragraph separators break a one-line listing like \n
)
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def visible(text: str) -> str:
    """``text`` with every control character shown as its Python escape (ESC as the four
    characters ``\\x1b``), so it reaches the terminal as plain, printable text."""
    return _UNSAFE.sub(_escape, text)


def untrusted(text: str, style: str = "") -> Text:
    """``text`` as a ``rich`` renderable that is never read as markup, controls made visible."""
    return Text(visible(text), style=style)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
