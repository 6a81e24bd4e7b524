"""Watchlist matching and rules: a text and a watchlist, and the mentions that must come out."""

from __future__ import annotations

import pickle
import random

import pytest

from alerts.config import Actor, Rule, Watchlist
from alerts.rules import fired_rules, rule_problems
from alerts.watchlist import (
    _EQUIVALENTS,
    WatchlistMatcher,
    _equivalents,
    _FoldedOffsets,
    make_snippet,
    watchlist_for_rules,
)
from extractors.records import Mention

GERASIMOV = Actor("Valery Gerasimov", ("Gerasimov", "Герасимов"))
MDA = Actor("Missile Defense Agency", ("MDA",))
NATO = Actor("NATO", ())
WATCHLIST = Watchlist(
    actors=(GERASIMOV, MDA, NATO),
    keywords=("Kaliningrad", "Iskander", "SM-3", "missile defense", "Straße"),
)

# text -> {name: (alias that matched first, count, the text of the first match)}
CASES = [
    pytest.param("Iskanderov and Kaliningradskaya are other words.", {}, id="word-boundary-latin"),
    pytest.param(
        "The Iskander-M was moved to Kaliningrad.",
        {"Iskander": ("Iskander", 1, "Iskander"), "Kaliningrad": ("Kaliningrad", 1, "Kaliningrad")},
        id="hyphen-is-a-boundary",
    ),
    pytest.param(
        "Gerasimov's plan and Gerasimov’s aide.",
        {"Valery Gerasimov": ("Gerasimov", 2, "Gerasimov")},
        id="possessives",
    ),
    pytest.param(
        "Генерал Герасимов заявил.",
        {"Valery Gerasimov": ("Герасимов", 1, "Герасимов")},
        id="cyrillic-exact",
    ),
    pytest.param(
        "Встреча с Герасимовым; слова Герасимова; письмо Герасимову.",
        {"Valery Gerasimov": ("Герасимов", 3, "Герасимовым")},
        id="cyrillic-inflected",
    ),
    pytest.param("Герасимовский район и Негерасимов.", {}, id="cyrillic-word-boundary"),
    pytest.param(
        "The MDA said so; mda and Mda are not the agency.",
        {"Missile Defense Agency": ("MDA", 1, "MDA")},
        id="all-caps-alias-is-case-sensitive",
    ),
    pytest.param("Nato and nato are not written so.", {}, id="all-caps-name-is-case-sensitive"),
    pytest.param(
        "KALININGRAD and kaliningrad",
        {"Kaliningrad": ("Kaliningrad", 2, "KALININGRAD")},
        id="other-aliases-any-case",
    ),
    pytest.param(
        "Valery Gerasimov spoke. Later Gerasimov left; Герасимов вернулся.",
        {"Valery Gerasimov": ("Valery Gerasimov", 3, "Valery Gerasimov")},
        id="count-across-aliases",
    ),
    pytest.param(
        "Valery\nGerasimov spoke.",
        {"Valery Gerasimov": ("Valery Gerasimov", 1, "Valery Gerasimov")},
        id="alias-across-a-line-break",
    ),
    pytest.param(
        "The Missile Defense Agency leads missile defense.",
        {
            "Missile Defense Agency": ("Missile Defense Agency", 1, "Missile Defense Agency"),
            "missile defense": ("missile defense", 1, "missile defense"),
        },
        id="overlap-longest-wins",
    ),
    pytest.param(
        "An SM-3 Block IIA, an SM\u20113 and an SM-30.",
        {"SM-3": ("SM-3", 2, "SM-3")},
        id="alias-with-digits-and-dash-variants",
    ),
    pytest.param(
        "Die STRASSE nach Kaliningrad.",
        {"Straße": ("Straße", 1, "STRASSE"), "Kaliningrad": ("Kaliningrad", 1, "Kaliningrad")},
        id="casefold-expansion-keeps-offsets",
    ),
    pytest.param(
        "Die Straße nach Kaliningrad.",
        {"Straße": ("Straße", 1, "Straße"), "Kaliningrad": ("Kaliningrad", 1, "Kaliningrad")},
        id="casefold-expansion-in-text",
    ),
]


@pytest.fixture(scope="module")
def matcher() -> WatchlistMatcher:
    return WatchlistMatcher(WATCHLIST)


def _summary(mentions: list[Mention]) -> dict[str, tuple[str, int, str]]:
    return {m.name: (m.alias, m.count, m.snippet[m.start : m.end]) for m in mentions}


@pytest.mark.parametrize("text, expected", CASES)
def test_mentions(matcher: WatchlistMatcher, text: str, expected: dict) -> None:
    assert _summary(matcher.find("", text)) == expected


def test_title_and_text_are_one_text(matcher: WatchlistMatcher) -> None:
    mentions = matcher.find("Gerasimov visits Kaliningrad", "Later, Gerasimov spoke.")
    assert _summary(mentions) == {
        "Valery Gerasimov": ("Gerasimov", 2, "Gerasimov"),
        "Kaliningrad": ("Kaliningrad", 1, "Kaliningrad"),
    }
    assert [m.kind for m in mentions] == ["actor", "keyword"]  # in order of first appearance
    # a snippet stays within its paragraph: the title is never glued to the text's first sentence
    assert mentions[0].snippet == "Gerasimov visits Kaliningrad"
    assert [m.offset for m in mentions] == [0, 17]


def test_snippet_stays_in_its_paragraph() -> None:
    text = "First paragraph ends here.\n\nKaliningrad opens the second one.\n\nThe third."
    (mention,) = WatchlistMatcher(Watchlist(keywords=("Kaliningrad",))).find("A title", text)
    assert mention.snippet == "Kaliningrad opens the second one."
    assert mention.offset == len("A title\n\n") + text.index("Kaliningrad")


def test_typographic_variants_are_read_as_plain_characters() -> None:
    """Every quote, dash and space variant is read as "'", "-" or " ", character for character."""
    variants = "".join(chr(c) for c in range(0x3001) if chr(c).translate(_EQUIVALENTS) != chr(c))
    variants += "\u2018\u2019\u201b\u02bc\u2032\uff07\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"
    text = f"SM{variants}3 Gerasimov’s aide; a\u00a0b\nc"
    assert _equivalents(text) == text.translate(_EQUIVALENTS)
    assert len(_equivalents(text)) == len(text)
    assert set(_equivalents(variants)) == {"'", "-", " "}


def test_nothing_to_find() -> None:
    assert WatchlistMatcher(Watchlist()).find("Gerasimov", "Kaliningrad") == []
    assert WatchlistMatcher(WATCHLIST).find("", "") == []


def test_snippet_is_cut_at_word_boundaries() -> None:
    words = [f"w{i:03d}" for i in range(200)]
    text = " ".join(words[:100]) + " Kaliningrad " + " ".join(words[100:])
    (mention,) = WatchlistMatcher(Watchlist(keywords=("Kaliningrad",))).find("", text)
    snippet = mention.snippet
    assert snippet[mention.start : mention.end] == "Kaliningrad"
    assert snippet.startswith("…") and snippet.endswith("…")
    assert 200 <= len(snippet) <= 242
    assert all(word in words for word in snippet.strip("…").replace("Kaliningrad", "").split())


@pytest.mark.parametrize(
    "text, start, end, expected",
    [
        ("Kaliningrad is here", 0, 11, ("Kaliningrad is here", 0, 11)),
        ("one\n\ntwo\tKaliningrad", 9, 20, ("one two Kaliningrad", 8, 19)),
        ("a\u2028b Kaliningrad\x1b[31m", 4, 15, ("a b Kaliningrad [31m", 4, 15)),
    ],
    ids=["whole-text", "whitespace-collapsed", "controls-removed"],
)
def test_make_snippet(text: str, start: int, end: int, expected: tuple) -> None:
    assert make_snippet(text, start, end) == expected


def test_three_thousand_aliases() -> None:
    actors = tuple(Actor(f"Person Zq{i:04d}", (f"Zq{i:04d}",)) for i in range(1000))
    keywords = tuple(f"term{i:04d}" for i in range(1000))
    matcher = WatchlistMatcher(Watchlist(actors=actors, keywords=keywords))
    assert len(matcher) == 3000
    text = "Person Zq0007 met Zq0999 and Zq0007. term0500 and term05000 and Zq00070."
    expected = {
        "Person Zq0007": ("Person Zq0007", 2, "Person Zq0007"),
        "Person Zq0999": ("Zq0999", 1, "Zq0999"),
        "term0500": ("term0500", 1, "term0500"),
    }
    assert _summary(matcher.find("", text)) == expected
    rebuilt = pickle.loads(pickle.dumps(matcher))  # as sent to a worker process
    assert _summary(rebuilt.find("", text)) == expected


def _mention(kind: str, name: str) -> Mention:
    return Mention(kind=kind, name=name, alias=name, count=1, snippet=name, start=0, end=len(name))


RULES = (
    Rule("russian-military", actors=("Valery Gerasimov",), keywords=("Kaliningrad",), channels=("mail",)),
    Rule("interceptors", keywords=("sm-3",), channels=("slack",)),
    Rule("agency", actors=("Missile Defense Agency",), channels=("slack",)),
)


@pytest.mark.parametrize(
    "mentions, expected",
    [
        ([], []),
        ([_mention("actor", "Valery Gerasimov")], [("russian-military", ["Valery Gerasimov"])]),
        (
            [
                _mention("keyword", "Kaliningrad"),
                _mention("keyword", "SM-3"),
                _mention("keyword", "Iskander"),
            ],
            [("russian-military", ["Kaliningrad"]), ("interceptors", ["SM-3"])],
        ),
        ([_mention("keyword", "Valery Gerasimov")], []),  # a keyword is not an actor
        (
            [_mention("actor", "Missile Defense Agency"), _mention("actor", "Valery Gerasimov")],
            [("russian-military", ["Valery Gerasimov"]), ("agency", ["Missile Defense Agency"])],
        ),
    ],
    ids=["none", "actor", "keywords-case-insensitive", "kind-matters", "several-rules"],
)
def test_fired_rules(mentions: list[Mention], expected: list) -> None:
    fired = fired_rules(RULES, mentions)
    assert [(rule.name, [m.name for m in relevant]) for rule, relevant in fired] == expected


def test_rules_from_matched_text() -> None:
    mentions = WatchlistMatcher(WATCHLIST).find("Герасимов в Калининграде", "The MDA tested an SM-3.")
    assert [rule.name for rule, _ in fired_rules(RULES, mentions)] == [
        "russian-military",
        "interceptors",
        "agency",
    ]


def test_rule_problems_and_rule_keywords() -> None:
    rules = (
        *RULES,
        Rule("empty", channels=("mail",)),
        Rule("ghost", actors=("Nobody",), channels=("pager",)),
        Rule("broken", query="Gerasimov AND (Kaliningrad OR", channels=("mail",)),
    )
    assert rule_problems(rules, WATCHLIST, {"mail", "slack"}) == [
        "rule 'empty' names no query, actor or keyword: it can never fire",
        "rule 'ghost': actor 'Nobody' is not in the watchlist",
        "rule 'ghost': no channel named 'pager'",
        "rule 'broken': query: expected a term after OR, found the end of the query (column 30)\n"
        "    Gerasimov AND (Kaliningrad OR\n"
        "                                 ^",
    ]
    widened = watchlist_for_rules(
        Watchlist(keywords=("Kaliningrad",)), (Rule("r", keywords=("Aegis", "kaliningrad")),)
    )
    assert widened.keywords == ("Kaliningrad", "Aegis")


def test_folded_offsets_map_back_as_a_per_character_table_would():
    """Offsets in a casefolded text map back to the source, with characters folding to two or
    three ("ß", "ẞ", "ŉ", "ﬃ", "ΐ") anywhere: compared with the table of one source index per
    folded character on random texts, for every offset and every span."""
    rng = random.Random(7)
    alphabet = "aß ẞŉﬃΐk.İ"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        origin = [i for i, char in enumerate(text) for _ in char.casefold()]
        offsets = _FoldedOffsets(text)
        assert [offsets.source(j) for j in range(len(origin))] == origin, text
        for first in range(len(origin)):
            for last in range(first, len(origin)):
                half = (first > 0 and origin[first - 1] == origin[first]) or (
                    last + 1 < len(origin) and origin[last + 1] == origin[last]
                )
                assert offsets.splits(first, last) == half, (text, first, last)


def test_a_hit_after_several_folding_characters_keeps_its_offsets():
    matcher = WatchlistMatcher(Watchlist(keywords=("Iskander",)))
    (mention,) = matcher.find("", "Große Straße, ﬃ: Iskander")
    assert mention.snippet[mention.start : mention.end] == "Iskander"
