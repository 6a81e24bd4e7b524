"""Web text on a terminal: titles, feed names and errors quoting a server carry no escape sequence,
bell, carriage return or bidi override to the operator's terminal."""

from __future__ import annotations

import pytest

from extractors.records import terminal_safe
from warehouse.readonly import format_rows

HOSTILE = "Title \x1b]0;owned\x07with \x1b[2Jescapes\r, \x9b1m C1, \u202eevil\u202c and \x00nul"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (HOSTILE, "Title ]0;ownedwith [2Jescapes, 1m C1, evil and nul"),
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),
        ("Противоракетная оборона — «ПРО» ✓", "Противоракетная оборона — «ПРО» ✓"),
        ("\u200fmark\u2066isolate\u2069\u061c", "markisolate"),
    ],
)
def test_terminal_safe(text, shown):
    assert terminal_safe(text) == shown


def test_a_table_for_the_terminal_holds_no_escape():
    table = format_rows(["title"], [(HOSTILE,)], "table")
    assert not any(ch in table for ch in "\x1b\x07\r\x9b\u202e\x00")
    assert "escapes" in table
