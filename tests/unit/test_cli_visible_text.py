"""``terminal.visible``: every character that can steer a terminal is shown as text, and
nothing else changes (accents, currency signs and emoji in a description stay as they are)."""

from __future__ import annotations

import pytest
from rich.console import Console

from bookkeeper_jobs.terminal import untrusted, visible


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # title change (OSC ... BEL)
        ("\x1b[2J", "\\x1b[2J"),  # clear screen
        ("\x9b2J", "\\x9b2J"),  # the same as a C1 CSI
        ("a\x7fb\x00c", "a\\x7fb\\x00c"),  # DEL, NUL
        ("one\ntwo\r\tthree", "one\\ntwo\\r\\tthree"),  # one listing line stays one line
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        ("Café Müller £12 ☕", "Café Müller £12 ☕"),
    ],
)
def test_control_characters_are_shown_as_escapes(raw: str, shown: str) -> None:
    assert visible(raw) == shown


def test_untrusted_text_is_never_read_as_markup() -> None:
    console = Console(width=200, force_terminal=False)
    with console.capture() as captured:
        console.print(untrusted("[/red][link=https://evil.example]click[/link]"))
    assert captured.get() == "[/red][link=https://evil.example]click[/link]\n"
