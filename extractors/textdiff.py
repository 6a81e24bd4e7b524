"""How much a story's text changed between two fetches, leaving aside what changes on its own.

News pages change without being revised: "updated 5 minutes ago", a date, a share or comment
counter. Words with a digit and words of dates and times are compared as placeholders, so such
changes count as nothing; what is left is counted in words inserted and removed (a word diff), with
the word 5-shingle Jaccard of the two texts beside it, and a short account of what changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from extractors.fingerprint import similarity

_TOKEN = re.compile(r"\w+(?:['\u2019]\w+)*")
_TIME_WORDS = frozenset(
    """
    second seconds sec secs minute minutes min mins hour hours hr hrs h day days week weeks month months
    year years ago pm today yesterday tonight updated update published posted edited
    jan feb apr jun jul aug sep sept oct nov dec january february march april june july august
    september october november december mon tue tues wed thu thur thurs fri sat sun monday tuesday
    wednesday thursday friday saturday sunday gmt utc est edt cet cest bst
    """.split()
)
_PLACEHOLDERS = frozenset({"#", "~"})
EXCERPT_WORDS = 12  # words quoted from each changed passage


@dataclass(frozen=True, slots=True)
class TextChange:
    words_added: int  # words inserted, numbers, dates and times aside
    words_removed: int
    similarity: float  # word 5-shingle Jaccard of the two texts (1.0: the same shingles)
    summary: str  # what changed, in words: counts and the first changed passages

    @property
    def changed(self) -> int:
        """Words changed: the larger of inserted and removed (a word replaced counts once)."""
        return max(self.words_added, self.words_removed)


# Words that are dates only beside a number ("6 May", "Sat 12"), and plain words otherwise.
_DATE_BESIDE_NUMBER = frozenset({"may", "mar", "sat", "sun", "am", "now", "last"})


def _keys(words: list[str]) -> list[str]:
    """What each word is compared as: "#" for a word with a digit, "~" for a date or time word."""
    folded = [w.casefold() for w in words]
    numeric = [any(c.isdigit() for c in w) for w in folded]
    keys = []
    for i, w in enumerate(folded):
        if numeric[i]:
            keys.append("#")
        elif w in _TIME_WORDS:
            keys.append("~")
        elif w in _DATE_BESIDE_NUMBER and (
            (i > 0 and numeric[i - 1]) or (i + 1 < len(folded) and numeric[i + 1])
        ):
            keys.append("~")
        else:
            keys.append(w)
    return keys


def compare_texts(old: str, new: str) -> TextChange:
    old_words = _TOKEN.findall(old or "")
    new_words = _TOKEN.findall(new or "")
    old_keys, new_keys = _keys(old_words), _keys(new_words)
    matcher = SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    added = removed = 0
    added_parts: list[str] = []
    removed_parts: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        # placeholders inserted or removed ("Updated 6 May 10:32" appearing) are not words changed
        words_in = sum(k not in _PLACEHOLDERS for k in new_keys[j1:j2])
        words_out = sum(k not in _PLACEHOLDERS for k in old_keys[i1:i2])
        added += words_in
        removed += words_out
        if words_in and len(added_parts) < 2:
            added_parts.append(_excerpt(new_words[j1:j2]))
        if words_out and len(removed_parts) < 2:
            removed_parts.append(_excerpt(old_words[i1:i2]))
    jaccard = similarity(old or "", new or "").jaccard if added or removed else 1.0
    return TextChange(added, removed, round(jaccard, 4), _summary(added, removed, added_parts, removed_parts))


def _excerpt(words: list[str]) -> str:
    text = " ".join(words[:EXCERPT_WORDS])
    return f'"{text}{" ..." if len(words) > EXCERPT_WORDS else ""}"'


def _summary(added: int, removed: int, added_parts: list[str], removed_parts: list[str]) -> str:
    if not added and not removed:
        return "no change beyond numbers, dates and times"
    parts = [f"{added} word{'s' if added != 1 else ''} added, {removed} removed"]
    if added_parts:
        parts.append("added " + "; ".join(added_parts))
    if removed_parts:
        parts.append("removed " + "; ".join(removed_parts))
    return ". ".join(parts)
