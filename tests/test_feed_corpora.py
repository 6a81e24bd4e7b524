"""Every feed of ../shared/corpora through parse_feed, and a few facts about the real ones.

The corpora live beside the checkout (never copied in); without them these tests skip.
"""

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractors.errors import FeedParseError
from extractors.feeds import parse_feed

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
REAL = CORPORA / "real-feeds"

pytestmark = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"shared corpora not found at {CORPORA}")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPORA.rglob("*") if p.is_file() and not p.name.startswith("LICENSE"))


def test_every_corpus_file_parses_or_raises_feed_parse_error():
    files = corpus_files()
    assert len(files) > 2000
    failures, parsed, refused = [], 0, 0
    started = time.perf_counter()
    for path in files:
        try:
            parse_feed(path.read_bytes(), path.stem)
            parsed += 1
        except FeedParseError:
            refused += 1
        except Exception as exc:  # collect every failure, not just the first
            failures.append(f"{path.relative_to(CORPORA)}: {type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - started
    print(f"\n{len(files)} corpus files in {elapsed:.2f}s: {parsed} parsed, {refused} FeedParseError")
    assert failures == []
    assert parsed > 1500  # most of the suite is usable feeds


def real(name: str, **kwargs):
    return parse_feed((REAL / name).read_bytes(), Path(name).stem, **kwargs)


def test_cnn_items_without_pubdate_get_none():
    entries = real("mediacloud/real-cnn.rss").entries
    assert len(entries) == 69
    assert all(e.url and e.url.startswith("https://www.cnn.com/") for e in entries)
    dated = [e for e in entries if e.published_at]
    assert len(dated) == 52  # the rest carry no pubDate at all
    assert all(e.published_at.tzinfo is UTC for e in dated)
    assert entries[0].title.startswith("Any investigation of a former president")


def test_korea_times_malformed_dates_are_none_not_errors():
    # Its dates look like "Thu,28 Jul 2022 4:35:5 GMT+9" inside a lower-case <pubdate>.
    entries = real("mediacloud/real-korean-times.rss").entries
    assert len(entries) == 195
    assert all(e.url and "koreatimes.co.kr" in e.url for e in entries)
    assert entries[0].title == "France on course for driest July on record: weather office"
    assert all(e.published_at is None for e in entries)


def test_heise_rdf_links_lose_their_tracking_parameter():
    parsed = real("miniflux/rdf_UTF8.xml")
    assert len(parsed.entries) == 60
    first = parsed.entries[0]
    assert first.title == "OLED-TVs: Vorsichtsmaßnahmen gegen Einbrennen"
    assert first.url == (
        "https://www.heise.de/newsticker/meldung/OLED-TVs-Vorsichtsmassnahmen-gegen-Einbrennen-4205274.html"
    )
    assert "wt_mc" in first.raw_url
    assert parsed.entries[1].title == "Mega-Deal: IBM übernimmt Red Hat"


def test_golem_iso_8859_1():
    entries = real("miniflux/encoding_ISO-8859-1.xml").entries
    assert len(entries) == 40
    assert entries[0].content.startswith("Viele Spieler wünschen sich eine PC-Version")
    assert entries[0].published_at == datetime(2018, 10, 28, 12, 48, tzinfo=UTC)
    assert all("\ufffd" not in e.title + e.content for e in entries)


def test_undeclared_iso_8859_1_is_decoded_with_a_warning():
    parsed = real("miniflux/no_encoding_ISO-8859-1.xml")
    assert len(parsed.entries) == 10
    assert "nombre d'études montrent" in parsed.entries[0].content
    assert parsed.warning and "windows-1252" in parsed.warning


def test_windows_1251():
    entries = real("miniflux/encoding_WINDOWS-1251.xml").entries
    assert len(entries) == 50
    assert entries[0].title == "Цитата #17703"
    assert entries[0].content.startswith("xxx: есть у кого жаба программер\nxxx:")
    assert entries[0].published_at == datetime(2018, 3, 21, 7, 27, 32, tzinfo=UTC)


def test_urdu():
    entries = real("miniflux/urdu_UTF8.xml").entries
    assert len(entries) == 26
    assert entries[0].url == "http://www.bbc.com/urdu/pakistan-42575603"
    assert entries[0].title.startswith("امریکی عسکری امداد کی بندش")
    assert entries[0].published_at == datetime(2018, 1, 5, 16, 51, tzinfo=UTC)


@pytest.mark.parametrize("name", ["miniflux/large_atom.xml", "miniflux/large_rss.xml"])
def test_large_feeds_agree(name):
    entries = real(name).entries
    assert len(entries) == 25
    first = entries[0]
    assert (first.url, first.title, first.author) == (
        "https://dustri.org/b/using-vale-with-vim.html",
        "Using vale with vim",
        "jvoisin",
    )
    assert first.published_at == datetime(2024, 3, 10, 16, 15, tzinfo=UTC)
    assert "\n\n" in first.content and "<p>" not in first.content
