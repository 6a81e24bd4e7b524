"""Build a small, realistic warehouse file for tests, through the Warehouse's own write methods.

`build_sample_warehouse(path, days)` writes `days` days of stories from three healthy feeds, one
failing feed and one disabled (410) feed, copies of a wire story and of a seed document, mentions,
alerts (sent and pending) and two runs; it returns the facts a test can check a report or an export
against. One story is hostile: markup in its title and a javascript: URL.

Runs are stamped by `Warehouse.start_run` with the real current time; everything else is dated
relative to `now` (stories published `age` days + 3 hours before it and first seen 30 minutes later,
so period boundaries such as "7d" never fall close to a story).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from warehouse.store import LedgerRow, Warehouse

FEEDS = {
    "wire": "https://wire.example/rss.xml",
    "defense": "https://defense.example/atom.xml",
    "courier": "https://courier.example/feed",
    "vestnik": "https://vestnik.example/rss",  # fails: three runs in a row
    "gone": "https://gone.example/rss",  # answered 410: disabled
}
ACTORS = ("Sergei Lavrov", "Missile Defense Agency", "Valery Gerasimov", "Dmitry Rogozin")
KEYWORDS = ("THAAD", "Iskander", "SM-3")
HOSTILE_TITLE = '<script>alert("x")</script> Interceptor <img src=x onerror=alert(1)> & "more"'
HOSTILE_URL = "javascript:alert(document.cookie)"
HOSTILE_ERROR = '<b onmouseover="alert(2)">HTTP 500</b> server error'
ALERT_CHANNEL = "analysts-email"
ALERT_RULE = "russian-military"
# Stories per day and feed: wire 2, defense 1, courier 1 on even days.
PER_DAY = {"wire": lambda age: 2, "defense": lambda age: 1, "courier": lambda age: 1 if age % 2 == 0 else 0}


def _article_row(
    aid: int, feed: str, url: str, title: str, published, first_seen, run_id: int, text: str | None = None
) -> dict:
    text = text or f"{title}. " + "Missile defense interceptors were discussed at length. " * 20
    return {
        "article_id": aid,
        "url": url,
        "title": title,
        "published_at": published,
        "feed": feed,
        "lang": "en",
        "author": None,
        "text": text,
        "text_source": "seed" if feed == "seed" else "page",
        "text_hash": f"hash-{aid}",
        "word_count": len(text.split()),
        "guid": None,
        "first_seen": first_seen,
        "run_id": run_id,
    }


def build_sample_warehouse(path: Path, days: int = 10, now: datetime | None = None) -> dict:
    """Write a sample warehouse at `path` (published, as a run leaves it) and return its facts:

    now, feeds, failing_feed, disabled_feed, actors, keywords, hostile_title, hostile_url,
    stories (one dict per non-seed article: article_id, title, url, feed, published_at, first_seen,
    actors, keywords), seeds (titles), copies (one dict per copy: original, original_title, feed,
    seen_at), alerts (one dict per alert: rule, article_id, created_at, status), runs, row_counts
    (rows per table), items_7d (ledger entries per feed first seen in the last 7 days).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    facts: dict = {
        "now": now,
        "feeds": sorted(FEEDS),
        "failing_feed": "vestnik",
        "disabled_feed": "gone",
        "actors": ACTORS,
        "keywords": KEYWORDS,
        "hostile_title": HOSTILE_TITLE,
        "hostile_url": HOSTILE_URL,
        "hostile_error": HOSTILE_ERROR,
        "stories": [],
        "seeds": [],
        "copies": [],
        "alerts": [],
    }
    with Warehouse.open(path) as wh:
        old_run, new_run = wh.start_run(), wh.start_run()
        wh.sync_feeds((name, url, True) for name, url in FEEDS.items())

        # seeds: the baseline corpus, stored on the first run
        seed_titles = ["Seed: Aegis Ashore site in Romania", "Seed: Kaliningrad and the Iskander question"]
        seed_ids = wh.reserve_article_ids(len(seed_titles))
        seed_seen = now - timedelta(days=days + 1)
        wh.insert_articles(
            [
                _article_row(aid, "seed", f"seed://{i:03d}", t, None, seed_seen, old_run)
                for i, (aid, t) in enumerate(zip(seed_ids, seed_titles, strict=True))
            ],
            [(1000 + aid, aid) for aid in seed_ids],
        )
        facts["seeds"] = seed_titles

        # stories, newest first: `age` days (+3 h) before now
        plan = []
        for age in range(days):
            for feed, per_day in PER_DAY.items():
                for k in range(per_day(age)):
                    plan.append((age, feed, k))
        ids = wh.reserve_article_ids(len(plan))
        rows, mentions, ledger_by_time = [], [], {}
        for i, ((age, feed, k), aid) in enumerate(zip(plan, ids, strict=True)):
            published = now - timedelta(days=age, hours=3)
            first_seen = published + timedelta(minutes=30)
            title = f"{feed} day {age} story {k}: interceptor test over the Baltic"
            url = f"https://{feed}.example/news/{age}/{k}"
            if (age, feed, k) == (1, "wire", 1):
                title, url = HOSTILE_TITLE, HOSTILE_URL
            run_id = new_run if age == 0 else old_run
            actors = sorted({ACTORS[i % len(ACTORS)]} | ({"NATO"} if i % 3 == 0 else set()))
            keywords = [KEYWORDS[(i // 2) % len(KEYWORDS)]] if i % 2 == 0 else []
            rows.append(_article_row(aid, feed, url, title, published, first_seen, run_id))
            for kind, names in (("actor", actors), ("keyword", keywords)):
                for name in names:
                    alias = name.split()[-1]
                    mentions.append(
                        {
                            "article_id": aid,
                            "kind": kind,
                            "name": name,
                            "alias": alias,
                            "count": 1 + i % 2,
                            "snippet": f"... {alias} said the interceptor test ...",
                        }
                    )
            ledger_by_time.setdefault((first_seen, run_id), []).append(
                LedgerRow(feed, url, url, None, title, "stored", "text from page", aid)
            )
            facts["stories"].append(
                {
                    "article_id": aid,
                    "title": title,
                    "url": url,
                    "feed": feed,
                    "published_at": published,
                    "first_seen": first_seen,
                    "actors": actors,
                    "keywords": keywords,
                }
            )
        wh.insert_articles(rows, [(aid, aid) for aid in ids])
        wh.insert_mentions(mentions)

        # copies: a wire story republished four times (twice by defense), a seed twice, a defense story once
        by_url = {s["url"]: s for s in facts["stories"]}
        top = by_url["https://wire.example/news/1/0"]  # day 1, next to the hostile story
        second = next(
            s for s in facts["stories"] if s["feed"] == "defense" and s["published_at"] < top["published_at"]
        )
        copy_plan = [
            (top, "defense", 1),
            (top, "defense", 2),
            (top, "courier", 3),
            (top, "vestnik", 4),
            (second, "wire", 5),
            ({"article_id": seed_ids[0], "title": seed_titles[0]}, "wire", 6),
            ({"article_id": seed_ids[0], "title": seed_titles[0]}, "courier", 7),
        ]
        if days > 8:  # one copy seen long ago: outside a 7-day report
            old = next(s for s in facts["stories"] if s["published_at"] < now - timedelta(days=8))
            copy_plan.append((old, "defense", 8))
        dup_rows = []
        for original, feed, n in copy_plan:
            seen = now - timedelta(hours=n) if n < 8 else now - timedelta(days=days - 0.5)
            url = f"https://{feed}.example/copy/{n}"
            dup_rows.append(
                {
                    "url": url,
                    "feed": feed,
                    "title": f"Copy {n} of {original['title'][:40]}",
                    "seen_at": seen,
                    "duplicate_of": original["article_id"],
                    "method": "near" if n % 2 else "exact",
                    "similarity": 0.9,
                    "run_id": old_run,
                }
            )
            ledger_by_time.setdefault((seen, old_run), []).append(
                LedgerRow(
                    feed, url, url, None, dup_rows[-1]["title"], "copy", "near copy", original["article_id"]
                )
            )
            facts["copies"].append(
                {
                    "original": original["article_id"],
                    "original_title": original["title"],
                    "feed": feed,
                    "seen_at": seen,
                }
            )
        wh.insert_duplicates(dup_rows)

        # rejected entries are in the ledger too: one off-topic item a day from courier
        for age in range(days):
            seen = now - timedelta(days=age, hours=2)
            url = f"https://courier.example/sport/{age}"
            ledger_by_time.setdefault((seen, old_run), []).append(
                LedgerRow("courier", url, url, None, f"Marathon {age}", "off_topic", "no topic term")
            )
        entries = 0
        for (seen, run_id), ledger in ledger_by_time.items():
            wh.write_ledger(ledger, run_id, seen)
            entries += len(ledger)

        # alerts: every Lavrov story on the email channel, plus one operational alert
        alert_rows = [
            {
                "rule": ALERT_RULE,
                "article_id": s["article_id"],
                "channel": ALERT_CHANNEL,
                "created_at": s["first_seen"],
                "subject": None,
            }
            for s in facts["stories"]
            if "Sergei Lavrov" in s["actors"]
        ]
        alert_rows.append(
            {
                "rule": "feed-health",
                "article_id": None,
                "channel": ALERT_CHANNEL,
                "created_at": now - timedelta(hours=1),
                "subject": "feed vestnik has failed 3 runs in a row",
            }
        )
        wh.insert_alerts(alert_rows)
        pending = wh.pending_alerts()
        sent_ids = {r["alert_id"] for r in pending[::2]}  # every other alert was delivered
        wh.mark_alerts([(r["alert_id"], True, None) for r in pending if r["alert_id"] in sent_ids])
        created = {(r["rule"], r["article_id"]): r["created_at"] for r in alert_rows}
        facts["alerts"] = [
            {
                "rule": r["rule"],
                "article_id": r["article_id"],
                "created_at": created[(r["rule"], r["article_id"])],
                "status": "sent" if r["alert_id"] in sent_ids else "pending",
            }
            for r in pending
        ]

        # feed polls: three healthy, one failing three runs in a row, one gone
        def poll(name, outcome, status, error=None, disable=False, at=now - timedelta(hours=1)):
            return {
                "name": name,
                "outcome": outcome,
                "status": status,
                "etag": None,
                "last_modified": None,
                "error": error,
                "items": 0 if outcome == "failed" else 10,
                "next_poll_at": None,
                "disable": disable,
                "polled_at": at,
            }

        wh.record_polls(
            [
                poll("wire", "ok", 200),
                poll("defense", "ok", 200),
                poll("courier", "not_modified", 304),
                poll("vestnik", "ok", 200, at=now - timedelta(days=2)),
            ]
        )
        for h in (3, 2, 1):
            wh.record_polls([poll("vestnik", "failed", 500, HOSTILE_ERROR, at=now - timedelta(hours=h))])
        wh.record_polls(
            [poll("gone", "failed", 410, "410 Gone: feed disabled until re-enabled", disable=True)]
        )

        wh.finish_run(
            old_run,
            "completed",
            {
                "feeds_due": 5,
                "feeds_polled": 4,
                "articles_stored": len(ids) - 4,
                "copies": len(dup_rows),
                "feeds_failed": 1,
            },
        )
        wh.finish_run(
            new_run,
            "completed",
            {
                "feeds_due": 5,
                "feeds_polled": 3,
                "articles_stored": 4,
                "feeds_failed": 2,
                "note": "<i>hostile note</i>",
            },
        )
    facts["runs"] = 2
    facts["row_counts"] = {
        "articles": len(seed_ids) + len(ids),
        "duplicates": len(dup_rows),
        "entries": entries,
        "feeds": len(FEEDS),
        "runs": 2,
        "mentions": len(mentions),
        "alerts": len(alert_rows),
        "gaps": 0,
        "article_revisions": 0,
    }
    week_ago = datetime.now(UTC) - timedelta(days=7)
    facts["items_7d"] = {
        feed: sum(
            1
            for (seen, _), rows in ledger_by_time.items()
            for r in rows
            if r.feed == feed and seen >= week_ago
        )
        for feed in FEEDS
    }
    return facts


def stories_in(facts: dict, since: timedelta) -> list[dict]:
    """The sample's non-seed stories first seen within `since` before its `now`."""
    return [s for s in facts["stories"] if s["first_seen"] >= facts["now"] - since]


def copies_in(facts: dict, since: timedelta) -> dict[str, list[str]]:
    """original title -> the feeds of its copies seen within `since` (one entry per copy)."""
    out: dict[str, list[str]] = {}
    for c in facts["copies"]:
        if c["seen_at"] >= facts["now"] - since:
            out.setdefault(c["original_title"], []).append(c["feed"])
    return out


# ---- a long record: years of stories, for reports over long periods -----------------------------

DECADE_FEEDS = {"wire": 3, "defense": 2, "courier": 2, "mirror-a": 1, "mirror-b": 1}  # stories a day
TWINS = ("Twin Alpha", "Twin Beta")  # two actors always mentioned together: their lines coincide
BACKLOG = 60  # stories first seen in the last day but published in 2011-2013 (a feed's backlog)


def build_decade_warehouse(path: Path, years: int = 10, now: datetime | None = None) -> dict:
    """`years` of stories (nine a day, ~33,000 in ten years) with mentions, a few copies and a
    backlog of old stories first seen in the last day, written in a few bulk inserts. Returns now,
    first_seen (the earliest), stories (count), per_feed (counts), backlog and twins."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    days = years * 365
    rows, mentions = [], []
    with Warehouse.open(path) as wh:
        run_id = wh.start_run()
        wh.sync_feeds((name, f"https://{name}.example/rss", True) for name in DECADE_FEEDS)
        plan = [(age, feed, k) for age in range(days) for feed, n in DECADE_FEEDS.items() for k in range(n)]
        ids = wh.reserve_article_ids(len(plan) + BACKLOG)
        for i, ((age, feed, k), aid) in enumerate(zip(plan, ids, strict=False)):
            first_seen = now - timedelta(days=age, hours=2, minutes=k)
            rows.append(
                _long_row(aid, feed, f"{feed} {age} {k}", first_seen - timedelta(hours=3), first_seen, run_id)
            )
            mentions.append(_mention(aid, "actor", ACTORS[i % len(ACTORS)]))
            if i % 5 == 0:
                mentions += [_mention(aid, "actor", twin) for twin in TWINS]
            if i % 2 == 0:
                mentions.append(_mention(aid, "keyword", KEYWORDS[i % len(KEYWORDS)]))
        for j, aid in enumerate(ids[len(plan) :]):
            published = datetime(2011, 1, 1, tzinfo=UTC) + timedelta(days=j * 1095 // BACKLOG)
            rows.append(_long_row(aid, "wire", f"backlog {j}", published, now - timedelta(hours=1), run_id))
        wh.insert_articles(rows, [])
        wh.insert_mentions(mentions)
        wh.insert_duplicates(
            [
                {
                    "url": f"https://defense.example/copy/{n}",
                    "feed": "defense",
                    "title": f"copy {n}",
                    "seen_at": now - timedelta(days=n * 300),
                    "duplicate_of": ids[n * 2700],
                    "method": "near",
                    "similarity": 0.9,
                    "run_id": run_id,
                }
                for n in range(12)
            ]
        )
        wh.finish_run(run_id, "completed", {"feeds_due": 5, "feeds_polled": 5, "articles_stored": len(rows)})
    per_feed = {feed: n * days for feed, n in DECADE_FEEDS.items()}
    per_feed["wire"] += BACKLOG
    return {
        "now": now,
        "first_seen": min(r["first_seen"] for r in rows),
        "stories": len(rows),
        "per_feed": per_feed,
        "backlog": BACKLOG,
        "twins": TWINS,
    }


def _long_row(aid: int, feed: str, title: str, published, first_seen, run_id: int) -> dict:
    url, text = f"https://{feed}.example/{aid}", f"{title}: missile defense interceptors were discussed."
    return _article_row(aid, feed, url, title, published, first_seen, run_id, text)


def _mention(aid: int, kind: str, name: str) -> dict:
    return {"article_id": aid, "kind": kind, "name": name, "alias": name, "count": 1, "snippet": name}
