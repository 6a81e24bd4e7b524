"""Rules against a real DuckDB file: the migration, mutes, the matcher state, retro-matching with
its archive-matches message, the outbox rows a message is made of, and the read-only preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from alerts.config import Actor, Rule, Watchlist
from alerts.matching import RuleMatcher
from alerts.outbox import alert_from_row, matched_rows
from alerts.preview import preview, render_preview
from alerts.render import render_console, subject_for
from alerts.retro import mention_rows, retro_match
from warehouse.migrations import MIGRATIONS
from warehouse.readonly import connect
from warehouse.rules_state import RulesStore, stored_stories
from warehouse.store import Warehouse, apply_migrations

NOW = datetime.now(UTC).replace(microsecond=0)
GERASIMOV = Actor("Valery Gerasimov", ("Gerasimov", "Герасимов"))
ROGOZIN = Actor("Dmitry Rogozin", ("Rogozin", "Рогозин"))
WATCHLIST = Watchlist(actors=(GERASIMOV,), keywords=("Kaliningrad",))
RUSSIA = Rule("russia", actors=("Valery Gerasimov",), channels=("mail",))

STORIES = {
    # article_id: (title, text, feed, days before now)
    1: (
        "Gerasimov visits Kaliningrad",
        "The general arrived on Monday.\n\nKaliningrad was quiet.",
        "wire",
        9,
    ),
    2: ("Space agency news", "Rogozin said on Tuesday that Romania had agreed.", "defense", 8),
    3: (
        "Weather",
        "Rain in Kaliningrad and a talk by Rogozin far, far away from any talk of Romania.",
        "wire",
        7,
    ),
    4: ("Seed: Rogozin in Romania", "Rogozin met officials in Romania.", "seed", 30),
}


def _row(aid: int, title: str, text: str, feed: str, age_days: float, run_id: int) -> dict:
    seen = NOW - timedelta(days=age_days)
    return {
        "article_id": aid,
        "url": f"https://{feed}.example/{aid}" if feed != "seed" else f"seed://{aid}",
        "title": title,
        "published_at": seen - timedelta(hours=1),
        "feed": feed,
        "lang": "en",
        "author": None,
        "text": text,
        "text_source": "seed" if feed == "seed" else "page",
        "text_hash": f"h{aid}",
        "word_count": len(text.split()),
        "guid": None,
        "first_seen": seen,
        "run_id": run_id,
    }


@pytest.fixture
def db(tmp_path):
    """A published warehouse whose first run stored STORIES and alerted `russia` for story 1."""
    path = tmp_path / "newswatch.duckdb"
    with Warehouse.open(path) as wh:
        run = wh.start_run()
        wh.insert_articles([_row(aid, *story, run) for aid, story in STORIES.items()], [])
        wh.insert_alerts(
            [{"rule": "russia", "article_id": 1, "channel": "mail", "created_at": NOW, "subject": None}]
        )
        wh.finish_run(run, "completed", {})
    return path


def _retro(path, watchlist, rules, **kwargs):
    with Warehouse.open(path) as wh:
        run = wh.start_run()
        result = retro_match(RulesStore(wh), RuleMatcher(watchlist, rules), run, **kwargs)
        wh.finish_run(run, "completed", {})
    return run, result


def _rows(path, sql, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_a_warehouse_of_an_earlier_release_is_upgraded(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, MIGRATIONS[:3])
    con.execute(
        "INSERT INTO articles VALUES (7, 'https://a.example/x', 'T', NULL, 'wire', 'en', NULL, 'text', 'page',"
        " 'h7', 1, NULL, now(), 3)"
    )
    con.execute("INSERT INTO mentions VALUES (7, 'actor', 'Valery Gerasimov', 'Gerasimov', 1, 's')")
    con.execute("INSERT INTO alerts VALUES (1, 'russia', 7, 'mail', 'sent', 1, NULL, now(), now(), NULL)")
    con.execute(
        "INSERT INTO alerts VALUES (2, 'outage', NULL, 'mail', 'sent', 1, NULL, now(), now(), 'down')"
    )
    con.close()
    with Warehouse.open(path) as wh:
        # the mention was found by the run that stored its article; kinds are told apart
        assert wh.con.execute("SELECT run_id, first_offset FROM mentions").fetchall() == [(3, None)]
        assert wh.con.execute("SELECT alert_id, kind FROM alerts ORDER BY 1").fetchall() == [
            (1, "story"),
            (2, "operational"),
        ]
        for table in ("rule_mutes", "matcher_state", "archive_matches"):
            assert wh.con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]


def test_mutes_are_kept_in_the_warehouse(db):
    with Warehouse.open(db) as wh:
        store = RulesStore(wh)
        store.mute("russia", NOW + timedelta(hours=2))
        store.mute("expired", NOW - timedelta(minutes=1))
    with Warehouse.open(db) as wh:  # another process, later: the file remembers
        store = RulesStore(wh)
        assert store.mutes() == {"russia": NOW + timedelta(hours=2)}
        store.mute("russia", NOW + timedelta(hours=5))  # muting again moves the end
        assert store.mutes() == {"russia": NOW + timedelta(hours=5)}
        assert store.unmute("russia") is True
        assert store.unmute("russia") is False
        assert store.unmute("expired") is False  # its mute had run out
        assert store.mutes() == {}


def test_retro_matching_after_a_watchlist_and_rule_change(db):
    # the first run with a rule set matches the archive: `russia` finds only what it alerted already
    run1, first = _retro(db, WATCHLIST, (RUSSIA,))
    assert first.watchlist_changed and first.changed_rules == ("russia",)
    assert first.stories == 4 and first.archive == {} and first.archive_alerts == 0
    assert sorted(_rows(db, "SELECT article_id, name, run_id FROM mentions")) == [
        (1, "Kaliningrad", run1),
        (1, "Valery Gerasimov", run1),
        (3, "Kaliningrad", run1),
    ]
    # nothing changed: nothing is matched again
    _, again = _retro(db, WATCHLIST, (RUSSIA,))
    assert not again.ran and again.stories == 0

    # an analyst adds an actor and a rule on it: old stories get mentions and one archive message
    # per channel; the seed gets its mention but is no archive match; no story alert is created
    watchlist = Watchlist(actors=(GERASIMOV, ROGOZIN), keywords=("Kaliningrad",))
    near = Rule("rogozin-romania", query='actor:"Dmitry Rogozin" NEAR/5 Romania', channels=("mail", "slack"))
    run2, result = _retro(db, watchlist, (RUSSIA, near))
    # `russia` is unchanged: the actor it names kept its aliases
    assert result.watchlist_changed and result.changed_rules == ("rogozin-romania",)
    assert result.new_mentions == 3  # Rogozin in 2, 3 and the seed
    assert sorted(_rows(db, "SELECT article_id, run_id FROM mentions WHERE name = 'Dmitry Rogozin'")) == [
        (2, run2),
        (3, run2),
        (4, run2),
    ]
    assert result.archive == {"rogozin-romania": 1}
    assert _rows(db, "SELECT run_id, rule, article_id FROM archive_matches") == [(run2, "rogozin-romania", 2)]
    assert sorted(
        _rows(db, "SELECT rule, channel, kind, article_id, run_id FROM alerts WHERE kind <> 'story'")
    ) == [
        ("rogozin-romania", "mail", "archive", None, run2),
        ("rogozin-romania", "slack", "archive", None, run2),
    ]
    assert _rows(db, "SELECT count(*) FROM alerts WHERE kind = 'story'") == [(1,)]  # the old one

    # the message the archive rows make
    with Warehouse.open(db) as wh:
        rows = [r for r in wh.pending_alerts() if r["channel"] == "mail" and r["kind"] == "archive"]
    (alert,) = [alert_from_row(r) for r in rows]
    assert alert.archive is not None and alert.archive.count == 1
    assert [s.title for s in alert.archive.stories] == ["Space agency news"]
    text = render_console([alert])
    assert "Rule rogozin-romania: 1 story stored before it was added or changed match it" in text
    assert "Space agency news (defense," in text and "https://defense.example/2" in text
    assert subject_for([alert]) == "[newswatch] archive matches of new or changed rules: rogozin-romania (1)"


def test_retro_leaves_out_the_runs_own_stories_and_can_stay_quiet(db):
    _retro(db, WATCHLIST, (RUSSIA,))
    with Warehouse.open(db) as wh:
        run = wh.start_run()
        wh.insert_articles(
            [_row(5, "Rogozin in Romania today", "Rogozin flew to Romania.", "wire", 0, run)], []
        )
        near = Rule("rogozin-romania", query="Rogozin NEAR/5 Romania", channels=("mail",))
        result = retro_match(RulesStore(wh), RuleMatcher(WATCHLIST, (RUSSIA, near)), run, notify=False)
        wh.finish_run(run, "completed", {})
    # story 5 was stored by this run (it gets a live alert, if any), story 3 is too far apart
    assert result.changed_rules == ("rogozin-romania",) and not result.watchlist_changed
    assert result.archive == {"rogozin-romania": 1}
    assert _rows(db, "SELECT article_id FROM archive_matches") == [(2,)]
    assert _rows(db, "SELECT count(*) FROM alerts WHERE kind = 'archive'") == [(0,)]  # retro_digest = false


def test_retro_matching_in_worker_processes_finds_the_same(tmp_path):
    """An archive larger than a batch is matched by worker processes; the outcome is the same."""
    outcomes = []
    for workers in (0, 2):
        path = tmp_path / f"w{workers}.duckdb"
        with Warehouse.open(path) as wh:
            run = wh.start_run()
            rows = [
                _row(
                    aid,
                    f"Story {aid}",
                    f"Rogozin {'said ' * (aid % 7)}Romania. Gerasimov too.",
                    "wire",
                    1,
                    run,
                )
                for aid in range(1, 41)
            ]
            wh.insert_articles(rows, [])
        near = Rule("near", query="Rogozin NEAR/3 Romania", channels=("mail",))
        _, result = _retro(path, WATCHLIST, (RUSSIA, near), batch_size=7, workers=workers)
        outcomes.append(
            (
                result.stories,
                result.new_mentions,
                result.archive,
                _rows(path, "SELECT article_id FROM archive_matches ORDER BY 1"),
            )
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][2] == {"near": 40 - 40 // 7 * 3 - 2, "russia": 40}  # aid % 7 in 0..3 are near


def test_the_matcher_state_forgets_removed_rules(db):
    _retro(db, WATCHLIST, (RUSSIA, Rule("other", keywords=("Kaliningrad",), channels=("mail",))))
    assert {n for (n,) in _rows(db, "SELECT name FROM matcher_state")} == {
        "watchlist",
        "rule:russia",
        "rule:other",
    }
    _, result = _retro(db, WATCHLIST, (RUSSIA,))
    assert not result.ran  # removing a rule needs no matching
    assert {n for (n,) in _rows(db, "SELECT name FROM matcher_state")} == {"watchlist", "rule:russia"}


def test_outbox_rows_keep_what_the_rule_matched_and_the_mentions_in_document_order(db):
    matcher = RuleMatcher(
        WATCHLIST, (Rule("q", query="Kaliningrad AND title:Gerasimov", channels=("mail",)),)
    )
    title, text = STORIES[1][0], STORIES[1][1]
    found = matcher.match(title, text, "wire", "en")
    with Warehouse.open(db) as wh:
        wh.insert_mentions(mention_rows(1, found.mentions))
        wh.insert_alerts(
            [
                {
                    "rule": "q",
                    "article_id": 1,
                    "channel": "mail",
                    "created_at": NOW,
                    "subject": None,
                    "matched": matched_rows(found.fired[0].matches),
                }
            ]
        )
        (row,) = [r for r in wh.pending_alerts() if r["rule"] == "q"]
    # the mentions come back as the story has them (the actor first), not by kind and name
    assert [m["name"] for m in row["mentions"]] == ["Valery Gerasimov", "Kaliningrad"]
    assert _rows(db, "SELECT DISTINCT run_id FROM mentions") == [(1,)]  # the article's run
    alert = alert_from_row(row)
    assert alert.story.matched == found.fired[0].matches
    text_part = render_console([alert])
    assert "   In the title: Gerasimov, Kaliningrad" in text_part
    # found in the title first, a term is also quoted where the text has it (title:Gerasimov cannot be)
    assert "   Kaliningrad: Kaliningrad was quiet." in text_part
    assert "Gerasimov:" not in text_part


def test_the_preview_reads_the_published_warehouse(db):
    con = connect(db)  # read-only, as `newswatch rules test` opens it
    try:
        stories = list(stored_stories(con, newest_first=True, batch_size=2))
        assert [s.article_id for batch in stories for s in batch] == [3, 2, 1]  # no seed, newest first
        since = NOW - timedelta(days=8, hours=12)
        matcher = RuleMatcher(WATCHLIST, (Rule("(query)", query="Kaliningrad OR Rogozin"),))
        result = preview(matcher, "(query)", stored_stories(con, since=since, newest_first=True), limit=1)
    finally:
        con.close()
    assert (result.searched, result.matched) == (2, 2)
    assert [hit.story.article_id for hit in result.hits] == [3]
    text = render_preview(result, "Kaliningrad OR Rogozin", "in the last 8d12h")
    assert (
        text.splitlines()[0]
        == "2 stories of 2 first seen in the last 8d12h match Kaliningrad OR Rogozin (newest 1 shown)"
    )
    assert "  wire  Weather" in text
    assert "   Kaliningrad, Rogozin: Rain in Kaliningrad and a talk by Rogozin" in text
    assert "*" not in text
