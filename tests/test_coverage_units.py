"""The pure parts of "never miss a story", each case a document (or data) and what must come out of it:
paging links of feeds, robots.txt and sitemaps; overflow detection; a feed's pace; its usual gap
between entries; and what counts as a change of a story's text."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest

from extractors.feeds import parse_feed
from extractors.paging import SitemapError, paged_url, parse_sitemap, robots_sitemaps
from extractors.records import FeedEntry, FeedPaging, FeedPoll
from extractors.textdiff import compare_texts
from flows.ingest.gaps import find_gap
from flows.ingest.pace import entries_per_hour, interval_minutes, next_poll
from flows.ingest.silence import usual_gap
from warehouse.coverage import FeedBaseline, FeedHistory

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)

# ---- feeds' links to their older entries --------------------------------------------------------

ATOM_PAGED = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<link rel="self" href="http://x.test/feed"/><link rel="next" href="feed?page=2"/>
<entry><title>a</title><link href="http://x.test/a"/><id>a</id><updated>2025-01-01T00:00:00Z</updated></entry></feed>"""
ATOM_ARCHIVED = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<link rel="prev-archive" href="http://x.test/archive/2024-12"/>
<entry><title>a</title><link href="http://x.test/a"/><id>a</id><updated>2025-01-01T00:00:00Z</updated></entry></feed>"""
RSS_ATOM_NEXT = b"""<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>t</title><link>http://x.test/</link><description>d</description>
<atom:link rel="next" href="/feed.xml?page=2"/><item><title>a</title><link>http://x.test/a</link></item></channel></rss>"""
RSS_WORDPRESS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x.test/</link>
<description>d</description><generator>https://wordpress.org/?v=6.5</generator>
<item><title>a</title><link>http://x.test/a</link></item></channel></rss>"""
RSS_PLAIN = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x.test/</link>
<description>d</description><item><title>a</title><link>http://x.test/a</link></item></channel></rss>"""


@pytest.mark.parametrize(
    ("document", "paging"),
    [
        (ATOM_PAGED, FeedPaging(next="http://x.test/feed?page=2")),
        (ATOM_ARCHIVED, FeedPaging(prev_archive="http://x.test/archive/2024-12")),
        (RSS_ATOM_NEXT, FeedPaging(next="http://x.test/feed.xml?page=2")),
        (RSS_WORDPRESS, FeedPaging(wordpress=True)),
        (RSS_PLAIN, None),
    ],
    ids=["atom-rel-next-relative", "atom-prev-archive", "rss-atom-link-next", "wordpress-generator", "none"],
)
def test_feed_paging_links(document, paging):
    assert parse_feed(document, "f", base_url="http://x.test/feed").paging == paging


@pytest.mark.parametrize(
    ("feed_url", "page", "expected"),
    [
        ("http://x.test/feed/", 2, "http://x.test/feed/?paged=2"),
        ("http://x.test/?feed=rss2", 3, "http://x.test/?feed=rss2&paged=3"),
        ("http://x.test/feed/?paged=2", 3, "http://x.test/feed/?paged=3"),
    ],
)
def test_wordpress_paged_url(feed_url, page, expected):
    assert paged_url(feed_url, page) == expected


def test_robots_sitemap_lines():
    robots = (
        b"User-agent: *\nDisallow: /private/\n# Sitemap: http://x.test/commented.xml\n"
        b"SITEMAP: /news-sitemap.xml  # the news\nSitemap: http://x.test/news-sitemap.xml\n"
        b"sitemap:https://cdn.x.test/index.xml\nSitemap: ftp://x.test/no.xml\nAllow: /\n"
    )
    assert robots_sitemaps(robots, "http://x.test/robots.txt") == (
        "http://x.test/news-sitemap.xml",
        "https://cdn.x.test/index.xml",
    )


SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>http://x.test/news.xml</loc><lastmod>2025-03-01T10:00:00+01:00</lastmod></sitemap>
<sitemap><loc>/pages.xml</loc></sitemap></sitemapindex>"""
NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>http://x.test/a?utm_source=s</loc><news:news><news:publication><news:name>X</news:name></news:publication>
  <news:publication_date>2025-03-01T09:30:00Z</news:publication_date><news:title> Radar  moved </news:title></news:news></url>
<url><loc>http://x.test/b</loc><news:news><news:publication_date>2025-02-28</news:publication_date></news:news></url>
<url><loc>http://x.test/plain</loc><lastmod>2025-03-01</lastmod></url>
<url><loc>http://other.test/c</loc><news:news><news:publication_date>2025-03-01</news:publication_date></news:news></url>
<url><loc>http://x.test/d</loc><news:news><news:publication_date>not a date</news:publication_date></news:news></url>
</urlset>"""


def test_sitemap_index_lists_its_children_with_their_dates():
    doc = parse_sitemap(SITEMAP_INDEX, "f", "http://x.test/index.xml")
    assert doc.children == (
        ("http://x.test/news.xml", datetime(2025, 3, 1, 9, 0, tzinfo=UTC)),
        ("http://x.test/pages.xml", None),
    )
    assert doc.entries == ()


@pytest.mark.parametrize(
    "body", [NEWS_SITEMAP, gzip.compress(NEWS_SITEMAP, mtime=0)], ids=["plain", "gzipped"]
)
def test_news_sitemap_entries_on_its_own_host_with_dates(body):
    doc = parse_sitemap(body, "f", "http://x.test/news.xml")
    assert doc.urls == 5
    assert doc.entries == (
        FeedEntry(
            "f",
            "http://x.test/a",
            None,
            "Radar moved",
            "",
            datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
            raw_url="http://x.test/a?utm_source=s",
        ),
        FeedEntry(
            "f", "http://x.test/b", None, "", "", datetime(2025, 2, 28, tzinfo=UTC), raw_url="http://x.test/b"
        ),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaa">]><urlset>&a;</urlset>', "refused unsafe XML"),
        (b"<urlset><url><loc>http://x.test/a</loc></urlset>", "not a readable sitemap"),
        (gzip.compress(b"<urlset>" + b" " * 5000 + b"</urlset>", mtime=0), "exceeds 1000 bytes inflated"),
        (b"\x1f\x8b\x08\x00broken", "corrupt gzip sitemap"),
    ],
    ids=["entity", "malformed", "gzip-over-cap", "corrupt-gzip"],
)
def test_unreadable_sitemaps_are_one_clear_error(body, message):
    with pytest.raises(SitemapError, match=message):
        parse_sitemap(body, "f", "http://x.test/s.xml", limit=1000)


# ---- overflow detection ---------------------------------------------------------------------------


def poll(*dates: datetime | None, outcome: str = "ok") -> FeedPoll:
    entries = tuple(FeedEntry("f", f"http://x.test/{i}", None, f"t{i}", "", d) for i, d in enumerate(dates))
    return FeedPoll(feed="f", url="http://x.test/feed", outcome=outcome, status=200, entries=entries)


BEFORE = FeedBaseline("f", last_success_at=T0, newest_entry_at=T0 - 2 * H, silent_since=None, items_seen=20)


@pytest.mark.parametrize(
    ("the_poll", "known", "baseline", "window"),
    [
        (poll(T0 + 3 * H, T0 + H), 0, BEFORE, (T0 - 2 * H, T0 + H)),  # all new, past the newest seen
        (poll(T0 + 3 * H, T0 - H), 0, BEFORE, (T0 - 2 * H, T0 - H)),  # newer than the newest entry seen
        (poll(T0 + 3 * H, T0 - 3 * H), 0, BEFORE, None),  # reaches back before it: nothing skipped
        (poll(T0 + 3 * H, T0 + H), 1, BEFORE, None),  # an entry was known: the feed overlaps
        (poll(T0 + 3 * H), 0, FeedBaseline("f", None, None, None), None),  # its first successful poll
        (poll(T0 + 3 * H), 0, FeedBaseline("f", T0, None, None, 10), (T0, T0 + 3 * H)),  # no date seen before
        (poll(T0 + 3 * H), 0, FeedBaseline("f", T0, None, None, 0), None),  # it was empty: nothing skipped
        (poll(None, None), 0, BEFORE, (T0 - 2 * H, None)),  # undated: every entry new is an overflow
        (poll(T0 + 3 * H, outcome="failed"), 0, BEFORE, None),
    ],
    ids=[
        "overflow",
        "overflow-by-dates",
        "overlap-by-dates",
        "known-entry",
        "first-poll",
        "since-last-poll",
        "was-empty",
        "undated",
        "failed",
    ],
)
def test_a_gap_is_a_poll_that_moved_past_what_was_seen(the_poll, known, baseline, window):
    gap = find_gap(the_poll, known, baseline)
    assert (None if gap is None else (gap.since, gap.until)) == window
    if gap:
        assert gap.entries == len(the_poll.entries) and gap.site == "http://x.test/"


# ---- pace and silence -------------------------------------------------------------------------------


def history(*hours_ago: float, more: bool = False) -> FeedHistory:
    return FeedHistory(tuple(sorted((T0 - h * H for h in hours_ago), reverse=True)), more)


@pytest.mark.parametrize(
    ("feed_history", "per_hour"),
    [
        (None, 0.0),
        (history(), 0.0),
        (history(0.5, 1, 1.5, 2), 2.0),  # a feed new to us: over the 2 hours its history spans
        (history(0.1, 0.2), 2.0),  # ... at least one hour
        (history(24, 48, 24 * 9), 2 / 168),  # older entries exist: over the whole 7 days
        (history(24 * 3), 1 / 168),  # one entry tells no pace
        (history(*[h / 4 for h in range(1, 9)], more=True), 8 / 2),  # the kept entries fill the window
    ],
    ids=["unknown", "empty", "new-feed", "min-span", "window", "single", "capped"],
)
def test_entries_per_hour(feed_history, per_hour):
    assert entries_per_hour(feed_history, T0) == pytest.approx(per_hour)


@pytest.mark.parametrize(("rate", "minutes"), [(0.0, 240), (0.01, 240), (1.0, 60), (4.0, 15), (60.0, 5)])
def test_interval_is_about_one_new_entry_per_poll_within_bounds(rate, minutes):
    assert interval_minutes(rate, 5, 240) == minutes


def test_next_poll_is_due_a_little_early_for_runs_on_the_same_schedule():
    assert next_poll(T0, 0) is None
    assert next_poll(T0, 15) == T0 + timedelta(minutes=13.5)
    assert next_poll(T0, 240) == T0 + timedelta(minutes=238)


@pytest.mark.parametrize(
    ("times", "gap"),
    [
        ([T0, T0 - H], None),  # too few to tell
        ([T0, T0, T0, T0 - H], None),  # entries of one poll without dates share their time
        ([T0, T0 - H, T0 - 3 * H], 1.5 * H),
        ([T0 - 24 * H * i for i in range(10)], 24 * H),
    ],
)
def test_usual_gap_is_the_median_between_entries(times, gap):
    assert usual_gap(times) == gap


# ---- what counts as a change of a story's text -------------------------------------------------------

STORY = "The ministry said on Monday that the radar battery moved to the northern base. 1,204 shares."


@pytest.mark.parametrize(
    ("new", "added", "removed"),
    [
        (STORY, 0, 0),
        (STORY.replace("1,204", "1,388"), 0, 0),  # a counter
        ("Updated 6 May 10:32. " + STORY, 0, 0),  # a time stamp
        (STORY.replace("Monday", "Tuesday"), 0, 0),  # a weekday is a date word
        (STORY.replace("radar", "missile"), 1, 1),
        (STORY + " General Valery Gerasimov confirmed the move.", 6, 0),
        (STORY.replace("to the northern base", ""), 0, 4),
    ],
    ids=["same", "counter", "timestamp", "weekday", "one-word", "sentence-added", "words-removed"],
)
def test_text_change_in_words_numbers_and_dates_aside(new, added, removed):
    change = compare_texts(STORY, new)
    assert (change.words_added, change.words_removed) == (added, removed)
    if added:
        assert "added" in change.summary
    if not (added or removed):
        assert change.summary == "no change beyond numbers, dates and times"


# ---- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[schedule]\nmin_interval_minutes = 300\nmax_interval_minutes = 240\n",
            "schedule: min_interval_minutes must not exceed max_interval_minutes",
        ),
        (
            "[revisions]\nrecheck_hours = -1\n",
            "revisions.recheck_hours: Input should be greater than or equal to 0",
        ),
        ("[backfill]\nmax_page = 3\n", "backfill.max_page: unknown key"),
        (
            "[health]\nsilence_factor = 0.5\n",
            "health.silence_factor: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_settings_name_the_key(tmp_path, toml, message):
    from flows.settings import ConfigError, load_settings

    path = tmp_path / "newswatch.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert message in str(err.value) and str(path) in str(err.value)
