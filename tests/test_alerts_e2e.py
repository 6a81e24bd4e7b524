"""Alert delivery end to end, on its failure paths: real feeds and pages (a local HTTP server), a real
SMTP server (aiosmtpd), a real HTTP endpoint for Slack webhooks and a real DuckDB file.

One story, hostile on purpose, is alerted to three channels:
- run 1: the SMTP port has no listener and Slack answers 500: every alert stays pending with its error,
  and no error, table or printed line holds a secret (SMTP password, webhook URLs);
- run 2: SMTP is up, Slack answers "ok": one email and one Slack post, each alert sent once; the
  third channel (a webhook that answers 404) keeps failing without holding the others back;
- run 3: another outlet publishes the same story under other chrome: recorded as a copy, no new
  alert, nothing sent again.
The email and the Slack post are then read back for injection: no header injected through the
subject, no raw <script> in the HTML part, no live Slack mention or link from the story's text.
"""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path

import duckdb
import pytest

from flows.cli.main import main
from flows.demo.sinks import SlackSink, SmtpSink
from tests.e2e import ingest
from tests.helpers_http import LocalServer, Reply

pytestmark = pytest.mark.slow

SMTP_USER, SMTP_PASSWORD = "newswatch", "pw-Xq9-s3cr3t-smtp"
DEAD_HOOK_PATH = "/services/T0DEAD/B0DEAD/d34dW3bh00kS3cr3tT0k3n"
RECIPIENT = "analysts@example.test"
HOSTILE = "<script>alert(1)</script> <!channel> <@U123> <https://evil.example/phish|click here>"
TITLE = "Gerasimov warns on missile defense in Poland\r\nBcc: victim@evil.example " + HOSTILE
RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"


def story_words(seed: int, n: int = 160) -> list[str]:
    """Words of a story no other story shares (random words: no common shingles, so no false copy)."""
    vocab = (
        "radar battery launcher brigade exercise corridor treaty ministry general budget statement "
        "deployment frontier satellite warning system contract parliament garrison convoy airbase "
        "harbour inspection briefing spokesman analyst doctrine tension agreement summit delegation "
        "interceptor warhead trajectory sensor command network reserve logistics procurement upgrade"
    ).split()
    rnd = random.Random(seed)
    return [rnd.choice(vocab) for _ in range(n)]


def article_html(title: str, paragraphs: list[str], chrome: str) -> bytes:
    """A news page: the story in <article>, wrapped in an outlet's own navigation and footer."""
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
    body = "\n".join(f"<p>{esc(p)}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title></head><body>"
        f"<nav><a href='/'>{chrome} home</a> <a href='/world'>World</a> <a href='/sport'>Sport</a></nav>"
        f"<header><h1>{esc(title)}</h1></header><article>{body}</article>"
        f"<footer>{chrome} newsletter: subscribe now. Cookie settings. Contact {chrome}.</footer>"
        "</body></html>"
    ).encode()


def story_paragraphs() -> list[str]:
    w = story_words(1)
    return [
        "General Valery Gerasimov said on Monday that the missile defense site in Poland "
        f"changes the balance, and added {HOSTILE} in a statement read to reporters.",
        " ".join(w[:60]) + ".",
        " ".join(w[60:110]) + ".",
        " ".join(w[110:]) + ".",
    ]


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (title, link, guid); titles are XML-escaped, CR and LF kept as such."""

    def esc(s: str) -> str:
        return (
            s.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace("\r", "&#13;")
            .replace("\n", "&#10;")
        )

    body = "".join(
        f"<item><title>{esc(t)}</title><link>{esc(link)}</link><guid>{esc(g)}</guid></item>"
        for t, link, g in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>http://example.test/</link><description>d</description>{body}</channel></rss>"
    ).encode()


def closed_port() -> socket.socket:
    """A port on 127.0.0.1 bound but not listening: connections are refused, and no one can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def write_config(path: Path, site: LocalServer, smtp_port: int, db: Path) -> Path:
    path.write_text(
        f"""
[warehouse]
path = "{db}"

[fetch]
allow_private_hosts = true   # the site is on 127.0.0.1
retries = 0
connect_timeout = 2
timeout = 10

[extract]
workers = 0                  # in the flow process: no worker pool to start for two pages

[[feeds]]
name = "wire"
url = "{site.url("/wire.xml")}"

[[feeds]]
name = "mirror"
url = "{site.url("/mirror.xml")}"

[watchlist]
keywords = ["Iskander"]

[[watchlist.actors]]
name = "Valery Gerasimov"
aliases = ["Gerasimov"]

[[rules]]
name = "russian-military"
actors = ["Valery Gerasimov"]
channels = ["mail", "chat", "dead-chat"]

[channels.mail]
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "none"
sender = "newswatch@example.test"
recipients = ["{RECIPIENT}"]
username_env = "NEWSWATCH_TEST_SMTP_USER"
password_env = "NEWSWATCH_TEST_SMTP_PASSWORD"

[channels.chat]
type = "slack"
webhook_url_env = "NEWSWATCH_TEST_SLACK_WEBHOOK"

[channels.dead-chat]
type = "slack"
webhook_url_env = "NEWSWATCH_TEST_DEAD_WEBHOOK"
""",
        encoding="utf-8",
    )
    return path


def q(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def all_text_in_warehouse(db: Path) -> str:
    """Every string value of every table, concatenated: where a leaked secret would be found."""
    with duckdb.connect(str(db), read_only=True) as con:
        cols = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_name IN "
            "(SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')"
        ).fetchall()
        return "\n".join(
            str(v) for t, c in cols for (v,) in con.execute(f'SELECT "{c}" FROM "{t}"').fetchall() if v
        )


@pytest.fixture(scope="module")
def runs(tmp_path_factory, prefect_harness, request):
    tmp = tmp_path_factory.mktemp("alerts")
    db = tmp / "newswatch.duckdb"
    capman = request.config.pluginmanager.getplugin("capturemanager")
    page = article_html(TITLE, story_paragraphs(), chrome="Daily Wire")
    site = LocalServer()  # its port is known from here on: feed links are absolute
    site.routes.update(
        {
            "/wire.xml": Reply(200, rss([(TITLE, site.url("/story.html"), "wire-1")]), {"Content-Type": RSS}),
            "/mirror.xml": Reply(200, rss([]), {"Content-Type": RSS}),
            "/story.html": Reply(200, page, {"Content-Type": HTML}),
        }
    )
    mp = pytest.MonkeyPatch()
    no_listener = closed_port()
    facts: dict = {"db": db}
    try:
        with site, SlackSink() as slack, SmtpSink(users={SMTP_USER: SMTP_PASSWORD}) as smtp:
            dead_hook = slack.url.replace(slack.path, DEAD_HOOK_PATH)
            facts["secrets"] = [SMTP_PASSWORD, slack.url, slack.path, dead_hook, DEAD_HOOK_PATH]
            mp.setenv("NEWSWATCH_TEST_SMTP_USER", SMTP_USER)
            mp.setenv("NEWSWATCH_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
            mp.setenv("NEWSWATCH_TEST_SLACK_WEBHOOK", slack.url)
            mp.setenv("NEWSWATCH_TEST_DEAD_WEBHOOK", dead_hook)

            # run 1: nothing listens on the SMTP port, Slack answers 500
            cfg = write_config(tmp / "newswatch.toml", site, no_listener.getsockname()[1], db)
            slack.answer(500, "internal_error")
            facts["exit1"] = main(["run", "--config", str(cfg)])  # as a user runs it: the summary printed
            (facts["run1"],) = q(
                db, "SELECT articles_stored, alerts_created, alerts_sent, alerts_pending FROM runs"
            )
            facts["alerts1"] = q(
                db, "SELECT channel, status, attempts, last_error FROM alerts ORDER BY channel"
            )
            facts["mails1"], facts["posts1"] = len(smtp.messages), len(slack.posts)

            # run 2: the SMTP server is up (config rewritten to its port) and Slack answers "ok"
            cfg = write_config(tmp / "newswatch.toml", site, smtp.port, db)
            slack.answer(200, "ok")
            facts["run2"] = ingest(cfg)
            facts["alerts2"] = q(
                db, "SELECT channel, status, attempts, last_error, sent_at FROM alerts ORDER BY channel"
            )
            facts["mails2"], facts["posts2"] = len(smtp.messages), len(slack.posts)

            # run 3: another outlet publishes the same story under its own chrome and headline
            copy_page = article_html(
                "Moscow's top general speaks on Poland", story_paragraphs(), chrome="Evening Mirror"
            )
            site.routes["/mirror/copy.html"] = Reply(200, copy_page, {"Content-Type": HTML})
            site.routes["/mirror.xml"] = Reply(
                200,
                rss([("Moscow's top general speaks on Poland", site.url("/mirror/copy.html"), "m-1")]),
                {"Content-Type": RSS},
            )
            facts["run3"] = ingest(cfg)
            facts["mails3"], facts["posts3"] = len(smtp.messages), len(slack.posts)
            facts["smtp"] = smtp.envelopes
            facts["slack"] = slack.posts
            facts["dead_requests"] = [r for r in slack.requests if r.path == DEAD_HOOK_PATH]
            facts["story_hits"] = len(site.hits("/story.html"))
    finally:
        mp.undo()
        no_listener.close()
        out, err = capman.read_global_capture() if capman else ("", "")
        facts["printed"] = out + err
    return facts


def test_run1_failed_deliveries_stay_pending_with_their_error(runs):
    assert runs["exit1"] == 0  # pending alerts are reported and recorded: the run did its job
    assert runs["run1"] == (1, 3, 0, 3)  # stored, alerts created, sent, pending
    by_channel = {ch: (status, attempts, err) for ch, status, attempts, err in runs["alerts1"]}
    assert set(by_channel) == {"mail", "chat", "dead-chat"}
    for status, attempts, error in by_channel.values():
        assert (status, attempts) == ("pending", 1)
        assert error
    assert "refused" in by_channel["mail"][2].lower()
    assert "HTTP 500" in by_channel["chat"][2]
    assert "HTTP 404" in by_channel["dead-chat"][2]
    assert runs["mails1"] == 0
    assert runs["posts1"] == 1  # the one post Slack answered 500: not a delivery


def test_no_secret_in_errors_warehouse_or_output(runs):
    errors = " ".join(e for *_, e in runs["alerts1"] if e) + " ".join(
        e for _, _, _, e, _ in runs["alerts2"] if e
    )
    stored = all_text_in_warehouse(runs["db"])
    assert "127.0.0.1" in errors and "3 pending" in runs["printed"]  # the places searched hold something
    for secret in runs["secrets"]:
        assert secret not in errors
        assert secret not in stored
        assert secret not in runs["printed"]


def test_run2_delivers_each_channel_once(runs):
    c = runs["run2"].counts
    assert (c["alerts_created"], c["alerts_sent"], c["alerts_pending"]) == (0, 2, 1)
    rows = {ch: (status, attempts, sent_at) for ch, status, attempts, _, sent_at in runs["alerts2"]}
    assert rows["mail"][:2] == ("sent", 2) and rows["mail"][2] is not None
    assert rows["chat"][:2] == ("sent", 2) and rows["chat"][2] is not None
    assert runs["mails2"] == 1  # one digest per channel
    assert runs["posts2"] - runs["posts1"] == 1
    (mail,) = runs["smtp"]
    assert mail.login == SMTP_USER and mail.rcpt_tos == [RECIPIENT]


def test_a_channel_that_keeps_failing_does_not_hold_the_others_back(runs):
    ((status, attempts, error),) = q(
        runs["db"], "SELECT status, attempts, last_error FROM alerts WHERE channel = 'dead-chat'"
    )
    assert status == "pending" and attempts == 3 and "HTTP 404" in error  # tried on every run
    assert len(runs["dead_requests"]) == 3
    assert q(runs["db"], "SELECT channel FROM alerts WHERE status = 'sent' ORDER BY 1") == [
        ("chat",),
        ("mail",),
    ]


def test_run3_a_copy_is_recorded_and_alerts_nothing(runs):
    c = runs["run3"].counts
    assert (c["articles_stored"], c["copies"], c["alerts_created"], c["alerts_sent"]) == (0, 1, 0, 0)
    assert (runs["mails3"], runs["posts3"]) == (runs["mails2"], runs["posts2"])  # nothing sent again
    db = runs["db"]
    ((feed, method, original),) = q(
        db,
        "SELECT d.feed, d.method, a.url FROM duplicates d JOIN articles a ON a.article_id = d.duplicate_of",
    )
    assert feed == "mirror" and method in ("exact", "near") and original.endswith("/story.html")
    assert q(db, "SELECT count(*) FROM alerts") == [(3,)]
    assert q(db, "SELECT count(*) FROM articles WHERE feed = 'mirror'") == [(0,)]
    assert runs["story_hits"] == 1  # the original page was fetched once, in run 1


def test_email_subject_and_html_are_safe(runs):
    (mail,) = runs["smtp"]
    message = mail.message
    subject = message["Subject"]
    assert "Gerasimov warns" in subject and "Bcc:" in subject  # the hostile title did reach it...
    assert "\r" not in subject and "\n" not in subject  # ...folded to one line
    assert message["Bcc"] is None and mail.rcpt_tos == [RECIPIENT]  # no header was injected
    html = message.get_body(("html",)).get_content()
    assert "&lt;script&gt;" in html and "<script" not in html.lower()
    text = message.get_body(("plain",)).get_content()
    assert "Gerasimov" in text


def test_slack_post_escapes_mentions_and_links(runs):
    (post,) = [p for p in runs["slack"] if p.get("blocks")][-1:]  # the post Slack accepted
    shown = (
        post["text"] + "\n" + "\n".join(b["text"]["text"] for b in post["blocks"] if b["type"] == "section")
    )
    raw = json.dumps(post, ensure_ascii=False)
    for live, escaped in [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://evil.example/phish|click here>", "&lt;https://evil.example/phish|click here&gt;"),
        ("<script>", "&lt;script&gt;"),
    ]:
        assert escaped in shown, escaped
        assert live not in raw, live
