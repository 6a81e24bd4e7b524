"""Revisions end to end: stored stories are fetched again with conditional GETs (a real local site
that answers If-None-Match with 304), a story edited to name a tracked actor becomes a revision (the
old text kept, the new one matched) and alerts once to a real local Slack endpoint, marked as an
update; a story whose only change is its "Updated" time is not a revision; an unchanged page costs a
304; a third run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.demo.sinks import SlackSink
from tests.e2e import ingest
from tests.news_site import NewsSite

pytestmark = pytest.mark.slow

ADDED = "General Valery Gerasimov said the new battery would be moved closer to the border next spring."


def write_config(path: Path, feed_url: str) -> Path:
    path.write_text(
        f"""
[warehouse]
path = "{path.parent / "newswatch.duckdb"}"

[fetch]
allow_private_hosts = true
retries = 0

[extract]
workers = 1                  # rechecked pages are extracted on the worker pool, as in production

[revisions]
recheck_minutes = 0          # every run rechecks what earlier runs stored

[watchlist]
keywords = ["interceptor"]

[[watchlist.actors]]
name = "Valery Gerasimov"
aliases = ["Gerasimov"]

[[rules]]
name = "russian-military"
actors = ["Valery Gerasimov"]
channels = ["chat"]

[channels.chat]
type = "slack"
webhook_url_env = "NEWSWATCH_TEST_SLACK_WEBHOOK"

[[feeds]]
name = "site"
url = "{feed_url}"
""",
        encoding="utf-8",
    )
    return path


def q(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, prefect_harness):
    tmp = tmp_path_factory.mktemp("revisions")
    now = datetime.now(UTC).replace(microsecond=0)
    site = NewsSite(paging=None, sitemap=False)
    mp = pytest.MonkeyPatch()
    with site, SlackSink() as slack:
        mp.setenv("NEWSWATCH_TEST_SLACK_WEBHOOK", slack.url)
        try:
            edited, touched, same = site.publish(
                3, start=now - timedelta(hours=3), step=timedelta(minutes=30)
            )
            cfg = write_config(tmp / "newswatch.toml", site.feed_url)
            db = tmp / "newswatch.duckdb"
            ingest(cfg)
            original = edited.text
            edited.text += "\n\n" + ADDED
            touched.text = "Updated 6 May 10:32.\n\n" + touched.text  # only a time: no revision
            second = ingest(cfg)
            posts_second = len(slack.posts)
            checks_second = dict(q(db, "SELECT article_id, last_status FROM article_checks"))
            third = ingest(cfg)
            checks_third = dict(q(db, "SELECT article_id, last_status FROM article_checks"))
            sent = {
                s.number: [h.headers.get("if-none-match") for h in site.server.hits(s.path)]
                for s in (edited, touched, same)
            }
        finally:
            mp.undo()
        posts = list(slack.posts)
    ids = dict(q(db, "SELECT url, article_id FROM articles"))
    return {
        "db": db,
        "ids": {s.number: ids[site.url(s.path)] for s in (edited, touched, same)},
        "stories": (edited, touched, same),
        "original": original,
        "second": second,
        "third": third,
        "posts": posts,
        "posts_second": posts_second,
        "checks_second": checks_second,
        "checks_third": checks_third,
        "sent": sent,
    }


def test_an_edited_story_becomes_a_revision_with_its_old_text_kept(runs):
    db, aid = runs["db"], runs["ids"][1]
    ((old, added, removed, change, run_id),) = q(
        db, "SELECT text, words_added, words_removed, change, run_id FROM article_revisions"
    )
    assert old == runs["original"] and removed == 0 and added >= 10
    assert "Gerasimov" in change and run_id == runs["second"].run_id
    ((text,),) = q(db, "SELECT text FROM articles WHERE article_id = ?", aid)
    assert ADDED in text
    assert runs["second"].counts["revisions"] == 1 and runs["third"].counts["revisions"] == 0
    # the new text is what copy detection sees: its band keys were replaced
    ((bands,),) = q(db, "SELECT count(*) FROM article_bands WHERE article_id = ?", aid)
    assert bands > 0


def test_the_revision_is_matched_and_alerts_once_as_an_update(runs):
    db, aid = runs["db"], runs["ids"][1]
    assert ("actor", "Valery Gerasimov") in q(db, "SELECT kind, name FROM mentions WHERE article_id = ?", aid)
    assert q(db, "SELECT rule, subject, status FROM alerts") == [
        ("russian-military", "update: now mentions Valery Gerasimov", "sent")
    ]
    assert runs["posts_second"] == 1 and len(runs["posts"]) == 1  # once: the third run sends nothing
    post = str(runs["posts"][0])
    assert "update: now mentions Valery Gerasimov" in post and runs["stories"][0].title in post


def test_a_changed_time_is_no_revision_and_an_unchanged_page_costs_a_304(runs):
    ids, second, third = runs["ids"], runs["checks_second"], runs["checks_third"]
    assert (second[ids[1]], second[ids[2]], second[ids[3]]) == (200, 200, 304)
    assert (third[ids[1]], third[ids[2]], third[ids[3]]) == (304, 304, 304)  # new validators kept
    ((text,),) = q(runs["db"], "SELECT text FROM articles WHERE article_id = ?", ids[2])
    assert "Updated 6 May" not in text  # not material: the stored text stays as it was
    # fetched once to be stored, then one conditional GET per run with the validator last answered
    for sent in runs["sent"].values():
        assert len(sent) == 3 and sent[0] is None and sent[1] and sent[2]
    assert runs["sent"][3][1] == runs["sent"][3][2]  # unchanged: the same ETag each time
    assert runs["sent"][1][1] != runs["sent"][1][2]  # edited: the new page's ETag was kept
