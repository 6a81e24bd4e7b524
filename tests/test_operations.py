"""Operations end to end, with a local server that fails on purpose and real DuckDB files:
failing feeds back off (Retry-After honoured, 410 disables until `enable-feed`), a feed failing N runs
in a row raises ONE operational alert per streak, and a network outage (no feed answers at all) is one
outage, not every feed being broken. `newswatch feeds` shows it all."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.cli.main import main
from flows.demo.sinks import SlackSink
from tests.e2e import ingest
from tests.helpers_http import LocalServer, Reply

pytestmark = pytest.mark.slow

RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


def rss(*links: str) -> bytes:
    items = "".join(f"<item><title>Item {i}</title><link>{u}</link></item>" for i, u in enumerate(links))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>http://example.test/</link><description>d</description>{items}</channel></rss>"
    ).encode()


OK = Reply(200, rss(), RSS_TYPE)
FAIL_500 = Reply(500, b"internal error")


def write_config(path: Path, feeds: dict[str, str], *, health: str = "", channels: str = "") -> Path:
    feed_tables = "".join(f'\n[[feeds]]\nname = "{n}"\nurl = "{u}"\n' for n, u in feeds.items())
    path.write_text(
        f"""
[warehouse]
path = "{path.parent / "newswatch.duckdb"}"

[fetch]
allow_private_hosts = true
retries = 0                 # one request per poll: the server's hit count is the number of polls
connect_timeout = 2
timeout = 5

[extract]
workers = 0
{feed_tables}
{health}
{channels}
""",
        encoding="utf-8",
    )
    return path


def feed_row(db: Path, name: str) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("SELECT * FROM feeds WHERE name = ?", [name])
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchall()[0], strict=True))


def q(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def closed_port() -> socket.socket:
    """A port on 127.0.0.1 bound but not listening: connections are refused, and no one can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def about(when: datetime | None, expected: datetime, slack: timedelta = timedelta(minutes=2)) -> bool:
    return when is not None and abs(when - expected) < slack


# ---- a feed failing run after run: streaks, one alert per streak, backoff, reset ---------------


@pytest.fixture(scope="module")
def flaky(tmp_path_factory, prefect_harness):
    """Seven runs: flaky fails 3 times, is skipped while backing off, recovers (--force), fails twice."""
    tmp = tmp_path_factory.mktemp("flaky")
    site = LocalServer(
        {"/steady.xml": Reply(200, rss("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"), RSS_TYPE)}
    )
    mp = pytest.MonkeyPatch()
    with site, SlackSink() as ops:
        mp.setenv("NEWSWATCH_TEST_OPS_WEBHOOK", ops.url)
        cfg = write_config(
            tmp / "newswatch.toml",
            {"flaky": site.url("/flaky.xml"), "steady": site.url("/steady.xml")},
            health='[health]\nfailure_alert_after = 2\nalert_channels = ["ops"]\n',
            channels='[channels.ops]\ntype = "slack"\nwebhook_url_env = "NEWSWATCH_TEST_OPS_WEBHOOK"\n',
        )
        db = tmp / "newswatch.duckdb"
        steps = []

        def step(reply: Reply | None, force: bool = False) -> None:
            if reply is not None:
                site.routes["/flaky.xml"] = reply
            before = len(site.hits("/flaky.xml"))
            started = datetime.now(UTC)
            ingest(cfg, force=force)
            row = feed_row(db, "flaky")
            steps.append(
                {
                    "polled": len(site.hits("/flaky.xml")) - before,
                    "started": started,
                    "streak": row["error_streak"],
                    "next_poll_at": row["next_poll_at"],
                    "last_error": row["last_error"],
                    "last_success_at": row["last_success_at"],
                    "health_alerts": q(db, "SELECT count(*) FROM alerts WHERE rule = 'feed-health'")[0][0],
                    "posts": len(ops.posts),
                }
            )

        try:
            for _ in range(3):
                step(FAIL_500)  # runs 1-3
            step(None)  # run 4: backing off, not polled
            step(OK, force=True)  # run 5: --force polls it, and it works again
            step(FAIL_500)  # runs 6-7: a new streak
            step(None)
            posts = ops.posts
        finally:
            mp.undo()
    return {"steps": steps, "db": db, "cfg": cfg, "posts": posts}


def test_error_streak_grows_and_a_success_resets_it(flaky):
    s = flaky["steps"]
    assert [x["polled"] for x in s] == [1, 1, 1, 0, 1, 1, 1]
    assert [x["streak"] for x in s] == [1, 2, 3, 3, 0, 1, 2]
    assert "HTTP 500" in s[0]["last_error"]
    assert s[4]["last_error"] is None and s[4]["last_success_at"] is not None


def test_one_operational_alert_per_streak_not_one_per_run(flaky):
    s = flaky["steps"]
    assert [x["health_alerts"] for x in s] == [0, 1, 1, 1, 1, 1, 2]
    assert [x["posts"] for x in s] == [0, 1, 1, 1, 1, 1, 2]  # each delivered once, when raised
    texts = [p["text"] for p in flaky["posts"]]
    assert all("flaky" in t and "2 runs in a row" in t for t in texts), texts
    assert q(flaky["db"], "SELECT DISTINCT status FROM alerts") == [("sent",)]


def test_failing_feed_backs_off_after_repeated_failures(flaky):
    s = flaky["steps"]
    assert s[0]["next_poll_at"] is None and s[1]["next_poll_at"] is None  # retried on the next run
    assert about(s[2]["next_poll_at"], s[2]["started"] + timedelta(minutes=15))  # then waits
    assert s[3]["polled"] == 0  # and the next run leaves it alone
    assert s[4]["next_poll_at"] is None  # a success clears the wait


def test_feeds_command_shows_health(flaky, capsys):
    assert main(["feeds", "--config", str(flaky["cfg"]), "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"flaky", "steady"}
    flaky_row, steady = rows["flaky"], rows["steady"]
    assert flaky_row["failures"] == 2 and "HTTP 500" in flaky_row["last_error"]
    assert flaky_row["last_success"] is not None  # run 5
    assert steady["failures"] == 0 and steady["last_error"] is None
    assert steady["items_per_day"] == pytest.approx(round(2 / 7, 1))
    assert {r["next_poll"] for r in rows.values()} == {"next run"}
    assert main(["feeds", "--config", str(flaky["cfg"])]) == 0
    table = capsys.readouterr().out
    header = table.splitlines()[0].split()
    for column in ("name", "last_success", "failures", "items_per_day", "next_poll", "last_error"):
        assert column in header
    assert "flaky" in table and "steady" in table and "(2 rows)" in table


# ---- Retry-After, 410 Gone, enable-feed, run --force ------------------------------------------


@pytest.fixture(scope="module")
def polite(tmp_path_factory, prefect_harness):
    tmp = tmp_path_factory.mktemp("polite")
    site = LocalServer(
        {
            "/slow.xml": Reply(503, b"busy", {"Retry-After": "3600"}),
            "/gone.xml": Reply(410, b"gone"),
            "/good.xml": OK,
        }
    )
    facts: dict = {}
    with site:
        cfg = write_config(
            tmp / "newswatch.toml",
            {"slow": site.url("/slow.xml"), "gone": site.url("/gone.xml"), "good": site.url("/good.xml")},
        )
        db = tmp / "newswatch.duckdb"
        facts["started1"] = datetime.now(UTC)
        ingest(cfg)
        facts["slow1"], facts["gone1"] = feed_row(db, "slow"), feed_row(db, "gone")
        hits = lambda: {p: len(site.hits(f"/{p}.xml")) for p in ("slow", "gone", "good")}  # noqa: E731
        facts["hits1"] = hits()
        ingest(cfg)  # neither the backing-off feed nor the disabled one is polled
        facts["hits2"] = hits()
        facts["gone2"] = feed_row(db, "gone")
        facts["enable_unknown"] = main(["enable-feed", "nope", "--config", str(cfg)])
        facts["enable"] = main(["enable-feed", "gone", "--config", str(cfg)])
        facts["gone_enabled"] = feed_row(db, "gone")
        site.routes["/slow.xml"] = site.routes["/gone.xml"] = OK
        facts["forced"] = main(["run", "--config", str(cfg), "--force"])
        facts["hits3"] = hits()
        facts["slow3"], facts["gone3"] = feed_row(db, "slow"), feed_row(db, "gone")
    return facts


def test_retry_after_sets_the_next_poll(polite):
    slow = polite["slow1"]
    assert slow["last_status"] == 503 and slow["error_streak"] == 1
    assert about(slow["next_poll_at"], polite["started1"] + timedelta(hours=1))
    assert polite["hits1"]["slow"] == 1  # Retry-After longer than we may wait: no retry in the run


def test_a_feed_backing_off_is_not_polled_until_forced(polite):
    assert polite["hits2"]["slow"] == polite["hits1"]["slow"]
    assert polite["hits2"]["good"] == polite["hits1"]["good"] + 1
    assert polite["forced"] == 0
    assert polite["hits3"]["slow"] == polite["hits2"]["slow"] + 1
    slow = polite["slow3"]
    assert (slow["last_outcome"], slow["error_streak"], slow["next_poll_at"]) == ("ok", 0, None)


def test_410_gone_disables_the_feed_until_re_enabled(polite):
    gone = polite["gone1"]
    assert gone["enabled"] is False and "410" in gone["disabled_reason"]
    assert polite["hits2"]["gone"] == polite["hits1"]["gone"] == 1  # not polled again
    assert polite["gone2"]["enabled"] is False  # the config (enabled by default) does not undo it
    assert polite["enable_unknown"] == 2
    assert polite["enable"] == 0
    enabled = polite["gone_enabled"]
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert polite["hits3"]["gone"] == 2
    assert polite["gone3"]["last_outcome"] == "ok" and polite["gone3"]["enabled"] is True


# ---- outage: no feed answers at all --------------------------------------------------------------

HEALTH_1 = '[health]\nfailure_alert_after = 1\nalert_channels = ["ops"]\n'
CONSOLE = '[channels.ops]\ntype = "console"\n'


def test_outage_is_one_outage_not_every_feed_broken(tmp_path, prefect_harness, capsys):
    a, b = closed_port(), closed_port()
    try:
        cfg = write_config(
            tmp_path / "newswatch.toml",
            {
                "a": f"http://127.0.0.1:{a.getsockname()[1]}/a.xml",
                "b": f"http://127.0.0.1:{b.getsockname()[1]}/b.xml",
            },
            health=HEALTH_1,  # even one failed run would alert for a broken feed
            channels=CONSOLE,
        )
        assert main(["run", "--config", str(cfg)]) == 1  # no feed at all could be polled
        out = capsys.readouterr()
        assert main(["run", "--config", str(cfg)]) == 1  # the outage goes on: still one outage
    finally:
        a.close()
        b.close()
    assert "OUTAGE" in out.out and "no feed at all could be polled" in out.err
    assert "Network outage: every feed failed" in out.out  # the console printed the one operational alert
    db = tmp_path / "newswatch.duckdb"
    assert q(db, "SELECT outage, feeds_failed FROM runs ORDER BY run_id") == [(True, 2), (True, 2)]
    assert q(db, "SELECT name, error_streak, last_outcome FROM feeds ORDER BY name") == [
        ("a", 0, "outage"),
        ("b", 0, "outage"),
    ]
    assert q(db, "SELECT rule, channel, status FROM alerts") == [("outage", "ops", "sent")]


def test_every_feed_answering_500_is_not_an_outage(tmp_path, prefect_harness, capsys):
    with LocalServer({"/a.xml": FAIL_500, "/b.xml": FAIL_500}) as site:
        cfg = write_config(
            tmp_path / "newswatch.toml",
            {"a": site.url("/a.xml"), "b": site.url("/b.xml")},
            health=HEALTH_1,
            channels=CONSOLE,
        )
        assert main(["run", "--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "OUTAGE" not in out and "2 failed (a: HTTP 500, b: HTTP 500)" in out
    db = tmp_path / "newswatch.duckdb"
    assert q(db, "SELECT outage FROM runs") == [(False,)]
    assert q(db, "SELECT name, error_streak, last_outcome FROM feeds ORDER BY name") == [
        ("a", 1, "failed"),
        ("b", 1, "failed"),
    ]
    assert q(db, "SELECT rule, count(*) FROM alerts GROUP BY rule") == [("feed-health", 2)]


# ---- the same rules without a flow: the warehouse's feed state and the operational alerts ------


def test_re_enabled_or_moved_feed_alerts_again_on_a_new_streak(tmp_path):
    """After `enable-feed` (or a new URL in the config) a feed starts afresh: its next failing streak
    raises an alert again, even though its previous streak already had one."""
    from extractors.records import FeedPoll
    from flows.ingest.delivery import deliver_pending, raise_feed_alerts
    from flows.ingest.feed_state import poll_rows
    from flows.settings import load_settings
    from warehouse.store import Warehouse

    cfg = write_config(
        tmp_path / "newswatch.toml", {"f": "http://f.test/rss"}, health=HEALTH_1, channels=CONSOLE
    )
    settings = load_settings(cfg)

    def fail(wh: Warehouse, status: int) -> int:
        p = FeedPoll(
            feed="f", url="http://f.test/rss", outcome="failed", status=status, error=f"HTTP {status}"
        )
        now = datetime.now(UTC)
        wh.record_polls(poll_rows([p], wh.feed_states(), now, outage=False, base_minutes=15, max_minutes=60))
        raised = raise_feed_alerts(wh, settings, outage=False)
        deliver_pending(wh, settings)  # as a run does: console alerts are sent at once
        return raised

    with Warehouse.open(tmp_path / "w.duckdb", publish=False) as wh:
        wh.sync_feeds([("f", "http://f.test/rss", True)])
        assert fail(wh, 410) == 1  # disabled, and one alert for it
        assert wh.feed_states()["f"].enabled is False
        assert wh.enable_feed("f")
        assert fail(wh, 500) == 1  # a new streak after re-enabling: alerted again
        assert fail(wh, 500) == 0  # ... once
        wh.sync_feeds([("f", "http://f.test/moved.xml", True)])  # a new URL: a new start
        assert fail(wh, 500) == 1
