"""`newswatch report` end to end: a sample warehouse, the real CLI in-process, the HTML parsed back.

The HTML must be self-contained and inert (no script, no remote resource, hostile text escaped),
its charts must show the right series and its tables the right rows; `--email` must deliver one
message with a plain-text and an HTML part to a real SMTP server.
"""

from __future__ import annotations

import re
import socket
from collections import Counter
from datetime import timedelta
from pathlib import Path

import lxml.html
import pytest

from flows.cli.main import main
from flows.demo.sinks import SmtpSink
from tests.warehouse_factory import copies_in, stories_in

WEEK = timedelta(days=7)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    from tests.warehouse_factory import build_sample_warehouse

    db = tmp_path_factory.mktemp("wh") / "newswatch.duckdb"
    return db, build_sample_warehouse(db, days=10)


def run_report(db: Path, out: Path, *extra: str) -> int:
    return main(["report", "--db", str(db), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def week_report(sample, tmp_path_factory):
    """The 7-day report, parsed once for the tests that read it."""
    db, facts = sample
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert run_report(db, out, "--since", "7d") == 0
    text = out.read_text(encoding="utf-8")
    return lxml.html.fromstring(text), text, facts


def legend(doc, figure_id: str) -> list[str]:
    # the full name is the <title> of each legend entry (the visible text may be shortened)
    return [
        t.text_content() for t in doc.xpath(f'//figure[@id="{figure_id}"]//g[@class="legend"]/text/title')
    ]


def table_rows(doc, table_id: str) -> list[list[str]]:
    return [
        [td.text_content().strip() for td in tr.xpath("./td")]
        for tr in doc.xpath(f'//table[@id="{table_id}"]/tbody/tr')
    ]


def column(doc, table_id: str, header: str) -> list[str]:
    headers = [th.text_content() for th in doc.xpath(f'//table[@id="{table_id}"]/thead/tr/th')]
    i = headers.index(header)
    return [r[i] for r in table_rows(doc, table_id)]


def by_total(counter: Counter) -> list[str]:
    return [name for name, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


# ---- charts -------------------------------------------------------------------------------------


def test_each_chart_is_an_svg_with_title_axes_and_legend(week_report):
    doc, _, _ = week_report
    for fig in ("chart-actors", "chart-keywords", "chart-feeds", "chart-published", "chart-republished"):
        svgs = doc.xpath(f'//figure[@id="{fig}"]/svg')
        assert len(svgs) == 1, fig
        chart = svgs[0]
        assert chart.xpath('./text[@class="chart-title"]')[0].text_content()
        assert len(chart.xpath('.//text[@class="axis-label"]')) == 2, fig
        assert chart.xpath('.//g[@class="legend"]/text'), fig


def test_actor_and_keyword_charts_show_the_top_names_by_articles(week_report):
    doc, _, facts = week_report
    stories = stories_in(facts, WEEK)
    actors = Counter(a for s in stories for a in s["actors"])
    keywords = Counter(k for s in stories for k in s["keywords"])
    assert legend(doc, "chart-actors") == by_total(actors)[:8]
    assert legend(doc, "chart-keywords") == by_total(keywords)[:8]
    # every point's mark has the tooltip "<name>, <day>: <articles>"; a series sums to the name's articles
    for name, n in actors.items():
        points = doc.xpath(f'//figure[@id="chart-actors"]//g[@data-series="{name}"]/*[@class="mark"]/title')
        assert sum(int(p.text_content().rsplit(": ", 1)[1]) for p in points) == n, name


def test_feed_chart_stacks_each_feeds_articles_per_day(week_report):
    doc, _, facts = week_report
    per_feed = Counter(s["feed"] for s in stories_in(facts, WEEK))
    assert legend(doc, "chart-feeds") == by_total(per_feed)
    for feed, n in per_feed.items():
        bars = doc.xpath(f'//figure[@id="chart-feeds"]//g[@data-series="{feed}"]/rect/title')
        assert sum(int(b.text_content().rsplit(": ", 1)[1]) for b in bars) == n, feed


def test_republished_chart_has_one_bar_per_story_most_copies_first(week_report):
    doc, _, facts = week_report
    copies = copies_in(facts, WEEK)
    expected = sorted(copies.items(), key=lambda kv: -len(kv[1]))
    bars = doc.xpath('//figure[@id="chart-republished"]//rect/title')
    got = [tuple(b.text_content().rsplit(": ", 1)) for b in bars]
    assert got == [(title, str(len(feeds))) for title, feeds in expected]


# ---- header and tables --------------------------------------------------------------------------


def test_header_names_period_warehouse_and_counts(week_report, sample):
    doc, _, facts = week_report
    db, _ = sample
    assert "last 7d" in doc.get_element_by_id("period").text_content()
    assert doc.get_element_by_id("generated").text_content().endswith("UTC")
    assert doc.get_element_by_id("warehouse").text_content() == str(db.resolve())
    counts = {
        k: doc.xpath(f'//li[@id="count-{k}"]/b')[0].text_content()
        for k in ("stories", "copies", "feeds", "alerts")
    }
    alerts = [a for a in facts["alerts"] if a["created_at"] >= facts["now"] - WEEK]
    assert counts == {
        "stories": str(len(stories_in(facts, WEEK))),
        "copies": str(sum(len(f) for f in copies_in(facts, WEEK).values())),
        "feeds": str(len(facts["feeds"])),
        "alerts": str(len(alerts)),
    }
    assert "(1 failing, 1 disabled)" in doc.get_element_by_id("count-feeds").text_content()


def test_new_stories_table_lists_each_story_with_outlet_and_matches(week_report):
    doc, _, facts = week_report
    stories = stories_in(facts, WEEK)
    rows = {r[2]: r for r in table_rows(doc, "new-stories")}
    assert set(rows) == {s["title"] for s in stories}
    for s in stories:
        seen, published, _, outlet, actors, keywords, _ = rows[s["title"]]
        assert (outlet, actors, keywords) == (s["feed"], ", ".join(s["actors"]), ", ".join(s["keywords"]))
        assert seen == s["first_seen"].strftime("%Y-%m-%d %H:%M")
        assert published == s["published_at"].strftime("%Y-%m-%d %H:%M")
    links = {a.text_content(): a.get("href") for a in doc.xpath('//table[@id="new-stories"]//a')}
    assert links == {s["title"]: s["url"] for s in stories if s["url"].startswith("https://")}


def test_republished_table_names_the_outlets_that_republished(week_report):
    doc, _, facts = week_report
    expected = {title: ", ".join(sorted(set(feeds))) for title, feeds in copies_in(facts, WEEK).items()}
    got = dict(
        zip(column(doc, "republished", "Story"), column(doc, "republished", "Also published by"), strict=True)
    )
    assert got == expected


def test_feed_health_table_shows_failures_errors_and_volume(week_report):
    doc, _, facts = week_report
    rows = {r[0]: r for r in table_rows(doc, "feed-health")}
    assert set(rows) == set(facts["feeds"])
    failures = dict(
        zip(
            column(doc, "feed-health", "Feed"),
            column(doc, "feed-health", "Consecutive failures"),
            strict=True,
        )
    )
    assert failures == {"wire": "0", "defense": "0", "courier": "0", "vestnik": "3", "gone": "1"}
    errors = dict(
        zip(column(doc, "feed-health", "Feed"), column(doc, "feed-health", "Last error"), strict=True)
    )
    assert errors[facts["failing_feed"]] == facts["hostile_error"]  # shown as text, not markup
    assert errors[facts["disabled_feed"]].startswith("410 Gone")
    assert rows["gone"][1] == "disabled"
    per_day = dict(
        zip(column(doc, "feed-health", "Feed"), column(doc, "feed-health", "Items/day (7 days)"), strict=True)
    )
    assert per_day == {f: f"{n / 7:.1f}" for f, n in facts["items_7d"].items()}
    assert (
        column(doc, "feed-health", "Last success (UTC)")[column(doc, "feed-health", "Feed").index("gone")]
        == "never"
    )


def test_alerts_and_runs_tables(week_report):
    doc, _, facts = week_report
    expected = Counter(a["status"] for a in facts["alerts"] if a["created_at"] >= facts["now"] - WEEK)
    got = Counter()
    for status, n in zip(column(doc, "alerts", "Status"), column(doc, "alerts", "Alerts"), strict=True):
        got[status] += int(n)
    assert got == expected
    assert column(doc, "runs", "Run") == ["2", "1"]
    assert column(doc, "runs", "Note")[0] == "<i>hostile note</i>"


# ---- self-contained and inert -------------------------------------------------------------------


def test_report_has_no_script_no_remote_resource_and_escapes_hostile_text(week_report):
    doc, text, facts = week_report
    assert not doc.xpath("//script | //iframe | //object | //embed | //link | //img | //base | //form")
    assert not [a for el in doc.iter() for a in el.attrib if a.lower().startswith("on")]
    assert not doc.xpath("//@src")
    for el in doc.xpath("//*[@href]"):  # only article links, only http(s)
        assert el.tag == "a" and re.match(r"^https?://", el.get("href")), lxml.html.tostring(el)
    styles = " ".join(s.text_content() for s in doc.xpath("//style")) + " ".join(doc.xpath("//@style"))
    assert "url(" not in styles and "@import" not in styles
    assert "default-src 'none'" in doc.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')[0]
    # the hostile title is visible as text, in the table and nowhere as markup
    assert facts["hostile_title"] in column(doc, "new-stories", "Story")
    assert "<script>" not in text and "javascript:" not in text.split("<body>")[1].replace(
        facts["hostile_url"], ""
    )
    assert facts["hostile_url"] not in [a.get("href") for a in doc.xpath("//a")]


# ---- periods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "period"),
    [
        ("90m", timedelta(minutes=90)),  # nothing published: every chart says so
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("4w", timedelta(weeks=4)),  # the whole sample
    ],
)
def test_since_selects_the_period(sample, tmp_path, since, period):
    db, facts = sample
    out = tmp_path / "r.html"
    assert run_report(db, out, "--since", since) == 0
    doc = lxml.html.fromstring(out.read_text(encoding="utf-8"))
    expected = stories_in(facts, period)
    assert doc.xpath('//li[@id="count-stories"]/b')[0].text_content() == str(len(expected))
    assert len(table_rows(doc, "new-stories")) == len(expected)
    for fig in ("chart-actors", "chart-keywords", "chart-feeds"):
        empty = doc.xpath(f'//figure[@id="{fig}"]/p[@class="empty"]')
        assert bool(empty) == (not expected), fig
        assert bool(doc.xpath(f'//figure[@id="{fig}"]/svg')) == bool(expected), fig
    if not expected:
        assert "no data in this period" in doc.xpath('//figure[@id="chart-feeds"]')[0].text_content()


@pytest.mark.parametrize("since", ["7", "d7", "7x", "1.5d", "0d", "-1d", "7 days", "9999999999d", "al", ""])
def test_bad_since_is_a_usage_error(sample, tmp_path, capsys, since):
    db, _ = sample
    assert run_report(db, tmp_path / "r.html", f"--since={since}") == 2
    assert f"--since {since!r}" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_missing_warehouse_fails_with_a_message(tmp_path, capsys):
    missing = tmp_path / "none.duckdb"
    assert run_report(missing, tmp_path / "r.html") == 1
    err = capsys.readouterr().err
    assert "no warehouse at" in err and str(missing) in err
    assert not (tmp_path / "r.html").exists()


def test_missing_config_without_db_is_a_usage_error(tmp_path, capsys):
    code = main(["report", "--config", str(tmp_path / "absent.toml"), "--out", str(tmp_path / "r.html")])
    assert code == 2
    assert "config file not found" in capsys.readouterr().err


def test_report_prints_the_path_written(sample, tmp_path, capsys):
    db, _ = sample
    out = tmp_path / "sub" / "r.html"
    assert run_report(db, out) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]  # no temporary file left behind


# ---- the digest email ---------------------------------------------------------------------------


def write_config(tmp_path: Path, db: Path, smtp_port: int, extra: str = "") -> Path:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f"""
[warehouse]
path = "{db}"

[channels.digest]
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "none"
sender = "newswatch@localhost"
recipients = ["analysts@localhost", "chief@localhost"]

[channels.team-slack]
type = "slack"
webhook_url_env = "NEWSWATCH_TEST_UNUSED_WEBHOOK"
{extra}
""",
        encoding="utf-8",
    )
    return config


def test_email_delivers_one_digest_with_text_and_html_parts(sample, tmp_path, capsys):
    db, facts = sample
    with SmtpSink() as sink:
        config = write_config(tmp_path, db, sink.port)
        out = tmp_path / "r.html"
        assert main(["report", "--config", str(config), "--out", str(out), "--email", "digest"]) == 0
    assert len(sink.messages) == 1
    msg = sink.messages[0]
    assert [(e.mail_from, e.rcpt_tos) for e in sink.envelopes] == [
        ("newswatch@localhost", ["analysts@localhost", "chief@localhost"])
    ]
    assert msg["From"] == "newswatch@localhost" and "chief@localhost" in msg["To"]
    n = len(stories_in(facts, WEEK))
    assert f"{n} new stories" in msg["Subject"]
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert f"{n} new stories" in text
    assert facts["failing_feed"] in text  # feeds needing attention
    assert html.replace("\r\n", "\n") == out.read_text(encoding="utf-8")
    assert "<svg" in html and "<script" not in html
    printed = capsys.readouterr().out
    assert str(out) in printed and "emailed to analysts@localhost, chief@localhost" in printed


LOGIN_CHANNEL = """
[channels.with-login]
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {port}
security = "none"
sender = "newswatch@localhost"
recipients = ["analysts@localhost"]
username_env = "NEWSWATCH_TEST_SMTP_USER"
password_env = "NEWSWATCH_TEST_SMTP_PASSWORD"
"""


@pytest.mark.parametrize(
    ("password", "code", "delivered"),
    [("s3cret-digest-pw", 0, 1), ("wrong-password-xyz", 1, 0)],
)
def test_email_logs_in_with_the_secrets_the_channel_names(
    sample, tmp_path, capsys, monkeypatch, password, code, delivered
):
    db, _ = sample
    monkeypatch.setenv("NEWSWATCH_TEST_SMTP_USER", "reporter")
    monkeypatch.setenv("NEWSWATCH_TEST_SMTP_PASSWORD", password)
    with SmtpSink(users={"reporter": "s3cret-digest-pw"}) as sink:
        config = write_config(tmp_path, db, sink.port, LOGIN_CHANNEL.format(port=sink.port))
        argv = ["report", "--config", str(config), "--out", str(tmp_path / "r.html"), "--email", "with-login"]
        assert main(argv) == code
    assert [e.login for e in sink.envelopes] == ["reporter"] * delivered
    captured = capsys.readouterr()
    assert password not in captured.out + captured.err  # a secret never reaches the terminal


@pytest.mark.parametrize(
    ("channel", "extra", "message"),
    [
        ("team-slack", "", "channel is of type 'slack', not email"),
        ("nowhere", "", "no such channel"),
        (
            "with-login",
            '[channels.with-login]\ntype = "email"\nsmtp_host = "127.0.0.1"\nsender = "a@b"\n'
            'recipients = ["c@d"]\nusername_env = "NEWSWATCH_TEST_UNSET_USER"',
            "environment variable NEWSWATCH_TEST_UNSET_USER is not set",
        ),
    ],
)
def test_email_to_a_channel_that_cannot_send_is_a_usage_error(
    sample, tmp_path, capsys, monkeypatch, channel, extra, message
):
    db, _ = sample
    monkeypatch.delenv("NEWSWATCH_TEST_UNSET_USER", raising=False)
    config = write_config(tmp_path, db, 2525, extra)
    out = tmp_path / "r.html"
    assert main(["report", "--config", str(config), "--out", str(out), "--email", channel]) == 2
    err = capsys.readouterr().err
    assert message in err and repr(channel) in err
    assert not out.exists()  # refused before any work


def test_email_failure_is_reported_after_the_report_is_written(sample, tmp_path, capsys):
    db, _ = sample
    config = write_config(tmp_path, db, closed_port())
    out = tmp_path / "r.html"
    assert main(["report", "--config", str(config), "--out", str(out), "--email", "digest"]) == 1
    assert out.exists()
    assert "email via channel 'digest' failed" in capsys.readouterr().err


# ---- the pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "period"),
    [
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        ("4w", timedelta(weeks=4)),
        ("90m", timedelta(minutes=90)),
        ("6mo", timedelta(days=180)),
        ("10y", timedelta(days=3650)),
        ("25Y", timedelta(days=25 * 365)),
        ("all", None),
        (" ALL ", None),
    ],
)
def test_parse_since(value, period):
    from flows.report.command import parse_since

    assert parse_since(value) == period


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (37, [0, 10, 20, 30, 40]),
        (120, [0, 50, 100, 150]),
    ],
)
def test_nice_ticks_cover_the_maximum_in_round_steps(top, ticks):
    from flows.report.charts import nice_ticks

    assert nice_ticks(top) == ticks


def test_many_feeds_are_summed_into_one_other_series():
    from datetime import date

    from flows.report.figures import series as make_series

    days = [date(2026, 3, 1), date(2026, 3, 2)]
    rows = [{"bin": days[i % 2], "feed": f"feed{i:02d}", "articles": 20 - i} for i in range(12)]
    series = make_series(rows, "feed", days, top=10)
    assert list(series)[:9] == [f"feed{i:02d}" for i in range(9)]
    assert list(series)[9] == "3 other feeds"
    # feed09 (11 stories, day 2), feed10 (10, day 1) and feed11 (9, day 2), day by day
    assert series["3 other feeds"] == [10.0, 11.0 + 9.0]
    assert sum(map(sum, series.values())) == sum(r["articles"] for r in rows)
