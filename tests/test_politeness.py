"""Politeness holds across a run: with several page batches in flight at once, one host still
never sees more than `[fetch] per_host` requests at a time (real server, real flow)."""

from __future__ import annotations

import pytest

from tests.e2e import ingest
from tests.helpers_http import LocalServer, Reply, Request

pytestmark = pytest.mark.slow
PAGES = 12
DELAY = 0.2  # each page answer takes this long, so overlapping requests show in their arrival times


def feed(server: LocalServer) -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>{server.url(f'/p/{i}')}</link></item>" for i in range(PAGES)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    )


def test_one_host_never_sees_more_than_per_host_requests(tmp_path, prefect_harness):
    arrivals: list[float] = []

    def page(request: Request) -> Reply:
        arrivals.append(request.at)
        body = b"<html><body><p>Missile defense news, story text.</p></body></html>"
        return Reply(body=body, headers={"Content-Type": "text/html"}, delay=DELAY)

    with LocalServer({f"/p/{i}": page for i in range(PAGES)}) as server:
        server.routes["/feed.xml"] = Reply(body=feed(server), headers={"Content-Type": "application/rss+xml"})
        cfg = tmp_path / "newswatch.toml"
        cfg.write_text(
            f"""
[warehouse]
path = "{tmp_path / "newswatch.duckdb"}"
[fetch]
allow_private_hosts = true
per_host = 1
[runner]
page_batch = 4          # 5 batches, 2 of them in flight at once
[extract]
workers = 0
[[feeds]]
name = "one-host"
url = "{server.url("/feed.xml")}"
""",
            encoding="utf-8",
        )
        result = ingest(cfg)
    assert result.status == "completed" and len(arrivals) == PAGES
    arrivals.sort()
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= DELAY * 0.9, f"requests overlapped on one host: gaps {gaps}"
