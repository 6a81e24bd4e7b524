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
from collections.abc import Sequence
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
    item: int  # index into the matcher's items
    text: str  # as configured: reported in Mention.alias
    exact: str  # normalised, case kept: compared with the text for an all-caps alias
    case_sensitive: bool
    inflects: bool


@dataclass(slots=True)
class _Found:
    alias: _Alias
    start: int
    end: int
    count: int = 1


class WatchlistMatcher:
    """Compiled once per watchlist; `find(title, text)` returns one Mention per item present.

    Picklable: it pickles as its watchlist and rebuilds the automaton on arrival (a few ms for
    thousands of aliases), so it can be sent to worker processes.
    """

    def __init__(self, watchlist: Watchlist):
        self.watchlist = watchlist
        self._items: list[_Item] = []
        self._keys: list[str] = []  # casefolded pattern, by automaton value
        self._aliases: list[list[_Alias]] = []  # the aliases that share each casefolded pattern
        key_ids: dict[str, int] = {}
        for kind, name, aliases in self._watched(watchlist):
            item = len(self._items)
            self._items.append(_Item(kind, name))
            for alias in dict.fromkeys(aliases):
                exact = _normalise(alias)
                if not exact:
                    continue
                key = exact.casefold()
                if key not in key_ids:
                    key_ids[key] = len(self._keys)
                    self._keys.append(key)
                    self._aliases.append([])
                self._aliases[key_ids[key]].append(
                    _Alias(
                        item=item,
                        text=alias,
                        exact=exact,
                        case_sensitive=_is_all_caps(exact),
                        inflects=_is_cyrillic(exact[-1]) and len(exact) >= _MIN_INFLECTED_ALIAS,
                    )
                )
        self._automaton = ahocorasick.Automaton()
        for key_id, key in enumerate(self._keys):
            self._automaton.add_word(key, key_id)
        self._automaton.make_automaton()

    @staticmethod
    def _watched(watchlist: Watchlist):
        for actor in watchlist.actors:
            yield "actor", actor.name, actor.all_aliases
        for keyword in dict.fromkeys(watchlist.keywords):
            yield "keyword", keyword, (keyword,)

    def __reduce__(self):
        return (WatchlistMatcher, (self.watchlist,))

    def __len__(self) -> int:
        """How many distinct patterns the automaton holds."""
        return len(self._keys)

    def find(self, title: str, text: str) -> list[Mention]:
        """Mentions in the article (title and text read as one text), ordered by first appearance."""
        full = f"{title}\n\n{text}" if title else text
        if not self._keys or not full:
            return []
        found: dict[int, _Found] = {}
        for start, end, aliases in self._hits(full):
            seen: set[int] = set()
            for alias in aliases:
                if alias.item in seen:
                    continue
                seen.add(alias.item)
                if alias.item in found:
                    found[alias.item].count += 1
                else:
                    found[alias.item] = _Found(alias, start, end)
        mentions = []
        for item, hit in sorted(found.items(), key=lambda pair: pair[1].start):
            snippet, start, end = make_snippet(full, hit.start, hit.end)
            mentions.append(
                Mention(
                    kind=self._items[item].kind,
                    name=self._items[item].name,
                    alias=hit.alias.text,
                    count=hit.count,
                    snippet=snippet,
                    start=start,
                    end=end,
                )
            )
        return mentions

    def _hits(self, full: str) -> list[tuple[int, int, list[_Alias]]]:
        """Accepted hits (start, end, aliases) in `full`, leftmost-longest, none overlapping."""
        same_case = _equivalents(full)  # same length as `full`
        folded = same_case.casefold()
        # Some character folded to several ("ß" -> "ss"): offsets must be mapped back.
        offsets = _FoldedOffsets(same_case) if len(folded) != len(full) else None
        candidates = []
        for last, key_id in self._automaton.iter(folded):
            key = self._keys[key_id]
            first = last - len(key) + 1
            if offsets is None:
                start, end = first, last + 1
            else:
                if offsets.splits(first, last):  # a hit covers whole source characters, not half of "ß"
                    continue
                start, end = offsets.source(first), offsets.source(last) + 1
            if _is_word_char(key[0]) and start > 0 and _is_word_char(full[start - 1]):
                continue
            accepted = self._accept(full, same_case, start, end, key_id)
            if accepted:
                candidates.append((start, *accepted))
        candidates.sort(key=lambda hit: (hit[0], hit[0] - hit[1]))
        accepted = []
        covered_to = 0
        for start, end, aliases in candidates:
            if start >= covered_to:
                accepted.append((start, end, aliases))
                covered_to = end
        return accepted

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


def make_snippet(text: str, start: int, end: int, width: int = SNIPPET_WIDTH) -> tuple[str, int, int]:
    """About `width` characters of one-line context around text[start:end], cut at word boundaries
    with "…" where cut; returns (snippet, start, end) with the match's offsets inside the snippet."""
    room = max(width - (end - start), 0)
    before = min(start, room // 2)  # room unused on one side goes to the other
    after = min(len(text) - end, room - before)
    before = min(start, room - after)
    left, right = start - before, end + after
    if left > 0:
        gap = re.search(r"\s", text[left:start])
        if gap:
            left += gap.end()
    if right < len(text):
        gaps = [m.start() for m in re.finditer(r"\s", text[end:right])]
        if gaps:
            right = end + gaps[-1]
    before = one_line(text[left:start]).lstrip()
    match = one_line(text[start:end])
    after = one_line(text[end:right]).rstrip()
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(text) else ""
    snippet = f"{prefix}{before}{match}{after}{suffix}"
    offset = len(prefix) + len(before)
    return snippet, offset, offset + len(match)


def watchlist_for_rules(watchlist: Watchlist, rules: Sequence) -> Watchlist:
    """The watchlist plus every rule keyword it lacks, so that every rule can fire."""
    known = {keyword.casefold() for keyword in watchlist.keywords}
    extra = [k for rule in rules for k in rule.keywords if k.casefold() not in known]
    if not extra:
        return watchlist
    return Watchlist(actors=watchlist.actors, keywords=(*watchlist.keywords, *dict.fromkeys(extra)))
