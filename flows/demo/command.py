"""`newswatch demo`: the whole pipeline offline, twice, against the bundled replay site.

It serves flows/demo/site on 127.0.0.1, starts a local SMTP server and a local Slack endpoint,
ingests twice (the second run must show 304s and nothing new), then prints what was stored,
recognised as copies and skipped, what the alert channels received, and SQL to look further.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flows.demo.replay import ReplayServer
from flows.demo.setup import DEFAULT_DB, SITE, render_config, reset_warehouse
from flows.demo.sinks import SlackSink, SmtpSink

__all__ = ["DEFAULT_DB", "SITE", "render_config", "reset_warehouse", "run_demo"]


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def run_demo(args) -> int:
    if getattr(args, "serve", False):
        from flows.demo.serve import serve_demo

        return serve_demo(args)
    from flows.ingest.oneshot import prefect_api, run_ingest
    from flows.ingest.summary import print_run
    from flows.runtime.prefect_env import prefect_defaults
    from flows.settings import load_settings
    from warehouse.readonly import format_rows, query

    db = Path(args.db) if args.db else DEFAULT_DB
    reset_warehouse(db)
    prefect_defaults()
    # One Prefect API for both runs (the run's own server starts once).
    with SmtpSink() as smtp, SlackSink() as slack, ReplayServer(SITE) as site, prefect_api() as api:
        os.environ["NEWSWATCH_DEMO_SLACK_WEBHOOK"] = slack.url
        config = render_config(site.base_url, smtp.port, db.parent / "demo.toml")
        settings = load_settings(config)
        print(f"replay site {site.base_url}  ·  SMTP 127.0.0.1:{smtp.port}  ·  Slack endpoint {slack.url}")
        print(f"config {config}  ·  warehouse {db}")

        _section("run 1: first poll of every feed")
        first = run_ingest(settings, config, db, api=api)
        print_run(first)
        mails_after_first, posts_after_first = len(smtp.messages), len(slack.posts)

        site.clear_requests()
        _section("run 2: the same site again, nothing changed")
        second = run_ingest(settings, config, db, api=api)
        print_run(second)
        feed_requests = [r for r in site.requests if r[1].startswith("/feeds/")]
        page_requests = [r for r in site.requests if not r[1].startswith("/feeds/")]
        not_modified = sum(1 for r in feed_requests if r[2] == 304)
        print(
            f"  requests {len(feed_requests)} feed requests ({not_modified} answered 304), "
            f"{len(page_requests)} article pages fetched"
        )

    def show(title: str, sql: str) -> None:
        _section(title)
        cols, rows = query(db, sql)
        sys.stdout.write(format_rows(cols, rows, "table"))

    show(
        "stored articles",
        "SELECT article_id AS id, feed, text_source AS text_from, left(title, 60) AS title "
        "FROM articles ORDER BY article_id",
    )
    show(
        "recognised as copies",
        "SELECT d.feed, left(d.title, 40) AS title, d.method, round(d.similarity, 2) AS similarity, "
        "d.duplicate_of AS copy_of, left(a.title, 40) AS original "
        "FROM duplicates d JOIN articles a ON a.article_id = d.duplicate_of ORDER BY d.duplicate_id",
    )
    show(
        "skipped (the ledger says why)",
        "SELECT feed, outcome, left(coalesce(title, entry_key), 45) AS item, left(reason, 50) AS reason "
        "FROM entries WHERE outcome NOT IN ('stored', 'copy') ORDER BY feed, outcome",
    )
    show(
        "feed health",
        "SELECT name, last_outcome, last_status, error_streak, left(last_error, 60) AS last_error "
        "FROM feeds ORDER BY name",
    )
    show("alerts", "SELECT rule, channel, status, count(*) AS alerts FROM alerts GROUP BY ALL ORDER BY ALL")

    _section("what the alert channels received")
    print(
        f"email (SMTP 127.0.0.1:{smtp.port}): {len(smtp.messages)} message(s); "
        f"{len(smtp.messages) - mails_after_first} during run 2"
    )
    for m in smtp.messages:
        print(f"  Subject: {m['Subject']}")
    print(
        f"slack (local webhook): {len(slack.posts)} post(s); {len(slack.posts) - posts_after_first} during run 2"
    )
    for p in slack.posts:
        print(f"  {p.get('text', '')[:100]}")

    _section("look further")
    print(f"""  newswatch sql --db {db} "SELECT title, feed, published_at FROM articles ORDER BY first_seen DESC"
  newswatch sql --db {db} "SELECT * FROM stories WHERE copies > 0"
  newswatch sql --db {db} "SELECT feed, outcome, reason, url FROM entries WHERE outcome <> 'stored'"
  newswatch sql --db {db} "SELECT * FROM mentions_daily ORDER BY day DESC"
  newswatch feeds --db {db}
  duckdb -readonly {db}        (any DuckDB client works; the file is a published snapshot)""")
    ok = second.counts["articles_stored"] == 0 and not page_requests
    return 0 if ok else 1
