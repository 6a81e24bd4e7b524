"""Topic filter: does an article talk about the subject (missile defense by default)?

A term matches as whole words, case-insensitively, with hyphens, spaces or nothing between its
parts ("anti-missile", "anti missile", "antimissile"), either apostrophe, and an optional plural
"s"/"es". Ambiguous single words of everyday news ("aegis", "patriot", "interceptor", "radar",
"dome") only count inside the phrases listed, which keeps sports, car and weather news out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_TERMS: tuple[str, ...] = (
    "missile defense",
    "missile defence",
    "anti-missile",
    "anti-ballistic",
    "ballistic missile",
    "missile shield",
    "missile interceptor",
    "interceptor missile",
    "ground-based interceptor",
    "space-based interceptor",
    "Ground-based Midcourse Defense",
    "GMD",
    "ABM",
    "THAAD",
    "Terminal High Altitude Area Defense",
    "Aegis Ashore",
    "Aegis BMD",
    "Aegis ballistic",
    "SM-3",
    "SM-6",
    "Standard Missile",
    "Patriot missile",
    "Patriot air defense",
    "Patriot system",
    "Patriot battery",
    "Patriot batteries",
    "PAC-3",
    "Iron Dome",
    "Golden Dome",
    "David's Sling",
    "Arrow 3",
    "S-400",
    "S-500",
    "hypersonic missile",
    "hypersonic weapon",
    "hypersonic glide",
    "European Phased Adaptive Approach",
    "X-band radar",
    "TPY-2",
    "early-warning radar",
)

_SEPARATOR = r"[\s\-\u2010-\u2015]*"
_APOSTROPHE = "['\u2019]"


def term_pattern(term: str) -> re.Pattern[str]:
    """The regex of one term: word-bounded, tolerant of separators, apostrophes and plurals."""
    parts = [p for p in re.split(r"[\s\-\u2010-\u2015]+", term.strip()) if p]
    if not parts:
        raise ValueError(f"empty topic term: {term!r}")
    escaped = [re.escape(p.replace("\u2019", "'")).replace("'", _APOSTROPHE) for p in parts]
    body = _SEPARATOR.join(escaped)
    plural = "(?:e?s)?" if parts[-1][-1].isalpha() else ""
    return re.compile(rf"(?<!\w){body}{plural}(?!\w)", re.IGNORECASE)


def _literal(term: str) -> str | None:
    """The longest run of ASCII letters/digits every match of the term must contain (lowercased),
    or None when the term is not plain ASCII (case folding beyond ASCII: always run the regex)."""
    if not term.isascii():
        return None
    runs = re.findall(r"[a-z0-9]+", term.lower())
    return max(runs, key=len) if runs else None


class TopicFilter:
    """Matches an article's title and text against topic terms.

    `min_hits` counts occurrences of any term (title and text together), so `min_hits=2`
    rejects a story that mentions the subject only once in passing.
    """

    def __init__(self, terms: Sequence[str] = DEFAULT_TERMS, min_hits: int = 1):
        if min_hits < 1:
            raise ValueError("min_hits must be >= 1")
        unique = list(dict.fromkeys(t.strip() for t in terms if t.strip()))
        if not unique:
            raise ValueError("a topic filter needs at least one term")
        self.terms: tuple[str, ...] = tuple(unique)
        self.min_hits = min_hits
        self._patterns = [(term, _literal(term), term_pattern(term)) for term in self.terms]

    def _found(self, haystack: str):
        # A substring test on the lowercased text (fast, in C) before each term's regex: most
        # terms are absent from most articles (40 plain regex searches measured 3.7 ms/article).
        lowered = haystack.lower()
        for term, literal, pattern in self._patterns:
            if (literal is None or literal in lowered) and pattern.search(haystack):
                yield term, pattern

    def match(self, title: str, text: str) -> list[str]:
        """The terms found in the title or text, in the order of the term list."""
        return [term for term, _ in self._found(f"{title or ''}\n{text or ''}")]

    def hits(self, title: str, text: str) -> int:
        """How many times any term occurs in the title and text."""
        haystack = f"{title or ''}\n{text or ''}"
        return sum(len(pattern.findall(haystack)) for _, pattern in self._found(haystack))

    def is_on_topic(self, title: str, text: str) -> bool:
        if self.min_hits == 1:
            return next(self._found(f"{title or ''}\n{text or ''}"), None) is not None
        return self.hits(title, text) >= self.min_hits
