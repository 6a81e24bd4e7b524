"""A channel's secret may come from a Prefect Secret block instead of an environment variable: the
block is read when an alert is sent (a real SMTP server checks the login), and a missing block keeps
the alert pending with a reason that names the block, never its value."""

from __future__ import annotations

import duckdb
import pytest

from flows.demo.sinks import SmtpSink
from tests.e2e import ingest
from tests.helpers_http import LocalServer, Reply
from tests.test_stop_and_crash import rss, story

pytestmark = pytest.mark.slow
USER, PASSWORD = "analyst", "pw-from-a-block-7Hq"


def _config(tmp_path, site: LocalServer, smtp_port: int, block: str):
    cfg = tmp_path / "newswatch.toml"
    cfg.write_text(
        f"""
[warehouse]
path = "{tmp_path / "newswatch.duckdb"}"
[fetch]
allow_private_hosts = true
[extract]
workers = 1
[watchlist]
keywords = ["interceptor"]
[[rules]]
name = "interceptors"
keywords = ["interceptor"]
channels = ["mail"]
[channels.mail]
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
security = "none"
sender = "newswatch@example.org"
recipients = ["desk@example.org"]
username_env = "NEWSWATCH_TEST_BLOCK_USER"
password_block = "{block}"
[[feeds]]
name = "wire"
url = "{site.url("/feed.xml")}"
""",
        encoding="utf-8",
    )
    return cfg


def _alerts(tmp_path) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "newswatch.duckdb"), read_only=True) as con:
        return con.execute("SELECT status, last_error FROM alerts").fetchall()


def test_an_email_password_from_a_secret_block(tmp_path, prefect_harness, monkeypatch):
    from prefect.blocks.system import Secret

    Secret(value=PASSWORD).save("newswatch-test-smtp-password", overwrite=True)
    monkeypatch.setenv("NEWSWATCH_TEST_BLOCK_USER", USER)
    with LocalServer() as site, SmtpSink(users={USER: PASSWORD}) as smtp:
        site.routes["/feed.xml"] = Reply(200, rss([("Interceptor test 1", site.url("/s1.html"), "s1")]), {})
        site.routes["/s1.html"] = Reply(200, story(1), {"Content-Type": "text/html"})
        result = ingest(_config(tmp_path, site, smtp.port, "newswatch-test-smtp-password"))
    assert result.counts["alerts_sent"] == 1, result.counts
    assert [m.login for m in smtp.received] == [USER]
    assert _alerts(tmp_path) == [("sent", None)]


def test_a_missing_secret_block_keeps_the_alert_pending_naming_the_block(
    tmp_path, prefect_harness, monkeypatch
):
    monkeypatch.setenv("NEWSWATCH_TEST_BLOCK_USER", USER)
    with LocalServer() as site, SmtpSink(users={USER: PASSWORD}) as smtp:
        site.routes["/feed.xml"] = Reply(200, rss([("Interceptor test 2", site.url("/s2.html"), "s2")]), {})
        site.routes["/s2.html"] = Reply(200, story(2), {"Content-Type": "text/html"})
        result = ingest(_config(tmp_path, site, smtp.port, "no-such-block"))
    assert result.counts["alerts_pending"] == 1 and not smtp.received
    ((status, error),) = _alerts(tmp_path)
    assert status == "pending" and "Prefect Secret block 'no-such-block'" in error
