"""What a run prints: on a terminal a short summary with at most 30 new stories (--verbose: all), off
a terminal one line per run; the console channel's compact digest (one line per story) and its full
form; and no control character from the web in any of it."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from alerts.config import ConsoleChannel
from alerts.deliver import DeliveryResult, deliver
from alerts.text import terminal_safe
from extractors.records import Alert, AlertStory, Mention, Verdict
from flows.channels import build_channel
from flows.ingest.summary import STORIES_SHOWN, print_run
from flows.settings import ConfigError, load_settings

HOSTILE = "Title \x1b]0;pwned\x07with \x9b31mcontrols\r\nand a \u202eswitch"
CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@dataclass
class Result:  # the fields of flows.ingest.result.RunResult that the summary reads
    run_id: int = 7
    status: str = "completed"
    counts: dict = field(default_factory=dict)
    polls: list = field(default_factory=list)
    new_articles: list = field(default_factory=list)
    new_total: int = 0
    db_path: str = "data/newswatch.duckdb"


def result(stories: int, failed: int = 0) -> Result:
    counts = dict.fromkeys(
        (
            "feeds_due feeds_polled feeds_unchanged feeds_failed entries_new articles_stored copies off_topic "
            "no_link fetch_failed extract_empty alerts_created alerts_sent alerts_pending"
        ).split(),
        0,
    )
    counts.update(feeds_due=5 + failed, feeds_polled=5, feeds_failed=failed, articles_stored=stories)
    polls = [
        {"feed": f"bad{i}", "outcome": "failed", "status": 500, "error": "HTTP 500\x1b[2J"}
        for i in range(failed)
    ]
    articles = [
        {"article_id": i, "feed": "wire", "title": f"Story {i}" if i else HOSTILE} for i in range(stories)
    ]
    return Result(counts=counts, polls=polls, new_articles=articles, new_total=stories)


def test_a_terminal_gets_at_most_30_stories():
    out = Tty()
    print_run(result(45), out, duration=12.34)
    text = out.getvalue()
    assert text.startswith("run 7: completed in 12.3 s")
    assert text.count("    + [") == STORIES_SHOWN == 30
    assert "... and 15 more (newswatch run --verbose lists all)" in text
    assert not CONTROLS.search(text.replace("\n", ""))


def test_verbose_lists_every_story():
    out = Tty()
    print_run(result(45), out, verbose=True)
    assert out.getvalue().count("    + [") == 45 and "more" not in out.getvalue()


def test_a_run_keeps_its_first_stories_and_verbose_reads_the_rest_from_the_warehouse(tmp_path):
    """The run's result (which Prefect holds) keeps the first 30 stories whatever the size of the run;
    --verbose lists every story from the published warehouse, in the order stored."""
    from extractors.fingerprint import fingerprint
    from extractors.records import Article
    from flows.ingest.rows import RunCounts, RunRows, utcnow
    from flows.ingest.summary import print_run as print_summary
    from warehouse.store import Warehouse

    db = tmp_path / "w.duckdb"
    with Warehouse.open(db) as wh:
        run_id = wh.start_run()
        rows = RunRows(run_id, utcnow(), RunCounts())
        texts = [f"story {i} " + " ".join(f"w{i}x{k}" for k in range(60)) for i in range(45)]
        articles = [
            Article(
                url=f"https://n.example/{i}",
                feed="wire",
                title=f"Story {i}",
                text=t,
                fingerprint=fingerprint(t),
                text_source="page",
            )
            for i, t in enumerate(texts)
        ]
        ids = wh.reserve_article_ids(len(articles))
        rows.add_judged(articles, [Verdict(False)] * len(articles), ids)
        rows.write(wh)
        shown, total = wh.run_articles(run_id, STORIES_SHOWN)
    assert (len(shown), total) == (30, 45) and shown[0]["title"] == "Story 0"
    r = Result(run_id=run_id, counts=result(45).counts, new_articles=shown, new_total=total, db_path=str(db))
    out = Tty()
    print_summary(r, out)
    assert out.getvalue().count("    + [") == 30 and "... and 15 more" in out.getvalue()
    out = Tty()
    print_summary(r, out, verbose=True)
    listed = re.findall(r"\+ \[\d+\] wire: (Story \d+)", out.getvalue())
    assert listed == [f"Story {i}" for i in range(45)] and "more" not in out.getvalue()


def test_off_a_terminal_one_line_per_run():
    out = io.StringIO()
    print_run(result(45, failed=7), out, duration=3.0)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("newswatch run 7: completed in 3.0s;")
    assert "45 stored" in line and "7 failed (bad0: HTTP 500, bad1: HTTP 500" in line and "and 2 more" in line
    assert not CONTROLS.search(line)


def test_an_outage_says_so_in_the_one_line():
    r = result(0, failed=6)
    r.status, r.counts["outage"] = "no_feed_polled", True
    out = io.StringIO()
    print_run(r, out)
    assert "newswatch run 7: no feed polled, OUTAGE" in out.getvalue()


# ---- the console channel -------------------------------------------------------------------------


def alert(
    alert_id: int, article_id: int, rule: str, title: str, url: str = "https://news.example/a"
) -> Alert:
    mention = Mention("actor", "Valery Gerasimov", "Gerasimov", 2, "said Gerasimov today", 5, 14)
    story = AlertStory(article_id, title, url, "Example Wire", datetime(2026, 3, 1, tzinfo=UTC), (mention,))
    return Alert(alert_id=alert_id, rule=rule, channel="terminal", story=story)


ALERTS = [
    alert(1, 10, "russian-military", "Gerasimov visits Kaliningrad"),
    alert(2, 10, "kaliningrad", "Gerasimov visits Kaliningrad"),  # the same story, a second rule
    alert(3, 11, "russian-military", HOSTILE, "javascript:alert(1)"),
    alert(4, 0, "feed-health", "feed vestnik has failed 3 runs in a row", ""),  # operational
    alert(5, 0, "feed-health", "feed gone has failed 3 runs in a row", ""),
]


def test_console_prints_one_line_per_story_by_default():
    out = io.StringIO()
    assert deliver(ConsoleChannel("terminal", out), ALERTS) == DeliveryResult(ok=True)
    lines = out.getvalue().splitlines()
    assert lines[0] == "newswatch: 4 new stories (russian-military, kaliningrad, feed-health)"
    assert lines[1] == (
        "  [russian-military, kaliningrad] Gerasimov visits Kaliningrad — Example Wire — https://news.example/a"
    )
    assert lines[2].endswith("— (link withheld: not an http(s) link)")
    assert lines[3] == "  [feed-health] feed vestnik has failed 3 runs in a row — Example Wire"
    assert len(lines) == 5
    assert not CONTROLS.search(out.getvalue().replace("\n", ""))


def test_console_full_format_prints_every_detail_without_controls():
    out = io.StringIO()
    assert deliver(ConsoleChannel("terminal", out, format="full"), ALERTS[:3]) == DeliveryResult(ok=True)
    text = out.getvalue()
    assert "said Gerasimov today" in text and "**" not in text and text.count("\n") > 5  # no markup
    assert not CONTROLS.search(text.replace("\n", ""))


def test_console_format_is_a_channel_option(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[channels.plain]\ntype = "console"\n[channels.detailed]\ntype = "console"\nformat = "full"\n'
    )
    settings = load_settings(cfg)
    assert build_channel("plain", settings.channels["plain"]).format == "compact"
    assert build_channel("detailed", settings.channels["detailed"]).format == "full"
    cfg.write_text('[channels.odd]\ntype = "console"\nformat = "verbose"\n')
    with pytest.raises(ConfigError, match="channels.odd"):
        load_settings(cfg)


def test_terminal_safe_keeps_newlines_and_tabs_only():
    assert terminal_safe("a\tb\nc\x1b[31md\x07e\x9bf\u202eg\rh") == "a\tb\nc[31mdefgh"
