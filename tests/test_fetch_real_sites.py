"""What real sites need of the fetcher, against real servers on 127.0.0.1: international names,
proxies from the environment, per-feed request settings kept to the feed's host, cookie jars that
live for one fetch only, and feeds that moved."""

from __future__ import annotations

import socket

import pytest

from extractors.http import Fetcher, FetchSettings, RequestOverrides, poll_feed
from tests.helpers_http import LocalServer, Reply
from tests.hostile_server import FEED, GOOD_ITEMS, HostileServer, reply, rss

LOCAL = FetchSettings(allow_private_hosts=True, retries=0, timeout=5.0)


def resolve_to_loopback(monkeypatch, names: set[str]) -> list[str]:
    """Names in `names` resolve to 127.0.0.1 (there is no DNS here); the names looked up are
    recorded, so a test sees which spelling of a name was asked for."""
    real, asked = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_an_international_name_is_looked_up_and_sent_in_idna2008_form(monkeypatch):
    asked = resolve_to_loopback(monkeypatch, {"xn--fa-hia.de"})
    with LocalServer({"/straße": Reply(404), "/stra%C3%9Fe": Reply(200, b"ok")}) as server:
        with Fetcher(LOCAL) as fetcher:
            result = fetcher.get(f"http://faß.de:{server.port}/straße")
    assert result.body == b"ok"
    assert result.final_url == f"http://xn--fa-hia.de:{server.port}/stra%C3%9Fe"
    assert server.requests[0].headers["host"] == f"xn--fa-hia.de:{server.port}"
    assert "fass.de" not in asked  # IDNA2003 would have fetched another site


def test_a_proxy_from_the_environment_is_used_and_no_proxy_is_honoured(monkeypatch):
    with HostileServer([]) as server:
        server.routes["/p"] = reply(200, b"<p>through the proxy</p>", {"Content-Type": "text/html"})
        monkeypatch.setenv("HTTP_PROXY", server.proxy_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with Fetcher(LOCAL) as fetcher:
            assert fetcher.get(server.url("/p")).body == b"<p>through the proxy</p>"
        assert [r.target for r in server.requests_seen("proxy")] == [server.url("/p")]  # absolute form
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with Fetcher(LOCAL) as fetcher:
            assert fetcher.get(server.url("/p")).body == b"<p>through the proxy</p>"
        assert len(server.requests_seen("proxy")) == 1  # the second went direct


def test_an_unusable_proxy_is_named_on_every_fetch(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.corp:1080")
    with Fetcher(LOCAL) as fetcher:
        with pytest.raises(Exception, match="HTTPS_PROXY: proxy 'socks5://proxy.corp:1080': only http://"):
            fetcher.get("https://example.com/")


def test_a_feeds_headers_and_cookies_go_to_its_host_only_its_user_agent_everywhere():
    overrides = RequestOverrides(
        user_agent="analyst-agent/1", headers=(("X-Token", "t"), ("Accept", "application/rss+xml")),
        cookies=(("consent", "yes"),),
    )  # fmt: skip
    with LocalServer() as server:
        server.routes["/feed"] = Reply(302, headers={"Location": server.url("/elsewhere", host="localhost")})
        server.routes["/elsewhere"] = Reply(200, rss(*GOOD_ITEMS), FEED)
        with Fetcher(LOCAL) as fetcher:
            poll = poll_feed("f", server.url("/feed"), fetcher, overrides=overrides)
    assert poll.outcome == "ok"
    own, other = server.requests
    assert (own.headers["x-token"], own.headers["cookie"], own.headers["accept"]) == (
        "t",
        "consent=yes",
        "application/rss+xml",
    )
    assert own.headers["user-agent"] == other.headers["user-agent"] == "analyst-agent/1"
    assert "x-token" not in other.headers and "cookie" not in other.headers
    assert other.headers["accept"] == "*/*"


def test_cookies_a_site_set_are_kept_for_one_fetch_only():
    with LocalServer() as server:
        server.routes["/a"] = [
            Reply(302, headers={"Location": "/a", "Set-Cookie": "session=s1; Path=/"}),
            Reply(200, b"<p>a</p>", {"Content-Type": "text/html"}),
        ]
        server.routes["/b"] = Reply(200, b"<p>b</p>", {"Content-Type": "text/html"})
        with Fetcher(LOCAL) as fetcher:
            fetcher.get(server.url("/a"))
            fetcher.get(server.url("/b"))
    assert [r.headers.get("cookie") for r in server.requests] == [None, "session=s1", None]


@pytest.mark.parametrize(("status", "moved"), [(301, True), (308, True), (302, False), (307, False)], ids=str)
def test_only_a_permanent_redirect_marks_a_feed_as_moved(status, moved):
    with LocalServer() as server:
        server.routes["/old.xml"] = Reply(status, headers={"Location": "/new.xml"})
        server.routes["/new.xml"] = Reply(200, rss(*GOOD_ITEMS), FEED)
        with Fetcher(LOCAL) as fetcher:
            poll = poll_feed("f", server.url("/old.xml"), fetcher)
    assert poll.outcome == "ok" and len(poll.entries) == 2
    assert poll.moved_to == (server.url("/new.xml") if moved else None)


def test_a_moved_feed_that_then_fails_still_says_where_it_moved():
    with LocalServer() as server:
        server.routes["/old.xml"] = Reply(301, headers={"Location": "/new.xml"})
        server.routes["/new.xml"] = Reply(200, b"<html>not a feed</html>", {"Content-Type": "text/html"})
        with Fetcher(LOCAL) as fetcher:
            poll = poll_feed("f", server.url("/old.xml"), fetcher)
    assert (poll.outcome, poll.moved_to) == ("failed", server.url("/new.xml"))
