"""Find watchlist actors and keywords in an article, in one pass over its text.

Every alias of every actor and every keyword goes into one Aho-Corasick automaton over casefolded
text, so the cost per article hardly grows with the size of the watchlist. Each hit is then checked:

- word boundaries in any script: the character before and after a hit must not be a letter, digit,
  mark or "_" (an alias that begins or ends with punctuation, such as "C++", is not checked on that
  side). A possessive ("Gerasimov's", "Gerasimov’s") is a hit: the apostrophe is a boundary.
- Russian inflection: Russian declines names ("Герасимова", "Герасимову", "Герасимовым" all mean
  Gerasimov), so an alias ending in a Cyrillic letter, 4+ letters long, also matches when one common
  case ending (а, у, ом, ым, е, ...) follows it. Endings are appended, not substituted: for an alias
  that ends in a vowel ("Москва") list the inflected forms ("Москвы") as aliases. This accepts a
  feminine surname (Герасимова) as the same name: for an alert, a false alarm beats a miss.
- an all-caps alias (2+ letters, all upper case, e.g. "MDA", "NATO", "SM-3") matches only in that
  exact case, so "mda" and "Mda" are not hits; every other alias matches in any case.
- overlapping hits: the leftmost, then the longest, wins ("Missile Defense Agency" over
  "Missile Defense"); a hit inside a longer hit is not counted.

Typographic apostrophes and dashes are read as "'" and "-" and any whitespace as a space, so the
alias "SM-3" matches "SM‑3" (non-breaking hyphen) and "Valery Gerasimov" matches across a line break.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import ahocorasick

from alerts.config import Watchlist
from alerts.text import one_line
from extractors.records import Mention, MentionKind

SNIPPET_WIDTH = 240
_MIN_INFLECTED_ALIAS = 4
_MAX_ENDING = 3
# Common Russian noun and surname case endings (singular and plural).
_RUSSIAN_ENDINGS = frozenset(
    "а я у ю е ом ем ём ым им ой ей ою ею ы и ов ев ам ям ами ями ах ях ых их ого его ому ему".split()
)

# One character for one character, so offsets survive: quote and dash variants, all whitespace.
_EQUIVALENTS = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201b\u02bc\u2032\uff07", "'"),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d", "-"),
        **{chr(c): " " for c in range(0x3001) if chr(c).isspace()},  # U+3000 is the last space
    }
)
_SPACES = re.compile(r" +")
# The characters `_EQUIVALENTS` changes. Replacing only those present is faster on article text
# than str.translate, which leaves its fast path at the first non-ASCII character (a curly quote),
# and than one regex with a replacement function, called for every line break (16 against 37 µs
# an article in the throughput bench's texts).
_CHANGED = tuple((chr(k), v) for k, v in _EQUIVALENTS.items() if chr(k) != v)


def _equivalents(text: str) -> str:
    """`text.translate(_EQUIVALENTS)`, faster: one character for one character."""
    for char, same in _CHANGED:
        if char in text:
            text = text.replace(char, same)
    return text


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class _FoldedOffsets:
    """Maps offsets in `text.casefold()` back to `text` when some characters fold to several
    ("ß" -> "ss", "ﬁ" -> "fi"). Built from those characters only, found by a regex (ASCII never
    expands), instead of a list entry per character with a casefold each: for a German article,
    where nearly every text has an "ß", that took ~1.5 ms, ten times the rest of the matching."""

    def __init__(self, text: str):
        expanding = "".join(c for c in set(_NON_ASCII.findall(text)) if len(c.casefold()) > 1)
        self._starts: list[int] = []  # where each expansion starts in the folded text
        self._ends: list[int] = []  # and ends (exclusive)
        self._sources: list[int] = []  # the source character it came from
        shift = 0  # folded offset minus source offset after the expansions so far
        for found in re.finditer(f"[{re.escape(expanding)}]", text) if expanding else ():
            start = found.start() + shift
            shift += len(found.group().casefold()) - 1
            self._starts.append(start)
            self._ends.append(found.end() + shift)
            self._sources.append(found.start())

    def _expansion(self, folded: int) -> int:
        """Index of the last expansion starting at or before `folded`, -1 if none."""
        return bisect_right(self._starts, folded) - 1

    def source(self, folded: int) -> int:
        k = self._expansion(folded)
        if k < 0:
            return folded
        if folded < self._ends[k]:
            return self._sources[k]
        return folded - (self._ends[k] - self._sources[k] - 1)

    def splits(self, first: int, last: int) -> bool:
        """folded[first:last + 1] begins or ends inside a character's expansion (half of "ss")."""
        k = self._expansion(first)
        if k >= 0 and self._starts[k] < first < self._ends[k]:
            return True
        k = self._expansion(last)
        return k >= 0 and last < self._ends[k] - 1


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_" or unicodedata.category(char)[0] == "M"


def _is_cyrillic(char: str) -> bool:
    return "\u0400" <= char <= "\u04ff"


def _is_all_caps(alias: str) -> bool:
    letters = [c for c in alias if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _normalise(alias: str) -> str:
    """An alias as the automaton sees it: equivalents mapped, spaces collapsed (case kept)."""
    return _SPACES.sub(" ", alias.translate(_EQUIVALENTS)).strip()


@dataclass(frozen=True, slots=True)
class _Item:
    kind: MentionKind
    name: str


@dataclass(frozen=True, slots=True)
class _Alias:
    item: int  # index into the matcher's items; -1 for a query term
    text: str  # as configured: reported in Mention.alias
    exact: str  # normalised, case kept: compared with the text for an all-caps alias
    case_sensitive: bool
    inflects: bool
    term: int = -1  # index into the matcher's query terms; -1 for a watchlist alias


def _alias(text: str, exact: str, *, item: int = -1, term: int = -1) -> _Alias:
    return _Alias(
        item=item,
        text=text,
        exact=exact,
        case_sensitive=_is_all_caps(exact),
        inflects=_is_cyrillic(exact[-1]) and len(exact) >= _MIN_INFLECTED_ALIAS,
        term=term,
    )


_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
_HAS_WORD = re.compile(r"\w")


def _words(tokens: list[str], space_before: bool, space_after: bool) -> int:
    """The tokens between two hits that are words; without a space next to a hit, the token
    there is part of the hit's word ("'s" of "Gerasimov's")."""
    first = 0 if space_before else 1
    last = len(tokens) if space_after else len(tokens) - 1
    return sum(1 for token in tokens[first:last] if _HAS_WORD.search(token))


class Scan:
    """What one pass over an article found: hits (start, end) in `full` (the title, a blank line,
    the text), per watchlist item and per query term, with helpers to place and quote them."""

    __slots__ = (
        "full",
        "title_end",
        "items",
        "terms",
        "_first_alias",
        "_counts",
        "_breaks",
        "_snippets",
    )

    def __init__(self, full: str, title_end: int):
        self.full = full
        self.title_end = title_end  # hits starting before this are in the title
        self.items: dict[int, list[tuple[int, int]]] = {}  # item -> accepted hits, leftmost-longest
        self.terms: dict[int, list[tuple[int, int]]] = {}  # query term -> every hit
        self._first_alias: dict[int, _Alias] = {}
        self._counts: dict[int, int] = {}
        self._breaks: list[int] | None = None
        self._snippets: dict[tuple, tuple] = {}  # several rules and a mention often quote one hit

    def in_title(self, start: int) -> bool:
        return start < self.title_end

    def paragraph(self, start: int) -> tuple[int, int]:
        """The bounds of the paragraph holding offset `start` (the title is a paragraph of its own)."""
        if self._breaks is None:
            self._breaks = [x for m in _PARAGRAPH_BREAK.finditer(self.full) for x in (m.start(), m.end())]
        k = bisect_right(self._breaks, start)
        lo = self._breaks[k - 1] if k else 0
        hi = self._breaks[k] if k < len(self._breaks) else len(self.full)
        return lo, hi

    def words_between(self, end: int, start: int, limit: int) -> int:
        """How many words lie between a hit ending at `end` and one starting at `start` (0 when
        they overlap), counted exactly up to `limit`: a larger result only means "more". A word
        is what spaces separate, with a letter or digit in it: "Gerasimov's", "SM-3" and "U.S."
        are one word each, a dash standing alone is none."""
        if start <= end:
            return 0
        gap = self.full[end:start]
        parts = gap.split(None, limit + 2)  # no further than needed: the gap may be long
        if len(parts) == limit + 3:  # the last part is the rest of the gap, unsplit
            parts.pop()
            count = _words(parts, gap[0].isspace(), True)
            return count if count > limit else _words(gap.split(), gap[0].isspace(), gap[-1].isspace())
        return _words(parts, gap[0].isspace(), gap[-1].isspace())

    def snippet(self, start: int, end: int) -> tuple[str, int, int]:
        """`make_snippet` within the paragraph of the hit: the title is never glued to the text."""
        snippet, ((s_start, s_end),) = self.snippet_of(((start, end),))
        return snippet, s_start, s_end

    def snippet_of(self, spans: tuple[tuple[int, int], ...]) -> tuple[str, list[tuple[int, int]]]:
        """`snippet_with_spans` within the paragraph of the first hit (remembered per article)."""
        known = self._snippets.get(spans)
        if known is None:
            lo, hi = self.paragraph(spans[0][0])
            known = self._snippets[spans] = snippet_with_spans(
                self.full, spans, lo=lo, hi=max(hi, spans[-1][1])
            )
        return known


class WatchlistMatcher:
    """Compiled once per watchlist; `find(title, text)` returns one Mention per item present.

    `terms` (query terms of rules, see alerts/matching.py) go into the same automaton and are
    matched by the same rules, but every hit of a term is kept (a term inside a longer alias
    still counts); `scan` reports both in one pass.

    Picklable: it pickles as its watchlist and terms and rebuilds the automaton on arrival (a few
    ms for thousands of aliases), so it can be sent to worker processes.
    """

    def __init__(self, watchlist: Watchlist, terms: Sequence[str] = ()):
        self.watchlist = watchlist
        self.terms = tuple(terms)
        self._items: list[_Item] = []
        self._keys: list[str] = []  # casefolded pattern, by automaton value
        self._aliases: list[list[_Alias]] = []  # the aliases that share each casefolded pattern
        key_ids: dict[str, int] = {}

        def add(alias: str, **where: int) -> None:
            exact = _normalise(alias)
            if not exact:
                return
            key = exact.casefold()
            if key not in key_ids:
                key_ids[key] = len(self._keys)
                self._keys.append(key)
                self._aliases.append([])
            self._aliases[key_ids[key]].append(_alias(alias, exact, **where))

        for kind, name, aliases in self._watched(watchlist):
            item = len(self._items)
            self._items.append(_Item(kind, name))
            for alias in dict.fromkeys(aliases):
                add(alias, item=item)
        for term_id, term in enumerate(self.terms):
            add(term, term=term_id)
        # Per pattern, what the common hit needs (no case ending, no all-caps alias): checked first.
        self._info = [
            (
                len(key),
                _is_word_char(key[0]),
                _is_word_char(key[-1]),
                any(alias.inflects for alias in aliases),
                any(alias.case_sensitive for alias in aliases),
                [alias for alias in aliases if alias.item >= 0],
                [alias.term for alias in aliases if alias.term >= 0],
            )
            for key, aliases in zip(self._keys, self._aliases, strict=True)
        ]
        self._automaton = ahocorasick.Automaton()
        for key_id, key in enumerate(self._keys):
            self._automaton.add_word(key, key_id)
        if self._keys:
            self._automaton.make_automaton()

    @staticmethod
    def _watched(watchlist: Watchlist):
        for actor in watchlist.actors:
            yield "actor", actor.name, actor.all_aliases
        for keyword in dict.fromkeys(watchlist.keywords):
            yield "keyword", keyword, (keyword,)

    def __reduce__(self):
        return (WatchlistMatcher, (self.watchlist, self.terms))

    def __len__(self) -> int:
        """How many distinct patterns the automaton holds."""
        return len(self._keys)

    def item(self, index: int) -> tuple[MentionKind, str]:
        """(kind, name) of a watchlist item, by the index `scan` reports."""
        return self._items[index].kind, self._items[index].name

    def find(self, title: str, text: str) -> list[Mention]:
        """Mentions in the article (title and text read as one text), ordered by first appearance."""
        return self.mentions(self.scan(title, text))

    def scan(self, title: str, text: str) -> Scan:
        """One pass over the article: the watchlist's hits per item and the terms' hits per term."""
        full = f"{title}\n\n{text}" if title else text
        found = Scan(full, len(title) if title else 0)
        if not self._keys or not full:
            return found
        watched, terms = self._hits(full)
        for start, end, aliases in watched:
            seen: set[int] = set()
            for alias in aliases:
                if alias.item < 0 or alias.item in seen:
                    continue
                seen.add(alias.item)
                if alias.item in found.items:
                    found.items[alias.item].append((start, end))
                    found._counts[alias.item] += 1
                else:
                    found.items[alias.item] = [(start, end)]
                    found._first_alias[alias.item] = alias
                    found._counts[alias.item] = 1
        for start, end, term in terms:
            found.terms.setdefault(term, []).append((start, end))
        return found

    def mentions(self, found: Scan, skip: Collection[tuple[str, str]] = ()) -> list[Mention]:
        """One Mention per watchlist item of a scan, ordered by first appearance; none for the
        (kind, name) pairs in `skip` (already stored: their snippets need not be made again)."""
        mentions = []
        for item, hits in sorted(found.items.items(), key=lambda pair: pair[1][0][0]):
            if skip and (self._items[item].kind, self._items[item].name) in skip:
                continue
            start, end = hits[0]
            snippet, s_start, s_end = found.snippet(start, end)
            mentions.append(
                Mention(
                    kind=self._items[item].kind,
                    name=self._items[item].name,
                    alias=found._first_alias[item].text,
                    count=found._counts[item],
                    snippet=snippet,
                    start=s_start,
                    end=s_end,
                    offset=start,
                )
            )
        return mentions

    def _hits(self, full: str):
        """Accepted hits in `full`: the watchlist's (start, end, aliases), leftmost-longest and none
        overlapping, and the query terms' (start, end, term), every one."""
        same_case = _equivalents(full)  # same length as `full`
        folded = same_case.casefold()
        # Some character folded to several ("ß" -> "ss"): offsets must be mapped back.
        offsets = _FoldedOffsets(same_case) if len(folded) != len(full) else None
        candidates = []
        terms = []
        size = len(full)
        info = self._info
        for last, key_id in self._automaton.iter(folded):
            length, starts_word, ends_word, inflects, exact_case, watched, term_ids = info[key_id]
            first = last - length + 1
            if offsets is None:
                start, end = first, last + 1
            else:
                if offsets.splits(first, last):  # a hit covers whole source characters, not half of "ß"
                    continue
                start, end = offsets.source(first), offsets.source(last) + 1
            if starts_word and start > 0 and _is_word_char(full[start - 1]):
                continue
            followed = ends_word and end < size and _is_word_char(full[end])
            if followed and not inflects:  # inside a longer word, and no case ending can follow
                continue
            if followed or exact_case:
                accepted = self._accept(full, same_case, start, end, key_id)
                if not accepted:
                    continue
                end, aliases = accepted
                watched = [alias for alias in aliases if alias.item >= 0]
                term_ids = [alias.term for alias in aliases if alias.term >= 0]
            if watched:
                candidates.append((start, end, watched))
            for term in term_ids:
                terms.append((start, end, term))
        candidates.sort(key=lambda hit: (hit[0], hit[0] - hit[1]))
        accepted_hits = []
        covered_to = 0
        for start, end, aliases in candidates:
            if start >= covered_to:
                accepted_hits.append((start, end, aliases))
                covered_to = end
        return accepted_hits, terms

    def _accept(self, full: str, same_case: str, start: int, end: int, key_id: int):
        """The hit's end (past a Russian case ending, if any) and the aliases that accept it."""
        key = self._keys[key_id]
        tail = end
        if _is_word_char(key[-1]):
            while tail < len(full) and tail - end <= _MAX_ENDING and _is_word_char(full[tail]):
                tail += 1
        ending = full[end:tail].casefold()
        if ending and ending not in _RUSSIAN_ENDINGS:
            return None
        aliases = [
            alias
            for alias in self._aliases[key_id]
            if (alias.inflects or not ending)
            and (not alias.case_sensitive or same_case[start:end] == alias.exact)
        ]
        return (tail, aliases) if aliases else None


def make_snippet(
    text: str, start: int, end: int, width: int = SNIPPET_WIDTH, *, lo: int = 0, hi: int | None = None
) -> tuple[str, int, int]:
    """About `width` characters of one-line context around text[start:end], within text[lo:hi], cut
    at word boundaries with "…" where cut; returns (snippet, start, end) with the match's offsets
    inside the snippet."""
    snippet, ((s_start, s_end),) = snippet_with_spans(text, [(start, end)], width, lo=lo, hi=hi)
    return snippet, s_start, s_end


def snippet_with_spans(
    text: str,
    spans: Sequence[tuple[int, int]],
    width: int = SNIPPET_WIDTH,
    *,
    lo: int = 0,
    hi: int | None = None,
) -> tuple[str, list[tuple[int, int]]]:
    """`make_snippet` around several hits (sorted, not overlapping) at once, as for the two sides of
    a NEAR: the snippet spans them all; returns it with each hit's offsets inside it."""
    hi = len(text) if hi is None else hi
    start, end = spans[0][0], spans[-1][1]
    room = max(width - (end - start), 0)
    before = min(start - lo, room // 2)  # room unused on one side goes to the other
    after = min(hi - end, room - before)
    before = min(start - lo, room - after)
    left, right = start - before, end + after
    if left > lo:
        gap = _WHITESPACE.search(text, left, start)
        if gap:
            left = gap.end()
    if right < hi:
        gap = _LAST_WHITESPACE.search(text, end, right)
        if gap:
            right = gap.start()
    prefix = "…" if left > lo else ""
    suffix = "…" if right < hi else ""
    window = text[left:right]
    if not _NOT_ONE_LINE.search(window):
        # Already one clean line (the usual case: cleaned text, within a paragraph): offsets carry over.
        lead = len(window) - len(window.lstrip())
        window = window.strip()
        shift = len(prefix) - left - lead
        return f"{prefix}{window}{suffix}", [(s + shift, e + shift) for s, e in spans]
    parts = [prefix, one_line(text[left:start]).lstrip()]
    offset = sum(map(len, parts))
    out = []
    for k, (s_start, s_end) in enumerate(spans):
        if k:
            between = one_line(text[spans[k - 1][1] : s_start])
            parts.append(between)
            offset += len(between)
        match = one_line(text[s_start:s_end])
        parts.append(match)
        out.append((offset, offset + len(match)))
        offset += len(match)
    parts.append(one_line(text[end:right]).rstrip())
    parts.append(suffix)
    return "".join(parts), out


_WHITESPACE = re.compile(r"\s")
_LAST_WHITESPACE = re.compile(r"\s(?!.*\s)", re.DOTALL)
# What `one_line` would change: whitespace other than single spaces, controls, invisible marks.
_NOT_ONE_LINE = re.compile(
    r"[^\S ]|  |[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


def watchlist_for_rules(watchlist: Watchlist, rules: Sequence) -> Watchlist:
    """The watchlist plus every rule keyword it lacks, so that every rule can fire."""
    known = {keyword.casefold() for keyword in watchlist.keywords}
    extra = [k for rule in rules for k in rule.keywords if k.casefold() not in known]
    if not extra:
        return watchlist
    return Watchlist(actors=watchlist.actors, keywords=(*watchlist.keywords, *dict.fromkeys(extra)))
