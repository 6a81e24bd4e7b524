"""Gaps end to end, on a real local site whose feed shows only its newest 10 stories: 25 stories are
published between two runs, the second poll sees only the newest 10 (all new, the oldest newer than
anything seen before: a gap), and backfill finds the other 15, through the feed's RFC 5005 paging,
WordPress's ?paged=N, or the site's news sitemap (robots.txt -> sitemap index -> news sitemap).
Every story is stored after the second run; a backfilled story older than a day raises no alert.
A third run adds nothing. `newswatch why` then explains a stored, a copied, an off-topic and an
unknown URL from the same warehouse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.cli.main import main
from tests.e2e import ingest
from tests.helpers_http import Reply
from tests.news_site import HTML, RSS, NewsSite, Story

pytestmark = pytest.mark.slow


def write_config(path: Path, feeds: dict[str, str], extra: str = "") -> Path:
    feed_tables = "".join(f'\n[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items())
    path.write_text(
        f"""
[warehouse]
path = "{path.parent / "newswatch.duckdb"}"

[fetch]
allow_private_hosts = true
retries = 0
connect_timeout = 2
timeout = 10

[extract]
workers = 0

[watchlist]
keywords = ["interceptor"]

[[rules]]
name = "interceptors"
keywords = ["interceptor"]
channels = ["terminal"]

[channels.terminal]
type = "console"
{feed_tables}
{extra}
""",
        encoding="utf-8",
    )
    return path


def q(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def run_gap(tmp: Path, site: NewsSite, capsys) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)  # RSS dates have whole seconds
    first = site.publish(10, start=now - timedelta(days=3), step=timedelta(hours=1))
    cfg = write_config(tmp / "newswatch.toml", {"site": site.feed_url})
    db = tmp / "newswatch.duckdb"
    ingest(cfg)
    later = site.publish(25, start=now - timedelta(hours=40), step=timedelta(hours=1.5))
    second = ingest(cfg)
    capsys.readouterr()
    return {"cfg": cfg, "db": db, "first": first, "later": later, "second": second, "now": now}


@pytest.mark.parametrize(
    ("paging", "sitemap", "sources"),
    [("rfc5005", False, "rel=next x2"), ("wordpress", False, "paged x2"), (None, True, "sitemap x1")],
    ids=["rfc5005-paging", "wordpress-paged", "news-sitemap"],
)
def test_every_story_published_between_two_polls_is_stored(
    tmp_path, prefect_harness, capsys, paging, sitemap, sources
):
    with NewsSite(feed_size=10, paging=paging, sitemap=sitemap) as site:
        r = run_gap(tmp_path, site, capsys)
    db = r["db"]
    stored = {u for (u,) in q(db, "SELECT url FROM articles WHERE feed = 'site'")}
    assert stored == {site.url(s.path) for s in r["first"] + r["later"]}  # all 35
    ((feed, start, end, in_poll, found, new, got_sources, filled, note),) = q(
        db,
        "SELECT feed, window_start, window_end, entries_in_poll, found, new_entries, sources, filled, note "
        "FROM gaps",
    )
    assert (feed, in_poll, found, new, got_sources, filled, note) == ("site", 10, 15, 15, sources, True, None)
    assert start == r["first"][-1].published  # the newest story seen before
    assert end == r["later"][15].published  # the oldest story of the poll that overflowed
    counts = r["second"].counts
    assert (counts["gaps"], counts["backfilled"], counts["articles_stored"]) == (1, 15, 25)
    # a backfilled story within the last day alerts like any other; an older one is stored quietly
    alerted = {u for (u,) in q(db, "SELECT a.url FROM alerts l JOIN articles a USING (article_id)")}
    day_ago = r["now"] - timedelta(days=1)
    for s in r["later"]:
        if "interceptor" in s.text:
            assert (site.url(s.path) in alerted) == (s.published >= day_ago), s.number


def test_gap_filled_then_nothing_new_and_why_explains(tmp_path, prefect_harness, capsys):
    with NewsSite(feed_size=10, paging="rfc5005", sitemap=True) as site:
        now = datetime.now(UTC).replace(microsecond=0)  # RSS dates have whole seconds
        off_topic = site.add(
            Story(
                0,
                "Football results",
                now - timedelta(days=3, hours=-10),  # the newest when run 1 polls
                ("The local football club won the cup final after extra time. " * 8).strip(),
                "/sport/cup.html",
            )
        )
        site.publish(10, start=now - timedelta(days=3), step=timedelta(hours=1))
        original = site.stories[3]
        mirror_page = Story(99, "Copied report", original.published, original.text, "/mirror/copy.html")
        site.server.routes[mirror_page.path] = Reply(200, mirror_page.html(), HTML)
        site.server.routes["/mirror.xml"] = Reply(
            200,
            (
                '<?xml version="1.0"?><rss version="2.0"><channel><title>m</title><link>http://m/</link>'
                f"<description>d</description><item><title>Copied report</title>"
                f"<link>{site.url(mirror_page.path)}</link></item></channel></rss>"
            ).encode(),
            RSS,
        )
        cfg = write_config(
            tmp_path / "newswatch.toml", {"site": site.feed_url, "mirror": site.url("/mirror.xml")}
        )
        db = tmp_path / "newswatch.duckdb"
        ingest(cfg)
        site.publish(25, start=now - timedelta(hours=40), step=timedelta(hours=1.5))
        ingest(cfg)
        pages_before = sum(site.hits(s.path) for s in site.stories)
        third = ingest(cfg)
        pages_after = sum(site.hits(s.path) for s in site.stories)
        capsys.readouterr()

        def why(url: str) -> str:
            assert main(["why", url, "--config", str(cfg)]) == 0
            return capsys.readouterr().out

        stored = why(site.url(site.stories[5].path) + "?utm_source=x")  # tracking parameters dropped
        copied = why(site.url(mirror_page.path))
        unrelated = why(site.url(off_topic.path))
        unknown = why(site.url("/story/999.html"))
        assert main(["why", site.url(site.stories[5].path), "--config", str(cfg), "--format", "json"]) == 0
        as_json = json.loads(capsys.readouterr().out)
        assert main(["why", "ftp://nope", "--config", str(cfg)]) == 2
        assert "not an http(s) URL" in capsys.readouterr().err
        assert main(["feeds", "--config", str(cfg), "--format", "json"]) == 0
        feeds = {f["name"]: f for f in json.loads(capsys.readouterr().out)}

    # the third run: no gap, nothing new, no page fetched again
    assert (third.counts["gaps"], third.counts["entries_new"], pages_after) == (0, 0, pages_before)
    assert q(db, "SELECT count(*) FROM gaps") == [(1,)]

    assert "seen in feed site" in stored and "outcome   stored: text from page" in stored
    assert f'"{site.stories[5].title}"' in stored and "interceptor (keyword)" in stored
    assert as_json["entries"][0]["outcome"] == "stored" and as_json["url"] == site.url(site.stories[5].path)
    assert "seen in feed mirror" in copied and "outcome   copy:" in copied
    assert "copy of   article" in copied and original.title in copied
    assert "outcome   off_topic: fewer than 1 topic term(s)" in unrelated
    assert (
        "never seen" in unknown and "feeds of this site: mirror" in unknown and "site (last polled" in unknown
    )
    assert (
        "gap in site, detected" in unknown and "backfill found 15 (15 new) via rel=next x2: filled" in unknown
    )
    assert feeds["site"]["gaps_7d"] == 1 and feeds["site"]["unfilled_7d"] == 0 and feeds["site"]["last_gap"]
    assert feeds["site"]["interval"] == "every run" and feeds["mirror"]["gaps_7d"] == 0


def test_a_gap_that_cannot_be_filled_is_recorded_and_explained(tmp_path, prefect_harness, capsys):
    """No paging, no sitemap: the 15 stories in between are missed, and the warehouse says so."""
    with NewsSite(feed_size=10, paging=None, sitemap=False) as site:
        r = run_gap(tmp_path, site, capsys)
        missed = r["later"][:15]
        assert main(["why", site.url(missed[0].path), "--config", str(r["cfg"])]) == 0
        why = capsys.readouterr().out
        assert main(["feeds", "--config", str(r["cfg"]), "--format", "json"]) == 0
        (shown,) = json.loads(capsys.readouterr().out)
    stored = {u for (u,) in q(r["db"], "SELECT url FROM articles WHERE feed = 'site'")}
    assert stored == {site.url(s.path) for s in r["first"] + r["later"][15:]}
    ((found, filled, note, requests),) = q(r["db"], "SELECT found, filled, note, requests FROM gaps")
    assert (found, filled, requests) == (0, False, 2)  # ?paged=2, robots.txt
    assert note == f"older page: HTTP 404 from {site.feed_url}?paged=2; robots.txt names no sitemap"
    assert "never seen" in why and "NOT filled (older page: HTTP 404" in why
    assert (shown["gaps_7d"], shown["unfilled_7d"]) == (1, 1)
