"""`newswatch run` against a site that behaves like real and hostile ones, end to end (the real
command in a subprocess, a real Prefect server, a real DuckDB file): a feed that moved, a feed and
a page that need the feed's own header and cookie, a decompression bomb (permanent: never fetched
again), a busy page (transient: fetched again next run), and escape sequences in a title."""

from __future__ import annotations

import subprocess

import duckdb
import pytest

from tests.e2e import NEWSWATCH, user_env
from tests.hostile_server import FEED, HTML, Conn, HostileServer, Request, _bomb, reply
from tests.test_extract import ARTICLE_PAGE


def _items(server: HostileServer) -> bytes:
    def item(title: bytes, path: str) -> bytes:
        return b"<item><title>" + title + b"</title><link>" + server.url(path).encode() + b"</link></item>"

    return (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>wire</title>'
        + item(b"Interceptor hits target behind a consent wall", "/pages/consent")
        + item(b"Interceptor \x1b]0;owned\x07\x1b[2Jtest on a bomb page", "/pages/bomb")
        + item(b"Interceptor test on a busy server", "/pages/busy")
        + b"</channel></rss>"
    )


def _feed(conn: Conn, req: Request, server: HostileServer) -> None:
    if req.headers.get("x-api-key") != "k1":
        return reply(403, b"no key", HTML)(conn, req, server)
    reply(200, _items(server), FEED)(conn, req, server)


def _consent_page(conn: Conn, req: Request, server: HostileServer) -> None:
    if "consent=yes" not in req.headers.get("cookie", ""):
        return reply(302, b"", {"Location": "https://consent.example/ask"})(conn, req, server)
    reply(200, ARTICLE_PAGE.encode(), HTML)(conn, req, server)


def run_cli(*args: str, cwd, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(NEWSWATCH), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.slow
def test_a_run_against_real_and_hostile_sites(tmp_path, prefect_harness):
    with HostileServer([]) as server:
        server.routes.update(
            {
                "/feeds/wire.xml": reply(301, b"", {"Location": "/feeds/wire-2026.xml"}),
                "/feeds/wire-2026.xml": _feed,
                "/pages/consent": _consent_page,
                "/pages/bomb": _bomb,
                "/pages/busy": reply(503, b"busy", HTML),
            }
        )
        db = tmp_path / "newswatch.duckdb"
        (tmp_path / "newswatch.toml").write_text(
            f"""
[warehouse]
path = "{db}"
[fetch]
allow_private_hosts = true
retries = 0
timeout = 5
max_bytes = 1000000
[extract]
workers = 1
[[feeds]]
name = "wire"
url = "{server.url("/feeds/wire.xml")}"
headers = {{ X-Api-Key = "k1" }}
cookies = {{ consent = "yes" }}
""",
            encoding="utf-8",
        )
        env = user_env(tmp_path / "prefect-home", api_url=prefect_harness)
        first = run_cli("run", cwd=tmp_path, env=env)
        feeds = run_cli("feeds", cwd=tmp_path, env=env)
        second = run_cli("run", cwd=tmp_path, env=env)
        hits = [r.path for r in server.requests_seen()]

    assert first.returncode == 0, first.stdout + first.stderr
    new_url = server.url("/feeds/wire-2026.xml")
    assert f"moved: wire to {new_url}" in first.stdout  # off a terminal: the run's one line
    assert not any(c in first.stdout + first.stderr for c in "\x1b\x07")  # the title's escapes are gone
    assert f"wire: moved to {new_url} (update its url in the config)" in feeds.stdout

    with duckdb.connect(str(db), read_only=True) as con:
        ledger = dict(
            con.execute("SELECT split_part(url, '/', -1), retry FROM entries WHERE feed = 'wire'").fetchall()
        )
        (moved_to,) = con.execute("SELECT moved_to FROM feeds WHERE name = 'wire'").fetchone()
        stored = con.execute("SELECT title FROM articles WHERE feed = 'wire'").fetchall()
    assert ledger == {"consent": False, "bomb": False, "busy": True}  # the bomb will not be fetched again
    assert stored == [("Interceptor hits target behind a consent wall",)]  # the feed's cookie was sent
    assert moved_to == server.url("/feeds/wire-2026.xml")

    assert second.returncode == 0, second.stdout + second.stderr
    assert hits.count("/pages/bomb") == 1 and hits.count("/pages/busy") == 2
    assert hits.count("/pages/consent") == 1  # stored: not fetched again
