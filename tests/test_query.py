"""The query language: a table of queries and articles with the verdict each must get, the errors
that point at their position, and the old actors/keywords rules firing exactly as before."""

from __future__ import annotations

import pickle
import random

import pytest

from alerts.config import Actor, Rule, Watchlist
from alerts.matching import QueryFilter, RuleMatcher
from alerts.query import And, Near, Not, Or, QueryError, Term, parse
from alerts.rules import fired_rules
from alerts.watchlist import WatchlistMatcher, watchlist_for_rules

GERASIMOV = Actor("Valery Gerasimov", ("Gerasimov", "Герасимов"))
WATCHLIST = Watchlist(
    actors=(GERASIMOV, Actor("Missile Defense Agency", ("MDA",)), Actor("NATO")),
    keywords=("Kaliningrad", "SM-3"),
)


def verdict(query: str, title: str, text: str, feed: str = "wire", lang: str | None = "en") -> bool:
    matcher = RuleMatcher(WATCHLIST, (Rule("r", query=query, channels=("c",)),))
    return bool(matcher.match(title, text, feed, lang).fired)


# (query, title, text, expected); feed "wire", lang "en" unless the case says otherwise
CASES = [
    # terms, AND, implicit AND, OR
    ("Gerasimov AND Kaliningrad", "", "Gerasimov flew to Kaliningrad.", True),
    ("Gerasimov AND Kaliningrad", "", "Gerasimov flew to Moscow.", False),
    ("Gerasimov Kaliningrad", "", "Kaliningrad saw Gerasimov.", True),
    ("Gerasimov Kaliningrad", "", "Kaliningrad only.", False),
    ("Gerasimov OR Kaliningrad", "", "Kaliningrad only.", True),
    # precedence: NOT > AND > OR
    ("alpha OR beta AND gamma", "", "alpha", True),
    ("alpha OR beta AND gamma", "", "beta", False),
    ("alpha OR beta AND gamma", "", "beta gamma", True),
    ("NOT alpha AND beta", "", "beta", True),
    ("NOT alpha AND beta", "", "alpha beta", False),
    ("alpha AND NOT beta OR gamma", "", "alpha beta", False),
    ("alpha AND NOT beta OR gamma", "", "alpha beta gamma", True),
    ("(alpha OR beta) AND gamma", "", "alpha", False),
    ("(alpha OR beta) AND gamma", "", "beta gamma", True),
    ("interceptor -Colorado", "", "An interceptor test over the Pacific.", True),
    ("interceptor -Colorado", "", "An interceptor test in Colorado.", False),
    ("interceptor AND NOT (Colorado OR Alaska)", "", "An interceptor in Alaska.", False),
    # phrases
    ('"missile defense" AND Poland', "", "Missile defense sites in Poland.", True),
    ('"missile defense" AND Poland', "", "Missile sites for defense of Poland.", False),
    # NEAR: at most n words between, either order, one field
    ("Rogozin NEAR/5 Romania", "", "Rogozin said on Tuesday that Romania agreed.", True),  # 4 between
    ("Rogozin NEAR/5 Romania", "", "Romania, a spokesman said, welcomed Rogozin.", True),
    ("Rogozin NEAR/5 Romania", "", "Rogozin one two three four five Romania", True),
    ("Rogozin NEAR/5 Romania", "", "Rogozin one two three four five six Romania", False),
    ("Rogozin NEAR/5 Romania", "", "Romania one two three four five six Rogozin", False),
    ("Rogozin NEAR/0 Romania", "", "Rogozin Romania", True),
    ("Rogozin NEAR/0 Romania", "", "Rogozin in Romania", False),
    ("Rogozin NEAR/5 Romania", "Rogozin speaks", "Romania answers.", False),  # title vs text
    ('(Rogozin OR Рогозин) NEAR/3 "Black Sea"', "", "Рогозин on the Black Sea coast", True),
    ("Gerasimov's NEAR/1 visit", "", "Gerasimov's surprise visit", True),  # a possessive is one word
    ("Rogozin NEAR/2 Romania NEAR/2 Bucharest", "", "Rogozin in Romania, in Bucharest", True),
    (
        "Rogozin NEAR/2 Romania NEAR/2 Bucharest",
        "",
        "Rogozin in Romania; far, far away from Bucharest",
        False,
    ),
    # fields
    ("title:Gerasimov", "Gerasimov in Kaliningrad", "Nothing here.", True),
    ("title:Gerasimov", "Kaliningrad news", "Gerasimov arrived.", False),
    ("text:Gerasimov", "Gerasimov in Kaliningrad", "Nothing here.", False),
    ("text:Gerasimov", "Kaliningrad news", "Gerasimov arrived.", True),
    ("title:(alpha OR beta) gamma", "A beta title", "gamma in the text", True),
    ('title:"missile defense"', "Missile defense review", "", True),
    ("Gerasimov feed:wire", "", "Gerasimov", True),
    ("Gerasimov feed:other", "", "Gerasimov", False),
    ("feed:wire", "", "anything at all", True),  # a whole feed is allowed: it needs the feed
    ("Gerasimov lang:en", "", "Gerasimov", True),
    ("Gerasimov lang:ru", "", "Gerasimov", False),
    # actors: any alias, inflected in Russian
    ('actor:"Valery Gerasimov"', "", "Начальник Генштаба Герасимова", True),
    ('actor:"Valery Gerasimov"', "", "Gerasimov's deputy", True),
    ("actor:Gerasimov", "", "Valery Gerasimov", True),  # an alias names its actor too
    ('actor:"Valery Gerasimov" AND Kaliningrad', "", "Герасимов прибыл в Калининград", False),
    ('title:actor:"Valery Gerasimov"', "Gerasimov speaks", "", True),
    # Cyrillic: word boundaries, case endings
    ("Калининград", "", "Герасимов прибыл в Калининград.", True),
    ("Калининград", "", "Из Калининграда сообщают.", True),
    ("Калининград", "", "Калининградская область.", False),
    ("Герасимов AND NOT Шойгу", "", "Генерал Герасимовым доволен.", True),
    ("Герасимов AND NOT Шойгу", "", "Герасимов и Шойгу.", False),
    # all-caps: case-sensitive; otherwise any case
    ("NATO", "", "The Nato summit.", False),
    ("NATO", "", "The NATO summit.", True),
    ("nato", "", "The NATO summit.", True),
    ("MDA", "", "The mda said.", False),
    ("kaliningrad", "", "KALININGRAD", True),
    # word boundaries, and a term inside a longer watchlist alias still counts
    ("Iskander", "", "Iskanderov", False),
    ("near Kaliningrad", "", "Bases near Kaliningrad", True),  # "near" alone is a word
    ("Defense", "", "The Missile Defense Agency said.", True),
    ("SM-3", "", "An SM\u20113 interceptor", True),
]


@pytest.mark.parametrize("query, title, text, expected", CASES)
def test_verdicts(query: str, title: str, text: str, expected: bool) -> None:
    assert verdict(query, title, text) is expected


def test_lang_matches_a_regional_variant_and_feed_any_case() -> None:
    assert verdict("Gerasimov lang:en", "", "Gerasimov", lang="en-US")
    assert not verdict("Gerasimov lang:en-gb", "", "Gerasimov", lang="en-US")
    assert not verdict("Gerasimov lang:en", "", "Gerasimov", lang=None)
    assert verdict("Gerasimov feed:Wire", "", "Gerasimov", feed="wire")


def test_precedence_as_trees() -> None:
    assert parse("a OR b AND NOT c") == Or((Term("a", 0), And((Term("b", 5), Not(Term("c", 15), 11)), 5)), 0)
    assert parse("x NOT a NEAR/3 b") == And(
        (Term("x", 0), Not(Near(Term("a", 6), Term("b", 15), 3, 8), 2)), 0
    )
    assert parse('title:(x OR "y z")') == Or((Term("x", 7, "title"), Term("y z", 12, "title")), 7)


ERRORS = [
    ("", 0, "the query is empty"),
    ("Gerasimov AND", 13, "expected a term after AND"),
    ("Gerasimov AND OR Kaliningrad", 14, "expected a term after AND"),
    ("(Gerasimov OR Kaliningrad", 25, "is never closed"),
    ("Gerasimov) AND x", 9, "closes no '('"),
    ('Gerasimov AND "Kaliningrad', 14, "quote is never closed"),
    ("Gerasimov or Kaliningrad", 10, "operators are written in capitals: OR"),
    ("Rogozin NEAR Romania", 8, "NEAR needs a distance"),
    ("Rogozin near/5 Romania", 8, "operators are written in capitals: NEAR"),
    ("Rogozin NEAR/x Romania", 8, "NEAR needs a distance"),
    ("Rogozin NEAR/3 (a AND b)", 16, "NEAR joins terms"),
    ("Rogozin NEAR/3 -Romania", 15, "expected a term, phrase or actor after NEAR/3"),
    ("NOT Colorado", 0, "matches stories that contain none of its terms"),
    ("-Colorado OR -Alaska", 0, "matches stories that contain none of its terms"),
    ("titel:Gerasimov", 0, "unknown field 'titel:'"),
    ("title: Gerasimov", 6, "expected a value right after title:"),
    ("lang:english Gerasimov", 5, "expected a language code"),
    ("Gerasimov - Kaliningrad", 10, "'-' must be followed by what to exclude"),
    ('""', 0, "empty quotes"),
    ("()", 1, "empty parentheses"),
]


@pytest.mark.parametrize("query, position, message", ERRORS)
def test_errors_point_at_the_problem(query: str, position: int, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert message in caught.value.message
    assert caught.value.position == position
    query_line, caret_line = caught.value.pointer(indent="").split("\n")
    assert query_line == query
    assert caret_line == " " * position + "^"
    assert f"(column {position + 1})" in str(caught.value)


def test_an_unknown_actor_names_the_rule_and_the_position() -> None:
    with pytest.raises(QueryError) as caught:
        RuleMatcher(WATCHLIST, (Rule("ok", query="x"), Rule("bad", query='Kaliningrad AND actor:"Shoigu"')))
    assert caught.value.rule == "bad"
    assert caught.value.position == 16
    assert str(caught.value).startswith("rule 'bad': no actor 'Shoigu' in the watchlist")


def test_a_syntax_error_names_the_rule() -> None:
    with pytest.raises(QueryError) as caught:
        RuleMatcher(WATCHLIST, (Rule("broken", query="(a OR b"),))
    assert caught.value.rule == "broken" and "rule 'broken'" in str(caught.value)


def test_a_multiline_query_keeps_the_caret_under_the_problem() -> None:
    with pytest.raises(QueryError) as caught:
        parse("Gerasimov AND\n  (Kaliningrad OR")
    assert caught.value.pointer(indent="") == "Gerasimov AND   (Kaliningrad OR\n" + " " * 31 + "^"


LEGACY_RULES = (
    Rule("russian-military", actors=("Valery Gerasimov",), keywords=("Kaliningrad",), channels=("mail",)),
    Rule("interceptors", keywords=("sm-3", "Aegis"), channels=("slack",)),
    Rule("agency", actors=("Missile Defense Agency", "NATO"), channels=("slack",)),
)
VOCABULARY = (
    "Gerasimov Герасимова Kaliningrad Калининград SM-3 sm-3 Aegis aegis MDA Mda NATO Nato Missile Defense "
    "Agency Agency's the a of in said ships radar . , \n\n"
).split(" ")


def test_old_rules_fire_exactly_as_before() -> None:
    """actors/keywords rules compiled to the evaluator fire for the same articles, with the same
    mentions, as `fired_rules` over the watchlist's mentions (random texts over a small vocabulary)."""
    rng = random.Random(28)
    matcher = RuleMatcher(WATCHLIST, LEGACY_RULES)
    plain = WatchlistMatcher(watchlist_for_rules(WATCHLIST, LEGACY_RULES))
    fired_any = 0
    for _ in range(400):
        title = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(0, 5)))
        text = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(0, 40)))
        mentions = plain.find(title, text)
        result = matcher.match(title, text)
        assert result.mentions == mentions
        expected = [
            (rule.name, {m.name for m in relevant}) for rule, relevant in fired_rules(LEGACY_RULES, mentions)
        ]
        got = [(f.rule.name, {m.term for m in f.matches}) for f in result.fired]
        assert got == expected, (title, text)
        fired_any += bool(got)
    assert fired_any > 100  # the texts did exercise the rules


def test_a_rule_with_actors_and_a_query_fires_for_either() -> None:
    rule = Rule("both", actors=("NATO",), query="Rogozin NEAR/2 Romania", channels=("c",))
    matcher = RuleMatcher(WATCHLIST, (rule,))
    assert matcher.match("", "NATO met.").fired
    assert matcher.match("", "Rogozin in Romania.").fired
    assert not matcher.match("", "Rogozin far away from here in Romania.").fired


def test_what_a_fired_rule_quotes() -> None:
    """The terms that made it fire, in document order; NEAR's two sides in one snippet; an excluded
    term is never quoted; a title hit is quoted from the title alone."""
    rules = (Rule("r", query="title:Gerasimov AND (Rogozin NEAR/5 Romania) AND NOT Colorado OR Alaska"),)
    matcher = RuleMatcher(WATCHLIST, rules)
    text = "First paragraph about nothing.\n\nLater, Romania said Rogozin was expected. Rogozin left."
    (fired,) = matcher.match("Gerasimov talks", text).fired
    assert [(m.term, m.snippet[m.start : m.end]) for m in fired.matches] == [
        ("Gerasimov", "Gerasimov"),
        ("Romania", "Romania"),
        ("Rogozin", "Rogozin"),
    ]
    assert fired.matches[0].snippet == "Gerasimov talks"
    assert fired.matches[1].snippet == fired.matches[2].snippet  # one snippet for the pair
    assert fired.matches[1].snippet.startswith("Later, Romania said Rogozin")
    assert [m.offset for m in fired.matches] == sorted(m.offset for m in fired.matches)


def test_only_the_rules_asked_for_are_evaluated() -> None:
    rules = (Rule("a", query="Gerasimov"), Rule("b", query="Kaliningrad"))
    matcher = RuleMatcher(WATCHLIST, rules)
    result = matcher.match("", "Gerasimov in Kaliningrad", only={"b"}, mentions=False)
    assert [f.rule.name for f in result.fired] == ["b"] and result.mentions == []


def test_fingerprints_follow_what_matching_depends_on() -> None:
    rules = (
        Rule("a", query='actor:"Valery Gerasimov" Kaliningrad', channels=("x",)),
        Rule("b", keywords=("SM-3",), channels=("x",)),
    )
    before = RuleMatcher(WATCHLIST, rules).fingerprints()
    assert set(before) == {"watchlist", "rule:a", "rule:b"}
    same = RuleMatcher(
        WATCHLIST, (Rule("a", query='actor:"Valery Gerasimov"  Kaliningrad', channels=("y",)), rules[1])
    )
    assert same.fingerprints() == before  # whitespace and channels do not change what matches
    more_aliases = Watchlist(
        actors=(Actor("Valery Gerasimov", ("Gerasimov", "Герасимов", "V. Gerasimov")), *WATCHLIST.actors[1:]),
        keywords=WATCHLIST.keywords,
    )
    after = RuleMatcher(more_aliases, rules).fingerprints()
    assert after["watchlist"] != before["watchlist"]
    assert after["rule:a"] != before["rule:a"]  # it names the actor whose aliases changed
    assert after["rule:b"] == before["rule:b"]


def test_a_matcher_survives_pickling() -> None:
    rules = (Rule("r", query="Rogozin NEAR/3 Romania"),)
    matcher = pickle.loads(pickle.dumps(RuleMatcher(WATCHLIST, rules)))
    assert matcher.match("", "Rogozin in Romania").fired


def test_the_topic_filter_as_a_query() -> None:
    topic = QueryFilter('("missile defense" OR interceptor) AND NOT (football OR soccer)', WATCHLIST)
    assert topic.is_on_topic("Interceptor test", "over the Pacific")
    assert not topic.is_on_topic("Interceptor of the season", "A football match.")
    assert not topic.is_on_topic("Weather", "Rain.")
    by_actor = QueryFilter('actor:"Valery Gerasimov" lang:ru', WATCHLIST)
    assert by_actor.is_on_topic("", "Герасимову доложили", lang="ru")
    assert not by_actor.is_on_topic("", "Герасимову доложили", lang="en")
    assert pickle.loads(pickle.dumps(topic)).is_on_topic("", "missile defense")
