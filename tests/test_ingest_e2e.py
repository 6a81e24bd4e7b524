"""The whole pipeline against the bundled replay site, twice, checked item by item against
flows/demo/site/expected.json (the site's own statement of what must come out of it)."""

from __future__ import annotations

import json

import duckdb
import pytest

from flows.demo.sinks import SlackSink, SmtpSink
from tests.conftest import DEMO_SITE
from tests.e2e import demo_config, ingest

pytestmark = pytest.mark.slow
EXPECTED = json.loads((DEMO_SITE / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, prefect_harness):
    """Run the pipeline twice on the demo site; keep what each run did and what the sinks received."""
    from flows.demo.replay import ReplayServer

    tmp = tmp_path_factory.mktemp("e2e")
    with SmtpSink() as smtp, SlackSink() as slack, ReplayServer(DEMO_SITE) as site:
        mp = pytest.MonkeyPatch()
        mp.setenv("NEWSWATCH_DEMO_SLACK_WEBHOOK", slack.url)
        try:
            cfg = demo_config(tmp, site, smtp.port)
            first = ingest(cfg)
            mails, posts = len(smtp.messages), len(slack.posts)
            requests_first = site.requests
            site.clear_requests()
            second = ingest(cfg)
            requests_second = site.requests
        finally:
            mp.undo()
        yield {
            "first": first,
            "second": second,
            "base": site.base_url,
            "db": tmp / "newswatch.duckdb",
            "smtp": list(smtp.messages),
            "slack": list(slack.posts),
            "mails_first": mails,
            "posts_first": posts,
            "requests_first": requests_first,
            "requests_second": requests_second,
        }


def q(db, sql, *params):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.mark.parametrize("item", EXPECTED["items"], ids=lambda i: f"{i['feed']}:{i['item_title'][:40]}")
def test_each_item_has_its_expected_outcome(two_runs, item):
    db, base = two_runs["db"], two_runs["base"]
    if item["outcome"] == "no_link":
        rows = q(
            db,
            "SELECT outcome, url FROM entries WHERE feed = ? AND title = ?",
            item["feed"],
            item["item_title"],
        )
        assert rows == [("no_link", None)]
        return
    url = base + item["canonical_path"]
    ((outcome, reason, article_id),) = q(
        db, "SELECT outcome, reason, article_id FROM entries WHERE feed = ? AND url = ?", item["feed"], url
    )
    assert outcome == item["outcome"], reason
    if outcome == "stored":
        ((source, feed),) = q(db, "SELECT text_source, feed FROM articles WHERE article_id = ?", article_id)
        assert (source, feed) == (item["text_source"], item["feed"])
        rules = {r for (r,) in q(db, "SELECT DISTINCT rule FROM alerts WHERE article_id = ?", article_id)}
        assert rules == set(item["rules_fired"])
        found = {(k, n) for k, n in q(db, "SELECT kind, name FROM mentions WHERE article_id = ?", article_id)}
        expected = {("actor", a) for a in item["mentions"]["actors"]} | {
            ("keyword", k) for k in item["mentions"]["keywords"]
        }
        assert expected <= found
    elif outcome == "copy":
        ((method, original_url),) = q(
            db,
            "SELECT d.method, a.url FROM duplicates d JOIN articles a ON a.article_id = d.duplicate_of "
            "WHERE d.feed = ? AND d.url = ?",
            item["feed"],
            url,
        )
        assert method == item["copy_method"]
        if item["copy_of_seed"]:
            assert original_url == f"seed://{item['copy_of_seed']}"
        else:
            original = next(
                i for i in EXPECTED["items"] if i["item_title"] == item["copy_of_item"]["item_title"]
            )
            assert original_url == base + original["canonical_path"]
        # a copy is not stored again as an article (so it can raise no alert of its own)
        assert q(db, "SELECT count(*) FROM articles WHERE url = ? AND feed = ?", url, item["feed"]) == [(0,)]


def test_totals_failed_feeds_and_seeds(two_runs):
    db = two_runs["db"]
    totals = EXPECTED["totals"]
    by_outcome = dict(q(db, "SELECT outcome, count(*) FROM entries WHERE feed <> 'seed' GROUP BY 1"))
    assert by_outcome == totals["by_outcome"]
    assert q(db, "SELECT count(*) FROM articles WHERE feed = 'seed'") == [(5,)]
    assert q(
        db, "SELECT count(*) FROM alerts a JOIN articles r USING (article_id) WHERE r.feed = 'seed'"
    ) == [(0,)]
    assert q(db, "SELECT count(*) FROM alerts") == [(totals["outbox_rows"],)]
    for f in EXPECTED["failed_feeds"]:
        ((outcome, status, streak, error),) = q(
            db,
            "SELECT last_outcome, last_status, error_streak, last_error FROM feeds WHERE name = ?",
            f["feed"],
        )
        assert outcome == "failed" and status == f["status"] and error
        assert streak == 2  # failed on both runs: recorded, counted, and the run went on
    first = two_runs["first"]
    assert first.status == "completed" and first.counts["feeds_failed"] == 2


def test_second_run_adds_nothing_and_fetches_no_page(two_runs):
    second = two_runs["second"].counts
    assert second["articles_stored"] == 0 and second["copies"] == 0 and second["entries_new"] == 0
    assert second["feeds_unchanged"] == 4  # every working feed answered 304
    pages = [r for r in two_runs["requests_second"] if not r[1].startswith("/feeds/")]
    assert pages == []
    feeds_304 = {r[1] for r in two_runs["requests_second"] if r[2] == 304}
    assert len(feeds_304) == 4
    db = two_runs["db"]
    assert q(db, "SELECT count(*) FROM runs WHERE status = 'completed'") == [(2,)]
    # the copy by URL was never fetched, not even in the first run
    fetched = [r[1] for r in two_runs["requests_first"] if "lavrov-redzikowo-response" in r[1]]
    assert len(fetched) == 1


def test_alerts_are_delivered_once_as_one_digest_per_channel(two_runs):
    db = two_runs["db"]
    assert q(db, "SELECT DISTINCT status FROM alerts") == [("sent",)]
    assert two_runs["mails_first"] == 1 and len(two_runs["smtp"]) == 1  # nothing sent again by run 2
    assert two_runs["posts_first"] == 1 and len(two_runs["slack"]) == 1
    mail = two_runs["smtp"][0]
    body = mail.get_body(("plain",)).get_content()
    stored_titles = [
        t
        for (t,) in q(
            db, "SELECT title FROM articles a JOIN alerts USING (article_id) WHERE channel = 'demo-email'"
        )
    ]
    assert stored_titles and all(t in body for t in stored_titles)


def test_each_run_publishes_a_summary_and_a_table_of_new_articles(two_runs):
    """Prefect artifacts on the flow runs, read back from the (test) Prefect API."""
    from prefect.client.orchestration import get_client

    def artifacts(key: str) -> list[dict]:
        # the REST filter itself: this Prefect client's read_artifacts sends its unset filters as
        # null (HTTP 422), and empty run filters exclude artifacts that belong to no task run
        body = {"artifacts": {"key": {"any_": [key]}}, "limit": 200, "offset": 0, "sort": "CREATED_DESC"}
        response = client.request("POST", "/artifacts/filter", json=body)
        response.raise_for_status()
        return response.json()

    with get_client(sync_client=True) as client:
        summaries, tables = artifacts("ingest-summary"), artifacts("new-articles")
    first_id = two_runs["first"].run_id
    summary = next(a for a in summaries if f"newswatch run {first_id}:" in a["data"])
    assert "| new articles | 7 |" in summary["data"] and "failed: **broken**" in summary["data"]
    assert summary["flow_run_id"], "the summary is shown on its flow run"
    titles = {
        row["title"]
        for t in tables
        for row in (t["data"] if isinstance(t["data"], list) else json.loads(t["data"]))
    }
    assert {a["title"] for a in two_runs["first"].new_articles} <= titles
