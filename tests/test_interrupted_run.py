"""A run stopped after polling, before storing, must not lose the stories it polled.

The feeds' poll state (ETag, Last-Modified) is stored after the articles: had it been stored first,
the next run would get 304 for the feed and never see the story again.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.e2e import NEWSWATCH, ingest, user_env
from tests.helpers_http import LocalServer, Reply, Request
from tests.test_extract import ARTICLE_PAGE

ETAG = '"v1"'
# Runs `newswatch` with Ctrl-C's default disposition, as in a terminal. A command started in the
# background of a non-interactive shell (`make test &`) inherits SIGINT ignored, and so would the run.
WITH_DEFAULT_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


def _feed(server: LocalServer):
    rss = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>Interceptor hits target in Pacific test</title><link>{server.url("/story")}</link></item>
</channel></rss>""".encode()

    def route(request: Request) -> Reply:
        if request.headers.get("if-none-match") == ETAG:
            return Reply(status=304, headers={"ETag": ETAG})
        return Reply(body=rss, headers={"Content-Type": "application/rss+xml", "ETag": ETAG})

    return route


def test_a_run_interrupted_while_fetching_leaves_the_feed_to_be_polled_afresh(tmp_path, prefect_harness):
    page = Reply(body=ARTICLE_PAGE.encode(), headers={"Content-Type": "text/html; charset=utf-8"})
    stalled = Reply(body=page.body, headers=page.headers, delay=8)  # the first run is stopped meanwhile
    with LocalServer({"/story": [stalled, page]}) as server:
        server.routes["/feed.xml"] = _feed(server)
        cfg = tmp_path / "newswatch.toml"
        cfg.write_text(
            f"""
[warehouse]
path = "{tmp_path / "newswatch.duckdb"}"
[fetch]
allow_private_hosts = true
timeout = 60
retries = 0
[[feeds]]
name = "wire"
url = "{server.url("/feed.xml")}"
""",
            encoding="utf-8",
        )
        env = user_env(tmp_path / "prefect-home", api_url=prefect_harness)
        first = subprocess.Popen(
            [sys.executable, "-c", WITH_DEFAULT_SIGINT, str(NEWSWATCH), "run", "--config", str(cfg)],
            env=env,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 90
            while not server.hits("/story") and time.monotonic() < deadline and first.poll() is None:
                time.sleep(0.1)
            assert server.hits("/story"), "the first run never asked for the story"
            first.send_signal(signal.SIGINT)  # Ctrl-C while the page is being fetched
            assert first.wait(60) != 0
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(10)
        assert server.hits("/feed.xml")[-1].headers.get("if-none-match") is None

        result = ingest(cfg)
    assert result.counts["articles_stored"] == 1, result.counts
    assert result.polls[0]["status"] == 200  # polled afresh, not "304 Not Modified"
    assert server.hits("/feed.xml")[-1].headers.get("if-none-match") is None
