"""The command line: exit codes (0 done, 1 could not, 2 bad command line or config) and messages,
through `flows.cli.main` in-process where no Prefect is needed, and as a real process for the cases
a user sees from a shell (bad command line, imports, a run that can poll nothing)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli.main import build_parser, main
from tests.conftest import ROOT
from tests.e2e import NEWSWATCH, user_env
from tests.warehouse_factory import build_sample_warehouse


def run_cli(
    *args: str, cwd: Path, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(NEWSWATCH), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("cli") / "newswatch.duckdb"
    build_sample_warehouse(db, days=3)
    return db


# ---- configuration errors: exit 2, a message naming the file and the key ------------------------

FEED = "[[feeds]]\nname = 'a'\nurl = 'http://a.test/rss'\n"


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (FEED + "[fetch]\ntimout = 3\n", "fetch.timout: unknown key"),
        (FEED + "[fetch]\ntimeout = 'soon'\n", "fetch.timeout: Input should be a valid number"),
        (
            FEED + "[[watchlist.actors]]\nname = 'A'\n[channels.c]\ntype = 'console'\n"
            "[[rules]]\nname = 'r'\nactors = ['Nobody']\nchannels = ['c']\n",
            "rules[0] (r).actors: unknown actor 'Nobody'",
        ),
        (
            FEED + "[channels.c]\ntype = 'carrier-pigeon'\n",
            "channels.c: unknown channel type 'carrier-pigeon'",
        ),
        (
            FEED + "[channels.chat]\ntype = 'slack'\nwebhook_url_env = 'NEWSWATCH_TEST_NEVER_SET'\n",
            "channels.chat.webhook_url_env: environment variable NEWSWATCH_TEST_NEVER_SET is not set",
        ),
    ],
    ids=["unknown-key", "wrong-type", "unknown-actor", "unknown-channel-type", "unset-secret"],
)
def test_bad_config_exits_2_naming_file_and_key(tmp_path, monkeypatch, capsys, toml, key):
    monkeypatch.delenv("NEWSWATCH_TEST_NEVER_SET", raising=False)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml, encoding="utf-8")
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"newswatch run: {cfg}") and key in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()  # nothing was started or created


@pytest.mark.parametrize("command", [["run"], ["feeds"], ["sql", "SELECT 1"], ["enable-feed", "a"]])
def test_missing_config_exits_2(tmp_path, capsys, command):
    missing = tmp_path / "nowhere.toml"
    assert main([command[0], "--config", str(missing), *command[1:]]) == 2
    assert f"{missing}: config file not found" in capsys.readouterr().err


# ---- bad command lines: exit 2 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["sql"],
        ["run", "--frobnicate"],
        ["sql", "--format", "xml", "SELECT 1"],
        ["enable-feed"],
    ],
)
def test_bad_command_line_exits_2(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: newswatch" in capsys.readouterr().err


def test_bad_command_line_from_a_shell(tmp_path):
    done = run_cli("frobnicate", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid choice: 'frobnicate'" in done.stderr and "Traceback" not in done.stderr


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `newswatch ([a-z-]+)", readme, flags=re.M))
    subparsers = build_parser()._subparsers._group_actions[0].choices  # what main accepts
    assert documented == set(subparsers)  # the README's command table is complete
    for command in subparsers:
        assert re.search(rf"^\s+{command}\s+\S", out, flags=re.M), command  # listed, with its help


# ---- sql: answers, refusals, a missing warehouse ------------------------------------------------

QUERY = "SELECT name, enabled FROM feeds WHERE name IN ('wire', 'gone') ORDER BY name"


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("table", lambda out: out.split("\n")[0].split() == ["name", "enabled"] and "(2 rows)" in out),
        ("csv", lambda out: out.splitlines() == ["name,enabled", "gone,False", "wire,True"]),
        (
            "json",
            lambda out: (
                json.loads(out) == [{"name": "gone", "enabled": False}, {"name": "wire", "enabled": True}]
            ),
        ),
    ],
)
def test_sql_answers_in_each_format(warehouse, capsys, fmt, check):
    assert main(["sql", "--db", str(warehouse), "--format", fmt, QUERY]) == 0
    out = capsys.readouterr().out
    assert check(out), out


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO feeds (name, url) VALUES ('x', 'http://x.test/')", "INSERT"),
        ("CREATE TABLE notes (t VARCHAR)", "CREATE"),
        ("COPY feeds TO '{tmp}/feeds.csv'", "COPY"),
        ("ATTACH '{tmp}/other.duckdb' AS other", "ATTACH"),
        ("DELETE FROM articles", "DELETE"),
        ("SELECT 1; DROP TABLE articles", "DROP"),  # a read in front does not let a write through
        ("UPDATE feeds SET enabled = false", "UPDATE"),
    ],
)
def test_sql_refuses_writes_and_leaves_the_file_unchanged(warehouse, tmp_path, capsys, sql, kind):
    before = digest(warehouse)
    assert main(["sql", "--db", str(warehouse), sql.format(tmp=tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"refused: {kind} statements are not allowed" in err
    assert digest(warehouse) == before
    assert list(tmp_path.iterdir()) == []  # COPY wrote no file, ATTACH created no database


def test_sql_refuses_a_write_hidden_in_explain_analyze(warehouse, tmp_path):
    main(["sql", "--db", str(warehouse), f"EXPLAIN ANALYZE COPY (SELECT 42) TO '{tmp_path}/out.csv'"])
    assert list(tmp_path.iterdir()) == []


def test_sql_failing_query_exits_1(warehouse, capsys):
    assert main(["sql", "--db", str(warehouse), "SELECT * FROM no_such_table"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("newswatch sql: ") and "no_such_table" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["feeds"], ["enable-feed", "wire"]])
def test_missing_warehouse_exits_1(tmp_path, capsys, command):
    db = tmp_path / "none.duckdb"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[warehouse]\npath = '{db}'\n", encoding="utf-8")
    assert main([command[0], "--config", str(cfg), *command[1:]]) == 1
    assert f"no warehouse at {db}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [cfg]  # and none was created


def test_enable_feed_unknown_name_exits_2(warehouse, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[warehouse]\npath = '{warehouse}'\n", encoding="utf-8")
    assert main(["enable-feed", "no-such-feed", "--config", str(cfg)]) == 2
    assert "no feed named 'no-such-feed'" in capsys.readouterr().err


def test_run_while_another_run_writes_is_skipped_with_exit_75(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[warehouse]\npath = '{db}'\n[[feeds]]\nname = 'a'\nurl = 'http://a.test/rss'\n")
    fd = os.open(tmp_path / "w.duckdb.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what a run in progress holds
    try:
        assert main(["run", "--config", str(cfg)]) == 75
    finally:
        os.close(fd)
    assert "another newswatch run is writing this warehouse" in capsys.readouterr().err


# ---- start-up: the read commands do not import Prefect ------------------------------------------

IMPORT_PROBE = """
import sys
from flows.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print("EXIT", code, "PREFECT", any(m == "prefect" or m.startswith("prefect.") for m in sys.modules))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["sql", "--db", "{db}", "SELECT count(*) FROM articles"],
        ["feeds", "--db", "{db}"],
        ["sql", "--help"],
        ["--help"],
    ],
)
def test_read_commands_do_not_import_prefect(warehouse, tmp_path, argv):
    args = [a.format(db=warehouse) for a in argv]
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip().endswith("EXIT 0 PREFECT False"), done.stdout + done.stderr


# ---- a run that can poll nothing: exit 1, a summary, no traceback (a real process) --------------


@pytest.mark.slow
def test_run_with_only_unreachable_feeds_exits_1_without_traceback(tmp_path, prefect_harness):
    ports = []
    for _ in range(2):  # bound but not listening: refused, and no one else can take the port
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s)
    cfg = tmp_path / "newswatch.toml"
    cfg.write_text(
        "[fetch]\nretries = 0\nconnect_timeout = 2\n"
        + "".join(
            f"[[feeds]]\nname = 'f{i}'\nurl = 'http://127.0.0.1:{s.getsockname()[1]}/rss'\n"
            for i, s in enumerate(ports)
        ),
        encoding="utf-8",
    )
    env = user_env(tmp_path / "prefect-home", api_url=prefect_harness)
    try:
        done = run_cli("run", cwd=tmp_path, env=env, timeout=180)
    finally:
        for s in ports:
            s.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "run 1: no feed polled" in done.stdout and "2 failed" in done.stdout
    assert "no feed at all could be polled" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "CancelledError" not in done.stdout + done.stderr
    assert (tmp_path / "data" / "newswatch.duckdb").exists()  # the failed polls are recorded
