"""Pure stage functions of the flow, as tables: which feeds are due, how failing feeds back off,
what an outage is, what a poll writes to a feed's row, ledger keys, and configuration errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from extractors.records import FeedEntry, FeedPoll
from flows.ingest.feed_state import backoff_until, due_feeds, is_outage, poll_rows
from flows.ingest.intake import entry_key
from flows.settings import ConfigError, load_settings
from warehouse.store import FeedState

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BASE, CAP = 15.0, 24 * 60.0  # minutes: the schedule's interval and [health] backoff_max_minutes


def state(name: str = "f", *, enabled: bool = True, next_poll_at=None, streak: int = 0) -> FeedState:
    return FeedState(
        name=name,
        url=f"http://{name}.test/feed",
        enabled=enabled,
        etag=None,
        last_modified=None,
        error_streak=streak,
        next_poll_at=next_poll_at,
        alerted_streak=0,
    )


def poll(name: str = "f", outcome: str = "failed", status: int | None = None, **kw) -> FeedPoll:
    return FeedPoll(feed=name, url=f"http://{name}.test/feed", outcome=outcome, status=status, **kw)


# ---- due_feeds ----------------------------------------------------------------------------------

MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("feed", "force", "due"),
    [
        (state(), False, True),  # never polled
        (state(next_poll_at=NOW - MIN), False, True),  # its wait is over
        (state(next_poll_at=NOW), False, True),  # exactly now
        (state(next_poll_at=NOW + MIN), False, False),  # backing off
        (state(next_poll_at=NOW + MIN), True, True),  # --force polls a feed that backs off
        (state(enabled=False), False, False),  # disabled (410 or config)
        (state(enabled=False), True, False),  # --force does not poll a disabled feed
    ],
)
def test_due_feeds(feed, force, due):
    assert (due_feeds({feed.name: feed}, NOW, force) == [feed]) is due


# ---- backoff_until ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("streak", "retry_after", "wait_minutes"),
    [
        (1, None, None),  # one bad run is common: retried on the next run
        (2, None, None),
        (3, None, BASE),  # then the wait doubles
        (4, None, 2 * BASE),
        (5, None, 4 * BASE),
        (7, None, 16 * BASE),
        (9, None, 64 * BASE),  # 960 min
        (10, None, CAP),  # 1920 min would pass the cap of 24 h
        (200, None, CAP),
        (5000, None, CAP),  # a feed broken for ages must not overflow the arithmetic
        (1, 0.0, None),  # Retry-After: 0 asks for nothing
        (1, 3600.0, 60.0),  # Retry-After wins when later
        (5, 600.0, 4 * BASE),  # ... and not when earlier than the backoff
        (5, 7200.0, 120.0),
        (1, 10**9, CAP),  # an absurd Retry-After is capped too
    ],
)
def test_backoff_until(streak, retry_after, wait_minutes):
    got = backoff_until(streak, NOW, retry_after, BASE, CAP)
    assert got == (None if wait_minutes is None else NOW + timedelta(minutes=wait_minutes))


def test_backoff_doubles_up_to_the_cap():
    waits = [backoff_until(n, NOW, None, BASE, CAP) for n in range(3, 12)]
    minutes = [(w - NOW) / MIN for w in waits]
    assert minutes[:5] == [15, 30, 60, 120, 240]
    assert all(b == min(CAP, 2 * a) for a, b in zip(minutes, minutes[1:], strict=False))
    assert minutes[-1] == CAP


# ---- is_outage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("polls", "outage"),
    [
        ([], False),
        ([poll("a")], False),  # one feed cannot tell a dead network from a dead host
        ([poll("a"), poll("b")], True),  # every feed, no HTTP answer at all
        ([poll("a"), poll("b"), poll("c")], True),
        ([poll("a", status=500), poll("b", status=500)], False),  # servers answered: feeds are broken
        ([poll("a"), poll("b", status=503)], False),
        ([poll("a"), poll("b", "ok", 200)], False),
        ([poll("a"), poll("b", "not_modified", 304)], False),
    ],
)
def test_is_outage(polls, outage):
    assert is_outage(polls) is outage


# ---- poll_rows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "streak_before", "outage", "expected"),
    [
        (
            poll(outcome="ok", status=200, entries=(), etag='"e1"'),
            4,
            False,
            {"outcome": "ok", "next_poll_at": None, "disable": False, "etag": '"e1"', "error": None},
        ),
        (
            poll(outcome="not_modified", status=304),
            2,
            False,
            {"outcome": "not_modified", "next_poll_at": None, "disable": False},
        ),
        (  # the first failures are retried on the next run
            poll(status=500, error="HTTP 500"),
            0,
            False,
            {"outcome": "failed", "next_poll_at": None, "disable": False, "error": "HTTP 500"},
        ),
        (  # the third failure in a row backs off
            poll(status=500, error="HTTP 500"),
            2,
            False,
            {"outcome": "failed", "next_poll_at": NOW + timedelta(minutes=BASE), "disable": False},
        ),
        (
            poll(status=503, error="HTTP 503", retry_after=3600.0),
            0,
            False,
            {"outcome": "failed", "next_poll_at": NOW + timedelta(hours=1)},
        ),
        (
            poll(status=410, error="HTTP 410"),
            0,
            False,
            {"outcome": "failed", "disable": True, "error": "410 Gone: feed disabled until re-enabled"},
        ),
        (  # an outage is nobody's fault: recorded as such, no backoff
            poll(error="Connection refused"),
            5,
            True,
            {"outcome": "outage", "next_poll_at": None, "disable": False},
        ),
    ],
)
def test_poll_rows(p, streak_before, outage, expected):
    (row,) = poll_rows(
        [p], {"f": state(streak=streak_before)}, NOW, outage=outage, base_minutes=BASE, max_minutes=CAP
    )
    assert {k: row[k] for k in expected} == expected
    assert row["name"] == "f" and row["polled_at"] == NOW and row["status"] == p.status


def test_poll_rows_counts_items():
    entries = tuple(entry(url=f"http://f.test/{i}", title=str(i)) for i in range(3))
    (row,) = poll_rows(
        [poll(outcome="ok", status=200, entries=entries)],
        {"f": state()},
        NOW,
        outage=False,
        base_minutes=BASE,
        max_minutes=CAP,
    )
    assert row["items"] == 3


# ---- entry_key ----------------------------------------------------------------------------------


def entry(url=None, guid=None, title="T", published_at=None) -> FeedEntry:
    return FeedEntry(feed="f", url=url, guid=guid, title=title, content="", published_at=published_at)


@pytest.mark.parametrize(
    ("e", "key"),
    [
        (entry(url="https://x.test/a", guid="g1"), "https://x.test/a"),  # the URL first
        (entry(guid="g1"), "guid:g1"),  # else the guid
        (entry(title="Only a title"), "title:"),  # else a hash of title and date
    ],
)
def test_entry_key(e, key):
    assert entry_key(e).startswith(key)


def test_entry_key_of_title_only_entries_is_stable_and_distinct():
    a, b = entry(title="Alpha"), entry(title="Beta")
    dated = entry(title="Alpha", published_at=NOW)
    assert entry_key(a) == entry_key(entry(title="Alpha"))
    assert len({entry_key(a), entry_key(b), entry_key(dated)}) == 3


# ---- load_settings: errors name the file, the key and what was expected ------------------------

CHANNEL = "[channels.c]\ntype = 'console'\n"
ACTOR = "[[watchlist.actors]]\nname = 'A'\n"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[warehose]\npath = 'x'\n", "warehose: unknown key"),
        ("[fetch]\ntimout = 3\n", "fetch.timout: unknown key"),
        ("[fetch]\ntimeout = 'fast'\n", "fetch.timeout: Input should be a valid number"),
        ("[fetch]\nretries = -1\n", "fetch.retries: Input should be greater than or equal to 0"),
        ("[health]\nfailure_alert_after = 0\n", "health.failure_alert_after"),
        ("[health]\nalert_channels = ['ops']\n", "health.alert_channels: unknown channel 'ops'"),
        (
            "[[feeds]]\nname = 'Bad Name'\nurl = 'http://a.test/'\n",
            "feeds.0.name: expected a short lowercase",
        ),
        ("[[feeds]]\nname = 'a'\nurl = 'ftp://a.test/'\n", "feeds.0.url: expected an http(s) URL"),
        (
            "[[feeds]]\nname = 'a'\nurl = 'http://a.test/'\n[[feeds]]\nname = 'a'\nurl = 'http://b.test/'\n",
            "duplicate feed name(s) ['a']",
        ),
        (
            ACTOR + CHANNEL + "[[rules]]\nname = 'r'\nactors = ['Nobody']\nchannels = ['c']\n",
            "rules[0] (r).actors: unknown actor 'Nobody'",
        ),
        (
            ACTOR + CHANNEL + "[[rules]]\nname = 'r'\nkeywords = ['THAAD']\nchannels = ['c']\n",
            "rules[0] (r).keywords: unknown keyword 'THAAD'",
        ),
        (
            ACTOR + "[[rules]]\nname = 'r'\nactors = ['A']\nchannels = ['nope']\n",
            "rules[0] (r).channels: unknown channel 'nope'",
        ),
        ("[channels.c]\ntype = 'pigeon'\n", "channels.c: unknown channel type 'pigeon'"),
        ("[channels.c]\nsmtp_host = 'x'\n", "channels.c: missing 'type'"),
        (
            "[channels.m]\ntype = 'email'\nsmtp_host = 'h'\nsender = \"a@b\\r\\nBcc: x@y\"\n"
            "recipients = ['r@x.test']\n",
            "channels.m.email.sender: expected an email address",
        ),
        (
            "[channels.chat]\ntype = 'slack'\nwebhook_url_env = 'NEWSWATCH_TEST_UNSET_VARIABLE'\n",
            "channels.chat.webhook_url_env: environment variable NEWSWATCH_TEST_UNSET_VARIABLE is not set",
        ),
        ("[schedule]\ncron = '* * * * *'\ninterval_minutes = 5\n", "either cron or interval_minutes"),
        ("[fetch\n", "not valid TOML"),
    ],
)
def test_load_settings_errors(tmp_path, monkeypatch, toml, expected):
    monkeypatch.delenv("NEWSWATCH_TEST_UNSET_VARIABLE", raising=False)
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert message.startswith(str(path)), message  # the file
    assert expected in message, message  # the key and what was expected


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_secrets_are_checked_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSWATCH_TEST_UNSET_VARIABLE", raising=False)
    path = tmp_path / "c.toml"
    path.write_text("[channels.chat]\ntype = 'slack'\nwebhook_url_env = 'NEWSWATCH_TEST_UNSET_VARIABLE'\n")
    assert "chat" in load_settings(path, check_secrets=False).channels
    monkeypatch.setenv("NEWSWATCH_TEST_UNSET_VARIABLE", "http://hooks.test/x")
    assert "chat" in load_settings(path).channels
