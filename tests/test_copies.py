"""Copy detection on the seed documents: LSH candidates and verification, both directions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from extractors.clean import clean_text
from extractors.fingerprint import (
    BODY_BANDS,
    LEAD_BANDS,
    fingerprint,
    is_near_copy,
    normalise,
    similarity,
)
from extractors.seeds import load_seeds

SEEDS = dict(load_seeds(Path(__file__).resolve().parents[1] / "corpus" / "seed"))
NAMES = sorted(SEEDS)


def text_of(name: str) -> str:
    return SEEDS[name].text


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?”\"])\s+(?=[A-Z“\"])", text)


def syndicated(text: str) -> str:
    """The same story under another outlet's page chrome and headline (cleaned, as the pipeline does)."""
    return clean_text(
        "Home | World | Europe\nShare Tweet Email\nKremlin presses West on missile shield\n"
        f"By Staff Writer\n{text}\nRead more\nRelated\nComments: 3\n© 2013 Other Outlet. All rights reserved."
    )


def headline_changed(text: str) -> str:
    return "Moscow and the alliance at odds again\n\n" + text


def paragraph_cut(text: str) -> str:
    paras = paragraphs(text)
    return "\n\n".join(paras[:2] + paras[3:])


def sentence_reworded(text: str) -> str:
    """The longest sentence rewritten: every fifth word replaced, one pair of words swapped."""
    sentence = max(sentences(text), key=len)
    words = sentence.split()
    words = [("reportedly" if i % 5 == 2 else w) for i, w in enumerate(words)]
    words[0], words[1] = words[1], words[0]
    return text.replace(sentence, " ".join(words), 1)


def first_60_percent(text: str) -> str:
    words = text.split(" ")
    return " ".join(words[: int(len(words) * 0.6)])


def truncated_and_syndicated(text: str) -> str:
    # Heavier combinations (truncated AND reworded AND re-wrapped: Jaccard ~0.4) are found with
    # high probability, not certainty; bench/copy_quality.py measures them.
    return syndicated(first_60_percent(text))


COPY_MAKERS = [
    syndicated,
    headline_changed,
    paragraph_cut,
    sentence_reworded,
    first_60_percent,
    truncated_and_syndicated,
]


def quoting(story: str, quoted_from: str, count: int) -> str:
    """A different story that quotes `count` sentences of another one."""
    quotes = [s for s in sentences(quoted_from) if len(s.split()) >= 12][:count]
    paras = paragraphs(story)
    for i, quote in enumerate(quotes):
        paras.insert(2 + i * 2, f"As another report put it: {quote}")
    return "\n\n".join(paras)


COPY_CASES = [(name, make) for name in NAMES for make in COPY_MAKERS]
QUOTE_CASES = [(NAMES[i], NAMES[(i + 1) % len(NAMES)], count) for i in range(len(NAMES)) for count in (1, 2)]
DIFFERENT_STORY_CASES = [(a, b) for i, a in enumerate(NAMES) for b in NAMES[i + 1 :]]


def shares_band_key(a: str, b: str) -> bool:
    return bool(set(fingerprint(a).band_keys) & set(fingerprint(b).band_keys))


def test_seed_corpus_present():
    assert len(NAMES) == 5


@pytest.mark.parametrize(("name", "make"), COPY_CASES, ids=[f"{n[:3]}-{m.__name__}" for n, m in COPY_CASES])
def test_copy_of_seed_is_found_and_verified(name, make):
    original, copy = text_of(name), make(text_of(name))
    assert copy != original
    for a, b in ((copy, original), (original, copy)):
        assert shares_band_key(a, b)  # the store's join would find it as a candidate
        verdict, score = is_near_copy(a, b)
        assert verdict
        assert 0.5 <= score <= 1.0


@pytest.mark.parametrize(("quoted", "story", "count"), QUOTE_CASES)
def test_story_quoting_a_seed_is_not_a_copy(quoted, story, count):
    new_story = quoting(text_of(story), text_of(quoted), count)
    assert text_of(quoted).count(new_story.split("As another report put it: ")[1].split("\n")[0]) == 1
    for a, b in ((new_story, text_of(quoted)), (text_of(quoted), new_story)):
        assert is_near_copy(a, b)[0] is False
    assert is_near_copy(new_story, text_of(story))[0] is True  # it is still a copy of its own story


@pytest.mark.parametrize(("a", "b"), DIFFERENT_STORY_CASES)
def test_different_missile_defense_stories_are_not_copies(a, b):
    assert is_near_copy(text_of(a), text_of(b))[0] is False
    assert is_near_copy(text_of(b), text_of(a))[0] is False
    assert similarity(text_of(a), text_of(b)).jaccard < 0.05


def test_short_text_contained_in_a_long_one_is_not_a_copy():
    long_story = text_of(NAMES[1])
    excerpt = " ".join(long_story.split()[:40])  # a feed teaser: contained, but far shorter
    sim = similarity(excerpt, long_story)
    assert sim.containment == 1.0
    assert is_near_copy(excerpt, long_story)[0] is False
    assert is_near_copy(long_story, excerpt)[0] is False


def test_identical_texts_share_hash_and_keys():
    text = text_of(NAMES[0])
    variant = text.upper().replace("’", "'").replace("\n\n", "\n")
    assert fingerprint(text).text_hash == fingerprint(variant).text_hash
    assert fingerprint(text).band_keys == fingerprint(variant).band_keys


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Russia’s  “anti-missile”  shield", "russias anti missile shield"),
        ("U.S. SM-3\nBlock IIB", "u s sm 3 block iib"),
        ("ＮＡＴＯ ﬁnal", "nato final"),  # NFKC: full-width letters, ligatures
        ("  ", ""),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


def test_fingerprint_shape_and_stability():
    fp = fingerprint(
        "Russia and NATO tentatively agreed to cooperate on the European missile defense network "
        "at the Lisbon Summit."
    )
    # Band keys are stored: they must not change between runs, processes or versions.
    assert fp.text_hash == "8f72324e09b66a2e03e473a8f7dcaa8ab72b70b9ad3e454cf946e5fd7573317d"
    assert fp.band_keys[:2] == (263513622489460258, 563656303162785121)
    assert fp.shingle_count == 13
    assert len(fp.band_keys) == BODY_BANDS + LEAD_BANDS
    assert all(-(2**63) <= k < 2**63 for k in fp.band_keys)
    bands = [(k % 2**64) >> 58 for k in fp.band_keys]
    assert len(set(bands)) == len(bands)  # one key per band, band index in the top bits


@pytest.mark.parametrize(
    ("text", "shingles", "keys"), [("", 0, 0), ("!!!", 0, 0), ("Missile defense", 1, BODY_BANDS + LEAD_BANDS)]
)
def test_fingerprint_of_tiny_texts(text, shingles, keys):
    fp = fingerprint(text)
    assert fp.shingle_count == shingles
    assert len(fp.band_keys) == keys
