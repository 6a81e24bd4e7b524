"""Cleaning of extracted text, and the seed loader (title, date, author, clean text)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractors.clean import clean_text, parse_dateline
from extractors.seeds import load_seed, load_seeds

SEED_DIR = Path(__file__).resolve().parents[1] / "corpus" / "seed"

# (input, expected output): chrome lines go, real sentences stay, paragraphs end up "\n\n"-separated.
CLEAN_CASES = [
    ("First paragraph.\nSecond paragraph.", "First paragraph.\n\nSecond paragraph."),
    ("  Spaces\u00a0 and\ttabs.  \r\n\r\n\r\nEnd.", "Spaces and tabs.\n\nEnd."),
    ("Story text.\nComments: 0\nCategory: News\nTags: missile, defense", "Story text."),
    ("Author: us-russia\nStory text.", "Story text."),
    ("By [Nikolaus von Twickel](#)\nStory text.", "Story text."),
    ("By Monday Russia had agreed.", "By Monday Russia had agreed."),
    ("By the end of the day, talks had collapsed.", "By the end of the day, talks had collapsed."),
    ("Story text.\nOriginal url:\n<https://www.example.com/2012/04/23/story>", "Story text."),
    ("Share Tweet Email\nStory text.\nRead more\nRelated\nPrint", "Story text."),
    ("Share prices fell 3% on Tuesday.", "Share prices fell 3% on Tuesday."),
    (
        "Read more about it in the report, the minister said.",
        "Read more about it in the report, the minister said.",
    ),
    ("We use cookies to improve your experience. Accept all cookies\nStory text.", "Story text."),
    ("icon bookmark-bicon bookmarkicon cameraicon checkicon chevron downicon closeicon\nStory.", "Story."),
    ("Published 7-03-2013, 07:37\nUpdated at 1:23 p.m.\nStory text.", "Story text."),
    ("He arrived on March 28, 2012 in Moscow.", "He arrived on March 28, 2012 in Moscow."),
    ("Call 02-751-1500 for details.", "Call 02-751-1500 for details."),
    ("A caption, twice.\nA caption, twice.\nText.", "A caption, twice.\n\nText."),
    ("Title\nTitle\nText.", "Title\n\nText."),
    (
        "Q?\nA one.\nOther.\nMore.\nQ?\nA two.",
        "Q?\n\nA one.\n\nOther.\n\nMore.\n\nQ?\n\nA two.",
    ),  # far repeats of short lines stay
    (
        "the NATO official told\n\nthe Moscow Times on condition.",
        "the NATO official told the Moscow Times on condition.",
    ),
    ("**Igor Tabakov** took the photo.", "Igor Tabakov took the photo."),
    ("© 2024 Example News. All rights reserved.\nStory.", "Story."),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "expected"), CLEAN_CASES)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected
    assert clean_text(expected) == expected  # idempotent


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("March 28, 2012 - 18:51 AMT", datetime(2012, 3, 28, 14, 51, tzinfo=UTC)),
        ("Published 7-03-2013, 07:37", datetime(2013, 3, 7, 7, 37, tzinfo=UTC)),
        ("April 23, 2012", datetime(2012, 4, 23, tzinfo=UTC)),
        ("Thursday, October 27, 2011", datetime(2011, 10, 27, tzinfo=UTC)),
        ("27 October 2011, 3:05 pm EDT", datetime(2011, 10, 27, 19, 5, tzinfo=UTC)),
        ("2011-10-27", datetime(2011, 10, 27, tzinfo=UTC)),
        ("He said on March 3, 2012 that", None),
        ("Updated at 1:23 p.m.", None),
        ("02-751-1500", None),
    ],
)
def test_parse_dateline(line, expected):
    assert parse_dateline(line) == expected


# file -> (title, published_at, author, first words of the text, last words of the text)
SEEDS = {
    "000_0a04e27b91a8325b.txt": (
        "Russia invites NATO’s Rasmussen to missile defense conference",
        datetime(2012, 3, 28, 14, 51, tzinfo=UTC),
        None,
        "The Russian Defense Ministry will invite",
        "specifically banned such an exchange.",
    ),
    "001_0337de853ce0bf85.txt": (
        "Russia Invites US Military Chief to Missile Defense Talks",
        datetime(2013, 3, 7, 7, 37, tzinfo=UTC),
        "us-russia",
        "Russia has invited US Joint Chiefs",
        "its strategic nuclear missile arsenal.",
    ),
    "002_c68f71f71e4418b3.txt": (
        "Russia, NATO may see progress in missile defense cooperation by June",
        None,
        None,
        "Moscow will set up a working group",
        "would “lift all other problems.”",
    ),
    "003_8d031fc7582aa9b3.txt": (
        "NATO Bigwig Headed to Moscow for Missile Defense Talks",
        datetime(2012, 4, 23, tzinfo=UTC),
        "Nikolaus von Twickel",
        "Deputy Secretary General of NATO Alexander Vershbow, right,",
        "interceptors that have not even been tested.",
    ),
    "004_93233251d11fd33f.txt": (
        "Talks over NATO radar ‘going nowhere’: Russia",
        datetime(2011, 10, 27, tzinfo=UTC),
        None,
        "Russia continues to show its reluctance",
        "signed by MDA head Patrick O’Reilly.\n\nMOSCOW",
    ),
}

CHROME = re.compile(
    r"Comments:|Category:|Author:|Original url|\bicon\b|\]\(|\*\*|<https?://|^By |"
    r"^Published |AMT$|^(Monday|Tuesday|Wednesday|Thursday|Friday|April|March)\b.*\d{4}$",
    re.M,
)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_fields_and_clean_text(name):
    title, published_at, author, head, tail = SEEDS[name]
    seed = load_seed(SEED_DIR / name)
    assert seed.title == title
    assert seed.published_at == published_at
    assert seed.author == author
    assert seed.text.startswith(head)
    assert seed.text.endswith(tail)
    assert CHROME.search(seed.text) is None
    assert title not in seed.text  # the title is a field, even when the file prints it twice
    paragraphs = seed.text.split("\n\n")
    assert len(paragraphs) == len(set(paragraphs))  # no repeated paragraph (caption printed twice)
    assert all(p.strip() == p and p for p in paragraphs)


def test_load_seeds_sorted_by_name():
    names = [name for name, _ in load_seeds(SEED_DIR)]
    assert names == sorted(SEEDS)
