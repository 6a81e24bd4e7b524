"""Text hygiene shared by matching and rendering: titles and snippets come from the open web."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Whitespace, C0/C1 controls (CR, LF, ESC, NEL U+0085...), and the Unicode line/paragraph
# separators: any of them could end a header line or move a terminal's cursor.
_BREAKING = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Bidi overrides/isolates and zero-width characters can disguise text; they carry no meaning here.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


# What makes a terminal act instead of show: C0 controls but tab and newline (ESC starts escape
# sequences, BEL rings, CR and BS overwrite), DEL, C1 controls (0x9B is an 8-bit CSI), bidi overrides.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Text for a terminal: the characters above removed; tabs and newlines kept."""
    return _TERMINAL_UNSAFE.sub("", text)


def one_line(text: str) -> str:
    """Collapse every run of whitespace or control characters to one space; drop invisible marks."""
    return _BREAKING.sub(" ", _INVISIBLE.sub("", text))


def shorten(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, at a word boundary when one is near, adding '…'."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space >= limit * 2 // 3:
        cut = cut[:space]
    return cut.rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link with no whitespace or control characters, else None."""
    if not url or _BREAKING.search(url) or _INVISIBLE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
