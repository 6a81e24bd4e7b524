"""Analyst rules end to end: a local news site (real HTTP), real runs of the ingest flow, a real SMTP
server and a real DuckDB file.

- run 1: rules with AND, NOT, NEAR and title: fire exactly for the stories they should, once each;
  the email's text part carries no markup and quotes what matched;
- run 2, nothing new: nothing alerted or sent again;
- run 3, nothing new in the feeds but the watchlist gained an actor and a rule on it: the old
  stories' mentions are recorded (by run 3), ONE "archive matches" email is sent, and no per-story
  alert is created; `rules test` finds on the published warehouse what the new rule would match;
- runs 4-5: a muted rule's alert waits (pending, not sent), and goes out once the rule is unmuted.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.cli.main import main
from flows.demo.sinks import SmtpSink
from tests.e2e import ingest
from tests.helpers_http import LocalServer, Reply
from tests.test_alerts_e2e import article_html, rss, story_words

pytestmark = pytest.mark.slow

RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"

# slug: (title, lead paragraph); every story is on topic (missile defense) and otherwise unique
STORIES = {
    "gk": (
        "Gerasimov visits Kaliningrad",
        "General Gerasimov inspected the missile defense units in Kaliningrad.",
    ),
    "gm": ("Gerasimov in Moscow", "General Gerasimov spoke in Moscow about missile defense budgets."),
    "ic": (
        "Interceptor test in Colorado",
        "An interceptor was tested in Colorado by the missile defense agency.",
    ),
    "ip": (
        "Interceptor test over the Pacific",
        "An interceptor flew over the Pacific in a missile defense test.",
    ),
    "rn": (
        "Space agency chief speaks",
        "Rogozin said on Tuesday that Romania will host missile defense radars.",
    ),
    "rf": (
        "Space agency budget",
        "Rogozin spoke about rockets and budgets and satellites and launches for an hour, and only "
        "afterwards did a minister say that Romania hosts missile defense radars.",
    ),
    "at": ("Aegis Ashore in Romania opens", "The site in Deveselu completes its missile defense upgrade."),
    "ax": ("A quiet week at the base", "Aegis crews at the missile defense site trained all week."),
}
LATE = {
    "gk2": (
        "Gerasimov returns to Kaliningrad",
        "Gerasimov visited Kaliningrad again; missile defense was the topic.",
    )
}
RULES = """
[[rules]]
name = "gerasimov-kaliningrad"
query = 'Gerasimov AND Kaliningrad'
channels = ["mail"]

[[rules]]
name = "interceptors"
query = 'interceptor AND NOT Colorado'
channels = ["mail"]

[[rules]]
name = "rogozin-romania"
query = 'Rogozin NEAR/5 Romania'
channels = ["mail"]

[[rules]]
name = "aegis-headlines"
query = 'title:Aegis'
channels = ["mail"]
"""
EXPECTED = {
    ("gerasimov-kaliningrad", "gk"),
    ("interceptors", "ip"),
    ("rogozin-romania", "rn"),
    ("aegis-headlines", "at"),
}


def write_config(path: Path, site: LocalServer, smtp_port: int, *, rogozin: bool = False) -> Path:
    actor = '\n[[watchlist.actors]]\nname = "Dmitry Rogozin"\naliases = ["Rogozin", "Рогозин"]\n'
    rule = '\n[[rules]]\nname = "rogozin"\nactors = ["Dmitry Rogozin"]\nchannels = ["mail"]\n'
    path.write_text(
        f"""
[warehouse]
path = "{path.parent / "newswatch.duckdb"}"

[fetch]
allow_private_hosts = true
retries = 0

[extract]
workers = 0

[[feeds]]
name = "wire"
url = "{site.url("/wire.xml")}"

[watchlist]
keywords = ["Kaliningrad"]

[[watchlist.actors]]
name = "Valery Gerasimov"
aliases = ["Gerasimov"]
{actor if rogozin else ""}
{RULES}
{rule if rogozin else ""}
[channels.mail]
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "none"
sender = "newswatch@example.test"
recipients = ["analysts@example.test"]
""",
        encoding="utf-8",
    )
    return path


def publish(site: LocalServer, stories: dict) -> None:
    for n, (slug, (title, lead)) in enumerate(stories.items()):
        words = [w for w in story_words(100 + n, 170) if w != "interceptor"][:150]  # only where the lead says
        paragraphs = [
            lead,
            " ".join(words[:50]) + ".",
            " ".join(words[50:100]) + ".",
            " ".join(words[100:]) + ".",
        ]
        site.routes[f"/{slug}.html"] = Reply(
            200, article_html(title, paragraphs, "Wire"), {"Content-Type": HTML}
        )
    items = [(title, site.url(f"/{slug}.html"), slug) for slug, (title, _) in stories.items()]
    site.routes["/wire.xml"] = Reply(200, rss(items), {"Content-Type": RSS})


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def slug_alerts(db: Path, where: str = "TRUE") -> set[tuple[str, str]]:
    rows = q(db, f"SELECT al.rule, a.url FROM alerts al JOIN articles a USING (article_id) WHERE {where}")
    return {(rule, url.rsplit("/", 1)[1].removesuffix(".html")) for rule, url in rows}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, prefect_harness, request):
    tmp = tmp_path_factory.mktemp("rules")
    db = tmp / "newswatch.duckdb"
    facts: dict = {"db": db}
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with LocalServer() as site, SmtpSink() as smtp:
        publish(site, STORIES)
        cfg = write_config(tmp / "newswatch.toml", site, smtp.port)
        facts["run1"] = ingest(cfg)
        facts["alerts1"] = slug_alerts(db)
        facts["alert_rows1"] = q(db, "SELECT count(*) FROM alerts")
        facts["mails1"] = list(smtp.messages)

        facts["run2"] = ingest(cfg)
        facts["mails2"] = len(smtp.messages)

        cfg = write_config(tmp / "newswatch.toml", site, smtp.port, rogozin=True)
        facts["run3"] = ingest(cfg)
        facts["mails3"] = list(smtp.messages)[len(facts["mails1"]) :]
        facts["story_alerts3"] = q(db, "SELECT count(*) FROM alerts WHERE kind = 'story'")
        if capman:
            capman.read_global_capture()
        facts["rules_test_exit"] = main(["rules", "test", "--rule", "rogozin", "--config", str(cfg)])
        facts["rules_test_out"] = capman.read_global_capture()[0] if capman else ""

        assert main(["rules", "mute", "gerasimov-kaliningrad", "--for", "2h", "--config", str(cfg)]) == 0
        publish(site, {**STORIES, **LATE})
        facts["run4"] = ingest(cfg)
        facts["pending4"] = q(db, "SELECT rule, status FROM alerts WHERE status = 'pending'")
        facts["mails4"] = len(smtp.messages)
        assert main(["rules", "unmute", "gerasimov-kaliningrad", "--config", str(cfg)]) == 0
        facts["run5"] = ingest(cfg)
        facts["mails5"] = list(smtp.messages)[facts["mails4"] :]
    return facts


def test_each_rule_fires_exactly_for_its_stories_once(runs):
    assert runs["run1"].counts["articles_stored"] == len(STORIES)
    assert runs["alerts1"] == EXPECTED
    assert runs["alert_rows1"] == [(len(EXPECTED),)]
    (mail,) = runs["mails1"]  # one digest for the channel
    text = mail.get_body(("plain",)).get_content()
    assert "**" not in text and "*" not in text
    for title in (
        "Gerasimov visits Kaliningrad",
        "Interceptor test over the Pacific",
        "Space agency chief speaks",
    ):
        assert title in text
    assert "Gerasimov in Moscow" not in text and "Interceptor test in Colorado" not in text
    assert "Rogozin, Romania: Rogozin said on Tuesday that Romania will host missile defense radars." in text
    assert "   In the title: Aegis" in text
    # a term found in the title is quoted from the text too, where it is
    assert "   In the title: Gerasimov, Kaliningrad" in text
    assert (
        "   Gerasimov, Kaliningrad: General Gerasimov inspected the missile defense units in Kaliningrad."
        in text
    )


def test_a_run_with_nothing_new_alerts_nothing(runs):
    c = runs["run2"].counts
    assert (c["articles_stored"], c["alerts_created"], c["alerts_sent"]) == (0, 0, 0)
    assert runs["mails2"] == 1


def test_a_watchlist_change_matches_the_archive_and_sends_one_archive_message(runs):
    db = runs["db"]
    run3 = runs["run3"]
    assert (run3.counts["articles_stored"], run3.counts["alerts_created"]) == (0, 0)
    # the old stories' new mentions (the seed corpus's too), found by run 3
    assert q(
        db,
        "SELECT m.run_id, count(*) FILTER (WHERE a.feed <> 'seed') FROM mentions m JOIN articles a USING (article_id)"
        " WHERE m.name = 'Dmitry Rogozin' GROUP BY 1",
    ) == [(run3.run_id, 2)]
    # no per-story alert for old news: the story alerts are those of run 1
    assert runs["story_alerts3"] == [(len(EXPECTED),)]
    assert q(db, "SELECT rule, kind, status FROM alerts WHERE kind = 'archive'") == [
        ("rogozin", "archive", "sent")
    ]
    assert q(db, "SELECT rule, count(*) FROM archive_matches GROUP BY 1") == [("rogozin", 2)]
    (mail,) = runs["mails3"]
    assert mail["Subject"] == "[newswatch] archive matches of new or changed rules: rogozin (2)"
    text = mail.get_body(("plain",)).get_content()
    assert "Rule rogozin: 2 stories stored before it was added or changed match it" in text
    assert "Space agency chief speaks" in text and "Space agency budget" in text


def test_rules_test_on_the_published_warehouse(runs):
    assert runs["rules_test_exit"] == 0
    out = runs["rules_test_out"]
    assert "2 stories of 8 first seen in the last 30d match rule rogozin" in out
    assert "Space agency chief speaks" in out and "Space agency budget" in out


def test_a_muted_rules_alert_waits_and_goes_out_after_unmute(runs):
    assert runs["run4"].counts["alerts_created"] == 1
    assert runs["pending4"] == [("gerasimov-kaliningrad", "pending")]
    assert runs["mails4"] == 2  # nothing sent while muted
    assert runs["run5"].counts["alerts_sent"] == 1
    (mail,) = runs["mails5"]
    assert mail["Subject"] == "[newswatch] gerasimov-kaliningrad: Gerasimov returns to Kaliningrad"
