"""Cleaning of extracted article text: whitespace, markdown remnants and page-chrome lines.

A line is dropped only when the whole line is chrome (a share bar, "Comments: 0", a lone byline,
a lone date, a URL, an icon strip, a cookie notice, a repeat of an earlier line). Sentences are
never cut, so a real paragraph can only be lost if it is an exact repeat of an earlier one.
The helpers `parse_dateline` and `byline_name` are shared with the seed loader.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*\)")
_MD_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_URL_ONLY = re.compile(r"^[<(\[]?\s*(?:https?://|www\.)\S+\s*[>)\]]?$", re.I)
_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*\.?")

# "Key: short value" lines that label the page, not the story.
_LABEL = re.compile(
    r"^(?:comments?|category|categories|tags?|topics?|filed under|posted in|posted by|author|authors|"
    r"written by|original url|original article|source url|views?|reads?|hits|rating|share|"
    r"share this(?: article| story)?)\s*[:：]\s*(?P<value>.{0,80})$",
    re.I,
)
_NAME = r"[A-Z][\w'’-]*\.?"
_NAME_PARTICLE = r"(?:von|van|de|der|den|da|di|du|la|le|al|bin|ibn|and|&)"
# "By Jane Doe", "By Nikolaus von Twickel": every word a capitalised name or a particle, so
# "By Monday Russia had agreed." is not a byline.
_BYLINE = re.compile(rf"^(?i:by)\s+(?P<name>{_NAME}(?:\s+(?:{_NAME_PARTICLE}|{_NAME})){{0,5}})$")
_COOKIE = re.compile(
    r"\b(?:(?:we|this (?:web)?site) uses? cookies|accept (?:all )?cookies|cookie (?:policy|settings|consent)"
    r"|by continuing to (?:use|browse))\b",
    re.I,
)
_RIGHTS = re.compile(r"all rights reserved|non-commercial use only|^(?:©|\(c\)|copyright\b)", re.I)

# Words that make up share bars, "Read more" links and similar buttons; a short line made only
# of these, with at least one of the strong ones, is chrome.
_BUTTON_WORDS = frozenset(
    """share shares sharing tweet email e-mail mail print facebook twitter x whatsapp linkedin pinterest
    reddit telegram messenger flipboard copy link subscribe subscribed save saved bookmark read more
    related stories story articles article posts post coverage advertisement advertising sponsored
    comments comment reply follow us on sign up in log newsletter continue reading next previous back
    to top see also also the this view all gallery photos video watch listen now here click""".split()
)
_STRONG_BUTTON_WORDS = frozenset(
    """share tweet email e-mail print facebook twitter whatsapp linkedin pinterest reddit telegram
    subscribe bookmark read related advertisement sponsored comments comment reply follow newsletter
    continue previous""".split()
)

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_WEEKDAYS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun".split()
)
_DATE_WORDS = frozenset("published updated posted last modified date on at am pm a.m p.m".split())
# Offsets of the zone abbreviations news sites print; an unknown zone is read as UTC.
_ZONES = {
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "bst": 1,
    "cet": 1,
    "cest": 2,
    "eet": 2,
    "eest": 3,
    "msk": 3,
    "amt": 4,
    "gst": 4,
    "ist": 5.5,
    "jst": 9,
    "kst": 9,
    "est": -5,
    "edt": -4,
    "cst": -6,
    "cdt": -5,
    "mst": -7,
    "mdt": -6,
    "pst": -8,
    "pdt": -7,
    "et": -5,
    "pt": -8,
}
_DATE_TOKEN = re.compile(r"[^\W\d_]+\.?(?:[^\W\d_]+\.?)*|\d+")
_NUMERIC_DATE = re.compile(r"\b(\d{1,4})([-./])(\d{1,2})\2(\d{2,4})\b")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?", re.I)
_MONTH_DAY_YEAR = re.compile(r"\b([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I)
_DAY_MONTH_YEAR = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3,9})\.?,?\s+(\d{4})\b", re.I)


# A line repeating one of the last few kept lines is a repeat (title or caption printed twice);
# farther away only long lines count, because short headings legitimately recur (Q&A, recipes).
REPEAT_WINDOW = 2
LONG_REPEAT_WORDS = 20


def normalise_whitespace(text: str) -> str:
    """Unify newlines and spaces, drop invisible characters; keep line structure."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def strip_markdown(line: str) -> str:
    """Markdown links become their text, bold markers go (seed files and some feeds carry them)."""
    line = _MD_LINK.sub(lambda m: m.group(1), line)
    return _MD_BOLD.sub(lambda m: m.group(2), line).strip()


def byline_name(line: str) -> str | None:
    """The name of a lone byline ("By Jane Doe", "Author: jdoe"), or None when the line is not one."""
    line = strip_markdown(line)
    if m := _BYLINE.match(line):
        return m.group("name").strip()
    if (m := _LABEL.match(line)) and line.lower().startswith(("author", "written by", "posted by")):
        return m.group("value").strip() or None
    return None


def parse_dateline(line: str) -> datetime | None:
    """The moment a lone date line gives ("March 28, 2012 - 18:51 AMT", "Published 7-03-2013, 07:37").

    Only lines made of date words, numbers and a zone are accepted, so a sentence that mentions
    a date is never taken for a dateline. Numeric dates with '-' or '.' are read day-first, with
    '/' month-first (the conventions of the sites that write them). A date without a time is
    midnight; a time without a known zone is UTC. Returns an aware UTC datetime.
    """
    text = line.strip().lower()
    zone = _date_words_zone(text)
    if zone is None:
        return None
    day = _find_date(text)
    if day is None:
        return None
    hour = minute = second = 0
    if m := _TIME.search(text):
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        meridiem = (m.group(4) or "").replace(".", "").lower()
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
    try:
        offset = timezone(timedelta(hours=_ZONES.get(zone, 0)))
        local = datetime(day[0], day[1], day[2], hour, minute, second, tzinfo=offset)
    except ValueError:
        return None
    return local.astimezone(UTC)


def _date_words_zone(text: str) -> str | None:
    """The zone ("" if none) of a line made only of date/time words and numbers, else None."""
    tokens = _DATE_TOKEN.findall(text)
    if not tokens or len(tokens) > 12 or not any(t.isdigit() for t in tokens):
        return None
    if re.search(r"[^\w\s,.:/\-–—()|]", text):
        return None
    zone = ""
    for token in tokens:
        bare = token.rstrip(".")
        if token.isdigit() or bare in _MONTHS or bare in _WEEKDAYS or bare in _DATE_WORDS:
            continue
        if bare in ("st", "nd", "rd", "th"):
            continue
        if bare in _ZONES and not zone:
            zone = bare
            continue
        return None
    return zone


def _find_date(text: str) -> tuple[int, int, int] | None:
    if m := _MONTH_DAY_YEAR.search(text):
        month = _MONTHS.get(m.group(1).lower())
        if month:
            return int(m.group(3)), month, int(m.group(2))
    if m := _DAY_MONTH_YEAR.search(text):
        month = _MONTHS.get(m.group(2).lower())
        if month:
            return int(m.group(3)), month, int(m.group(1))
    if m := _NUMERIC_DATE.search(text):
        a, sep, b, c = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        if len(m.group(1)) == 4:  # ISO order
            return a, b, c
        year = c + 2000 if c < 100 else c
        return (year, a, b) if sep == "/" and a <= 12 else (year, b, a)
    return None


def is_chrome_line(line: str) -> bool:
    """True when the whole line is page chrome rather than article text."""
    if not line:
        return True
    lowered = line.lower()
    words = _WORD.findall(lowered)
    if not words:  # only punctuation, bullets, pipes
        return True
    if _URL_ONLY.match(line):
        return True
    if _LABEL.match(line) or _BYLINE.match(line):
        return True
    if _is_icon_strip(words) or _is_button_bar(words):
        return True
    if len(words) <= 60 and _COOKIE.search(line):
        return True
    if len(words) <= 30 and _RIGHTS.search(line):
        return True
    return _is_stamp(lowered)


def _is_stamp(lowered: str) -> bool:
    """A lone date or time ("Updated at 1:23 p.m."), not a bare number such as a phone number."""
    if _date_words_zone(lowered) is None:
        return False
    return _find_date(lowered) is not None or _TIME.search(lowered) is not None


def _is_icon_strip(words: list[str]) -> bool:
    icons = sum("icon" in w for w in words)
    return icons >= 4 and icons * 2 >= len(words)


def _is_button_bar(words: list[str]) -> bool:
    bare = [w.rstrip(".") for w in words]
    return (
        len(bare) <= 8
        and all(w in _BUTTON_WORDS or w.isdigit() for w in bare)
        and any(w in _STRONG_BUTTON_WORDS for w in bare)
    )


def line_key(line: str) -> str:
    """Comparison key of a line: its words, case-folded (punctuation and spacing ignored)."""
    return " ".join(_WORD.findall(line.casefold()))


def _joins_next(line: str, following: str) -> bool:
    """A paragraph cut mid-sentence (no end punctuation, next one starts lower-case)."""
    return bool(line) and line[-1].isalnum() and following[:1].islower()


def clean_text(text: str) -> str:
    """Article text with chrome lines and repeats removed; paragraphs separated by one blank line.

    Every remaining line is a paragraph; a paragraph cut mid-sentence is joined to the next.

    Idempotent: cleaning clean text changes nothing.
    """
    lines = [strip_markdown(line) for line in normalise_whitespace(text).split("\n")]
    kept: list[str] = []
    seen: set[str] = set()
    recent: list[str] = []
    for line in lines:
        if is_chrome_line(line):
            continue
        key = line_key(line)
        if key in recent[-REPEAT_WINDOW:] or (key in seen and len(key.split()) >= LONG_REPEAT_WORDS):
            continue
        seen.add(key)
        recent.append(key)
        if kept and _joins_next(kept[-1], line):
            kept[-1] = f"{kept[-1]} {line}"
        else:
            kept.append(line)
    return "\n\n".join(kept)
