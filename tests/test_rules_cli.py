"""`newswatch rules test|mute|unmute` on a real warehouse file, and a query that cannot be used as a
configuration error (exit 2) that names the rule and points at the position."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.cli.main import main
from tests.e2e import NEWSWATCH
from warehouse.store import Warehouse

NOW = datetime.now(UTC).replace(microsecond=0)
STORIES = [
    # (title, text, feed, days ago)
    ("Rogozin in Bucharest", "Rogozin said on Tuesday that Romania agreed to the radar.", "wire", 2),
    ("Space news", "Rogozin spoke about Mars. Much later, far from that, Romania was named.", "wire", 3),
    ("Gerasimov visits Kaliningrad", "Герасимов прибыл в Калининград.", "vestnik", 5),
    ("An old story", "Rogozin and Romania, side by side.", "wire", 40),
]
CONFIG = """
[warehouse]
path = "{db}"

[[feeds]]
name = "wire"
url = "http://wire.test/rss"

[watchlist]
keywords = ["Kaliningrad"]

[[watchlist.actors]]
name = "Valery Gerasimov"
aliases = ["Gerasimov", "Герасимов"]

[[rules]]
name = "russia"
actors = ["Valery Gerasimov"]
channels = ["terminal"]

[[rules]]
name = "rogozin-romania"
query = '{query}'
digest = "hourly"
channels = ["terminal"]

[channels.terminal]
type = "console"
"""


def _write_config(tmp_path: Path, query: str = "Rogozin NEAR/5 Romania") -> Path:
    cfg = tmp_path / "newswatch.toml"
    cfg.write_text(CONFIG.format(db=tmp_path / "newswatch.duckdb", query=query), encoding="utf-8")
    return cfg


@pytest.fixture
def cfg(tmp_path) -> Path:
    """A config and the published warehouse it names, holding STORIES."""
    with Warehouse.open(tmp_path / "newswatch.duckdb") as wh:
        run = wh.start_run()
        rows = []
        for aid, (title, text, feed, age) in enumerate(STORIES, 1):
            seen = NOW - timedelta(days=age)
            rows.append(
                {
                    "article_id": aid,
                    "url": f"https://{feed}.example/{aid}",
                    "title": title,
                    "published_at": seen,
                    "feed": feed,
                    "lang": "en",
                    "author": None,
                    "text": text,
                    "text_source": "page",
                    "text_hash": f"h{aid}",
                    "word_count": len(text.split()),
                    "guid": None,
                    "first_seen": seen,
                    "run_id": run,
                }
            )
        wh.insert_articles(rows, [])
        wh.finish_run(run, "completed", {})
    return _write_config(tmp_path)


def test_rules_test_lists_what_a_query_matches(cfg, capsys):
    assert main(["rules", "test", "Rogozin NEAR/5 Romania", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    # the story 40 days old is outside the default 30 days; "Space news" has them too far apart
    assert lines[0] == "1 story of 3 first seen in the last 30d match Rogozin NEAR/5 Romania"
    assert lines[2].endswith("  wire  Rogozin in Bucharest")
    assert lines[3] == "   https://wire.example/1"
    # the pair that is near is quoted (the title's Rogozin has no Romania near it)
    assert lines[4:] == ["   Rogozin, Romania: Rogozin said on Tuesday that Romania agreed to the radar."]
    assert "Space news" not in out and "An old story" not in out


def test_rules_test_with_a_period_a_limit_and_a_configured_rule(cfg, capsys):
    assert (
        main(
            [
                "rules",
                "test",
                "Rogozin OR actor:Gerasimov",
                "--since",
                "60d",
                "--limit",
                "2",
                "--config",
                str(cfg),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "4 stories of 4 first seen in the last 60d match Rogozin OR actor:Gerasimov (newest 2 shown)"
    )
    assert "Rogozin in Bucharest" in out and "Space news" in out and "Gerasimov visits" not in out
    assert main(["rules", "test", "--rule", "russia", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "1 story of 3 first seen in the last 30d match rule russia"
    assert "   In the title: Valery Gerasimov" in out  # its first hit


def test_rules_test_points_at_a_syntax_error(cfg, capsys):
    assert main(["rules", "test", "Rogozin AND (Romania OR", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "newswatch rules: query: expected a term after OR, found the end of the query (column 24)",
        "    Rogozin AND (Romania OR",
        "                           ^",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rules", "test"], "give either a QUERY or --rule NAME"),
        (["rules", "test", "x", "--rule", "russia"], "give either a QUERY or --rule NAME"),
        (["rules", "test", "x", "--since", "soon"], "--since 'soon': expected a number and a unit"),
        (["rules", "test", "x", "--limit", "0"], "--limit 0: expected at least 1"),
        (["rules", "test", "--rule", "nope"], "no rule named 'nope'"),
        (["rules", "mute", "nope", "--for", "2h"], "no rule named 'nope'"),
        (["rules", "mute", "russia", "--for", "a while"], "--for 'a while': expected a number and a unit"),
    ],
)
def test_bad_command_lines_exit_2(cfg, capsys, argv, message):
    assert main([*argv, "--config", str(cfg)]) == 2
    assert message in capsys.readouterr().err


def test_a_rule_query_that_cannot_be_used_is_a_configuration_error(tmp_path, capsys):
    cfg = _write_config(tmp_path, query="Rogozin NEAR/5 (Romania AND")
    assert main(["rules", "test", "x", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"newswatch rules: {cfg}: invalid configuration",
        "  rules[1] (rogozin-romania).query: expected a term after AND, found the end of the query (column 28)",
        "      Rogozin NEAR/5 (Romania AND",
        "                                 ^",
    ]
    cfg = _write_config(tmp_path, query='actor:"Dmitry Rogozin" NEAR/5 Romania')
    assert main(["run", "--config", str(cfg)]) == 2  # every command that loads the config
    assert (
        "rules[1] (rogozin-romania).query: no actor 'Dmitry Rogozin' in the watchlist"
        in capsys.readouterr().err
    )


def test_rules_test_reads_the_warehouse_without_prefect_while_a_run_holds_it(cfg):
    """A real process: no Prefect imported, and the writer's lock (an ingest running) does not stop it."""
    import fcntl
    import os

    from warehouse.lock import lock_path

    fd = os.open(lock_path(cfg.parent / "newswatch.duckdb"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        code = (
            "import sys; from flows.cli.main import main; rc = main(sys.argv[1:]); "
            "assert 'prefect' not in sys.modules, 'prefect was imported'; sys.exit(rc)"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, "rules", "test", "Kaliningrad", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("1 story of 3 first seen in the last 30d match Kaliningrad")
        shell = subprocess.run(
            [str(NEWSWATCH), "rules", "test", "Kaliningrad AND", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shell.returncode == 2 and "Traceback" not in shell.stderr
        assert shell.stderr.splitlines()[-1].endswith("^")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def test_mute_and_unmute_are_kept_in_the_warehouse(cfg, capsys):
    db = cfg.parent / "newswatch.duckdb"
    assert main(["rules", "mute", "rogozin-romania", "--for", "2h", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rule rogozin-romania muted until ") and "its alerts wait in the outbox" in out
    con = duckdb.connect(str(db), read_only=True)  # the published file says so
    ((rule, until),) = con.execute("SELECT rule, until FROM rule_mutes").fetchall()
    con.close()
    assert rule == "rogozin-romania"
    assert timedelta(hours=1, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=2)
    assert main(["rules", "unmute", "rogozin-romania", "--config", str(cfg)]) == 0
    assert (
        capsys.readouterr().out == "rule rogozin-romania unmuted: its waiting alerts go out on the next run\n"
    )
    assert main(["rules", "unmute", "rogozin-romania", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out == "rule rogozin-romania was not muted\n"


def test_mute_waits_for_a_running_ingest(cfg):
    """Another process holds the writer's lock (a run): `rules mute` says it waits, then does it."""
    import fcntl
    import os
    import time

    from warehouse.lock import lock_path

    fd = os.open(lock_path(cfg.parent / "newswatch.duckdb"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        mute = subprocess.Popen(
            [str(NEWSWATCH), "rules", "mute", "russia", "--for", "1h", "--config", str(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert mute.poll() is None  # still waiting
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    out, err = mute.communicate(timeout=60)
    assert mute.returncode == 0
    assert "waiting for the running ingest to finish" in err
    assert out.startswith("rule russia muted until ")


def test_mute_without_a_warehouse(tmp_path, capsys):
    cfg = _write_config(tmp_path)
    assert main(["rules", "mute", "russia", "--for", "1h", "--config", str(cfg)]) == 2
    assert "no warehouse at" in capsys.readouterr().err
    assert not (tmp_path / "newswatch.duckdb").exists()
