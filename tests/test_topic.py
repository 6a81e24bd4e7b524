"""Topic filter: which texts count as missile-defense news."""

from __future__ import annotations

import pytest

from extractors.topic import DEFAULT_TERMS, TopicFilter

# (title, text, expected terms found with the default list)
CASES = [
    ("Pentagon tests missile defense system", "", ["missile defense"]),
    ("", "NATO's missile defence plans worry Moscow.", ["missile defence"]),
    ("", "Russia opposes the US anti-missile system in Europe.", ["anti-missile"]),
    ("", "Russia opposes the US anti missile system in Europe.", ["anti-missile"]),
    ("", "the antimissile shield", ["anti-missile"]),  # "missile" inside a word is not a word
    ("", "Seoul agreed to host a THAAD battery.", ["THAAD"]),
    ("", "Navy destroyers fired two SM-3 Block IIA rounds; an SM 6 followed.", ["SM-3", "SM-6"]),
    (
        "",
        "Ukraine asked for more Patriot missiles and another Patriot battery.",
        ["Patriot missile", "Patriot battery"],
    ),
    ("", "Iron Dome intercepted most of the rockets.", ["Iron Dome"]),
    ("Golden Dome contract awarded", "", ["Golden Dome"]),
    ("", "North Korea fired two ballistic missiles into the sea.", ["ballistic missile"]),
    ("", "The Aegis Ashore site in Romania is operational.", ["Aegis Ashore"]),
    ("", "Israel's David’s Sling and Arrow 3 systems were used.", ["David's Sling", "Arrow 3"]),
    ("", "the 1972 ABM Treaty", ["ABM"]),
    ("", "a hypersonic glide vehicle", ["hypersonic glide"]),
    # everyday news: no match
    ("Patriots beat the Jets 24-3", "New England's defense held the Jets to three points.", []),
    ("Ford recalls Police Interceptor Utility", "The interceptor SUVs have a faulty seat.", []),
    ("", "The summit was held under the aegis of the United Nations.", []),
    ("", "Weather radar shows heavy rain moving in.", []),
    ("", "Shares of Dome Corp. rose after earnings; the missile of a toy rocket.", []),
    ("", "The abmodel and samabm words are not ABMs? ABMs!", ["ABM"]),
]


@pytest.mark.parametrize(("title", "text", "expected"), CASES)
def test_default_terms(title, text, expected):
    topic = TopicFilter(DEFAULT_TERMS)
    assert topic.match(title, text) == expected
    assert topic.is_on_topic(title, text) is bool(expected)


@pytest.mark.parametrize(
    ("text", "min_hits", "on_topic"),
    [
        ("He promised to drop missile defense in Eastern Europe.", 1, True),
        ("He promised to drop missile defense in Eastern Europe.", 2, False),
        ("Missile defense talks resumed; the missile shield divides them.", 2, True),
        ("Missile defense talks resumed. Missile defense is the issue.", 2, True),
    ],
)
def test_min_hits_counts_occurrences(text, min_hits, on_topic):
    assert TopicFilter(DEFAULT_TERMS, min_hits=min_hits).is_on_topic("", text) is on_topic


def test_custom_terms_and_case():
    topic = TopicFilter(["Golden Dome", "space-based interceptor"])
    assert topic.match("GOLDEN DOME", "space based interceptors were discussed") == [
        "Golden Dome",
        "space-based interceptor",
    ]
    assert topic.match("", "a golden domed church") == []


@pytest.mark.parametrize(("terms", "min_hits"), [([], 1), (["  "], 1), (["x"], 0)])
def test_invalid_configuration(terms, min_hits):
    with pytest.raises(ValueError):
        TopicFilter(terms, min_hits=min_hits)
