"""extractors.http against a real HTTP server on 127.0.0.1."""

import gzip
import os
import socket
import threading
import zlib

import pytest

from extractors.charset import decode_html
from extractors.errors import BodyTooLarge, FetchError, RefusedAddress, TransientFetchError
from extractors.http import (
    Fetcher,
    FetchSettings,
    fetch_pages,
    is_public_address,
    parse_retry_after,
    redact,
)
from tests.helpers_http import LocalServer, Reply, Request

# Loopback is what a test server can bind: most tests allow private hosts explicitly.
LOCAL = FetchSettings(allow_private_hosts=True, retries=2, backoff=0.01, timeout=5.0)


@pytest.fixture
def fetcher():
    with Fetcher(LOCAL) as f:
        yield f


def conditional(req: Request) -> Reply:
    if req.headers.get("if-none-match") == '"v1"':
        return Reply(304)
    if req.headers.get("if-modified-since") == "Wed, 21 Oct 2015 07:28:00 GMT":
        return Reply(304)
    return Reply(
        200,
        b"<rss/>",
        {
            "ETag": '"v1"',
            "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
            "Content-Type": "application/rss+xml",
        },
    )


def test_plain_get_returns_body_and_validators(fetcher):
    with LocalServer({"/feed": conditional}) as server:
        result = fetcher.get(server.url("/feed"))
    assert (result.status, result.body) == (200, b"<rss/>")
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert result.content_type == "application/rss+xml"
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"
    assert server.requests[0].headers["user-agent"].startswith("newswatch/")


@pytest.mark.parametrize(
    ("validators", "sent_header"),
    [
        ({"etag": '"v1"'}, "if-none-match"),
        ({"last_modified": "Wed, 21 Oct 2015 07:28:00 GMT"}, "if-modified-since"),
    ],
)
def test_conditional_get_gives_304(fetcher, validators, sent_header):
    with LocalServer({"/feed": conditional}) as server:
        result = fetcher.get(server.url("/feed"), **validators)
    assert (result.status, result.body) == (304, b"")
    assert sent_header in server.requests[0].headers


def test_503_then_200_is_retried(fetcher):
    with LocalServer({"/p": [Reply(503), Reply(200, b"ok")]}) as server:
        result = fetcher.get(server.url("/p"))
        assert result.body == b"ok"
        assert len(server.hits("/p")) == 2


@pytest.mark.parametrize("status", [503, 429, 500, 502, 504, 408])
def test_transient_status_always_raises_after_retries(fetcher, status):
    with LocalServer({"/p": Reply(status)}) as server:
        with pytest.raises(TransientFetchError) as caught:
            fetcher.get(server.url("/p"))
        assert caught.value.status == status
        assert len(server.hits("/p")) == LOCAL.retries + 1


@pytest.mark.parametrize("status", [404, 403, 410, 400, 501])
def test_permanent_status_raises_fetch_error_without_retry(fetcher, status):
    with LocalServer({"/p": Reply(status)}) as server:
        with pytest.raises(FetchError) as caught:
            fetcher.get(server.url("/p"))
        assert caught.value.status == status
        assert len(server.hits("/p")) == 1


def test_retry_after_is_honoured(fetcher):
    with LocalServer({"/p": [Reply(503, headers={"Retry-After": "1"}), Reply(200, b"ok")]}) as server:
        assert fetcher.get(server.url("/p")).body == b"ok"
        first, second = server.hits("/p")
    assert second.at - first.at >= 0.95  # waited as told (the backoff alone is ~10 ms)


def test_retry_after_longer_than_the_cap_is_reported_not_waited_for():
    settings = FetchSettings(allow_private_hosts=True, retries=2, backoff=0.01, max_retry_wait=5)
    with (
        Fetcher(settings) as fetcher,
        LocalServer({"/p": Reply(429, headers={"Retry-After": "120"})}) as server,
    ):
        with pytest.raises(TransientFetchError) as caught:
            fetcher.get(server.url("/p"))
        assert len(server.hits("/p")) == 1
    assert caught.value.retry_after == 120


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"late", delay=3.0),  # no response headers in time
        Reply(200, [b"x"] * 40, chunk_delay=0.1),  # every read is quick, the whole body is not
    ],
    ids=["slow-headers", "drip-body"],
)
def test_slow_server_times_out(reply):
    settings = FetchSettings(allow_private_hosts=True, retries=0, timeout=0.5)
    with Fetcher(settings) as fetcher, LocalServer({"/slow": reply}) as server:
        with pytest.raises(TransientFetchError, match="timed out"):
            fetcher.get(server.url("/slow"))


def test_connection_refused_is_transient():
    with Fetcher(FetchSettings(allow_private_hosts=True, retries=0)) as fetcher:
        with LocalServer() as server:
            url = server.url("/gone")
        with pytest.raises(TransientFetchError):
            fetcher.get(url)


def test_gzip_bomb_is_stopped_by_the_decoded_cap():
    bomb = gzip.compress(b"\0" * 20_000_000, mtime=0)
    assert len(bomb) < 50_000
    settings = FetchSettings(allow_private_hosts=True, max_bytes=1_000_000)
    reply = Reply(200, bomb, {"Content-Encoding": "gzip", "Content-Type": "text/html"})
    with Fetcher(settings) as fetcher, LocalServer({"/bomb": reply}) as server:
        with pytest.raises(BodyTooLarge):
            fetcher.get(server.url("/bomb"))


def test_identity_body_over_the_cap_is_refused():
    settings = FetchSettings(allow_private_hosts=True, max_bytes=1000)
    with Fetcher(settings) as fetcher, LocalServer({"/big": Reply(200, b"a" * 5000)}) as server:
        with pytest.raises(BodyTooLarge):
            fetcher.get(server.url("/big"))


TEXT = b"<p>Interceptor test</p>" * 200


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("gzip", gzip.compress(TEXT, mtime=0)),
        ("x-gzip", gzip.compress(TEXT, mtime=0)),
        ("gzip", gzip.compress(TEXT[:100], mtime=0) + gzip.compress(TEXT[100:], mtime=0)),  # two members
        ("deflate", zlib.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some servers send it
        ("identity", TEXT),
    ],
)
def test_supported_encodings_decode(fetcher, encoding, encoded):
    with LocalServer({"/t": Reply(200, encoded, {"Content-Encoding": encoding})}) as server:
        assert fetcher.get(server.url("/t")).body == TEXT


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
def test_other_encodings_are_refused(fetcher, encoding):
    with LocalServer({"/t": Reply(200, b"\x1f\x8b junk", {"Content-Encoding": encoding})}) as server:
        with pytest.raises(FetchError, match="Content-Encoding"):
            fetcher.get(server.url("/t"))


def test_corrupt_gzip_is_a_fetch_error(fetcher):
    with LocalServer({"/t": Reply(200, b"not gzip at all", {"Content-Encoding": "gzip"})}) as server:
        with pytest.raises(FetchError, match="corrupt"):
            fetcher.get(server.url("/t"))


def test_loopback_refused_unless_allowed_or_trusted():
    with LocalServer({"/p": Reply(200, b"ok")}) as server:
        with Fetcher(FetchSettings()) as strict:
            with pytest.raises(RefusedAddress):
                strict.get(server.url("/p"))
            assert server.hits("/p") == []  # refused before any request
            assert strict.get(server.url("/p"), trusted=True).body == b"ok"
        with Fetcher(FetchSettings(allow_private_hosts=True)) as lenient:
            assert lenient.get(server.url("/p")).body == b"ok"


def rebinding_dns(monkeypatch, name: str, answers: list[str]) -> list[str]:
    """Lookups of `name` get the given addresses in turn (the last one from then on), as from a
    DNS-rebinding server, which answers a public address to the check and a private one to the
    connection; other names resolve as usual. Returns the addresses handed out, in order."""
    real, given = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        given.append(answers[min(len(given), len(answers) - 1)])
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (given[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return given


def test_a_name_rebound_to_a_private_address_after_the_check_is_refused_on_connecting(monkeypatch):
    with LocalServer({"/p": Reply(200, b"internal page")}) as server:
        given = rebinding_dns(monkeypatch, "rebind.example", ["93.184.216.34", "127.0.0.1"])
        with Fetcher(FetchSettings(retries=0)) as fetcher:
            with pytest.raises(RefusedAddress, match="non-public address 127.0.0.1"):
                fetcher.get(server.url("/p", host="rebind.example"))
        assert given == ["93.184.216.34", "127.0.0.1"]  # the check's lookup, then the connection's
        assert server.hits("/p") == []  # refused before a byte of the request was sent


def test_a_connection_a_trusted_feed_opened_to_a_private_address_carries_no_checked_request(monkeypatch):
    """The feed's own URL may reach a private address (it is configured); a page on the same
    name, checked and found public, must not go over the connection the feed left open."""
    with LocalServer({"/feed": Reply(200, b"feed"), "/p": Reply(200, b"internal page")}) as server:
        rebinding_dns(monkeypatch, "rebind.example", ["127.0.0.1", "93.184.216.34", "127.0.0.1"])
        with Fetcher(FetchSettings(retries=0)) as fetcher:
            assert fetcher.get(server.url("/feed", host="rebind.example"), trusted=True).body == b"feed"
            with pytest.raises(RefusedAddress):
                fetcher.get(server.url("/p", host="rebind.example"))
        assert server.hits("/p") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "http://localhost/",
    ],
)
def test_private_addresses_refused(url):
    with Fetcher(FetchSettings(retries=0)) as fetcher:
        with pytest.raises(RefusedAddress):
            fetcher.get(url)


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.1.1", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("224.0.0.251", False),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("2002:808:808::", True),  # 6to4 wrapping 8.8.8.8
        ("fec0::1", False),  # site-local (deprecated, still routed inside sites)
        ("64:ff9b::7f00:1", False),  # NAT64 to 127.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 to 8.8.8.8
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("::ffff:0:7f00:1", False),  # IPv4-translated
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated)
        ("2001:db8::1", False),  # documentation
        ("3fff::1", False),  # documentation (RFC 9637)
        ("5f00::1", False),  # SRv6 SIDs
        ("100::1", False),  # discard-only
        ("4000::1", False),  # outside 2000::/3: reserved
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo, client 192.0.2.45
        ("198.18.0.1", False),  # benchmarking
        ("192.0.0.8", False),  # IETF protocol assignments
        ("203.0.113.7", False),  # documentation
        ("not an ip", False),
    ],
)
def test_is_public_address(ip, public):
    assert is_public_address(ip) is public


def test_trusted_feed_redirect_to_another_loopback_host_is_refused():
    with LocalServer() as server:
        server.routes["/feed"] = Reply(302, headers={"Location": server.url("/moved", host="localhost")})
        server.routes["/moved"] = Reply(200, b"secret internal page")
        with Fetcher(FetchSettings(retries=0)) as fetcher:
            with pytest.raises(RefusedAddress):
                fetcher.get(server.url("/feed"), trusted=True)
        assert server.hits("/moved") == []


def test_trusted_feed_redirect_on_the_same_host_is_followed():
    with LocalServer(
        {"/feed": Reply(301, headers={"Location": "/feed2"}), "/feed2": Reply(200, b"ok")}
    ) as server:
        with Fetcher(FetchSettings()) as fetcher:
            result = fetcher.get(server.url("/feed"), trusted=True)
    assert (result.body, result.final_url) == (b"ok", server.url("/feed2"))
    assert result.url == server.url("/feed")


def test_redirect_loop_is_a_fetch_error(fetcher):
    with LocalServer({"/loop": Reply(302, headers={"Location": "/loop"})}) as server:
        with pytest.raises(FetchError, match="redirects"):
            fetcher.get(server.url("/loop"))
        assert len(server.hits("/loop")) == 6


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://example.com:99999/", "ftp://example.com/", "not a url", "http:///x"]
)
def test_junk_urls_are_fetch_errors(fetcher, url):
    with pytest.raises(FetchError):
        fetcher.get(url)


def test_errors_never_show_userinfo(fetcher):
    with LocalServer() as server:
        url = server.url("/missing").replace("http://", "http://reader:s3cret@")
        with pytest.raises(FetchError) as caught:
            fetcher.get(url)
    assert "s3cret" not in str(caught.value)
    assert "/missing" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@example.com/a?x=1", "https://example.com/a?x=1"),
        ("https://example.com/a", "https://example.com/a"),
    ],
)
def test_redact(url, shown):
    assert redact(url) == shown


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5", 5.0), ("0", 0.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value) == seconds


CYRILLIC = "Противоракетная оборона"
CYRILLIC_PAGE = (
    "Противоракетная оборона: испытание новой системы прошло успешно, сообщили в министерстве "
    "обороны. Перехватчик поразил цель над морем на высоте около ста километров."
)
WESTERN_PAGE = "Défense antimissile : la réunion à Zürich porte sur la Größe du système, dit-on. It’s “new”."
ENGLISH_PAGE = (
    "The interceptor hit its target over the sea at an altitude of about one hundred kilometres. " * 20
)
MENU_RU = "Главная Новости Политика Оборона Экономика Контакты Русский"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (f"<p>{CYRILLIC}</p>".encode("windows-1251"), "text/html; charset=windows-1251", CYRILLIC),
        (
            f'<html><head><meta charset="windows-1251"></head><p>{CYRILLIC}</p>'.encode("cp1251"),
            "text/html",
            CYRILLIC,
        ),
        (
            f'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r"><p>{CYRILLIC}'.encode(
                "koi8-r"
            ),
            None,
            CYRILLIC,
        ),
        ("<p>Zürich – “quoted”</p>".encode(), None, "Zürich – “quoted”"),
        ("<p>Zürich – “quoted”</p>".encode("cp1252"), "text/html; charset=ISO-8859-1", "Zürich – “quoted”"),
        ("<p>Zürich</p>".encode("latin-1"), None, "Zürich"),  # not UTF-8: single-byte fallback
        ("\ufeff<p>Zürich</p>".encode(), "text/html; charset=windows-1252", "Zürich"),  # BOM wins
        ("<p>Zürich</p>".encode(), "text/html; charset=bogus", "Zürich"),  # unknown label
        (b"<p>\x81\x8d</p>", "text/html; charset=utf-8", "\ufffd\ufffd"),  # never fails
        # One stray byte in a UTF-8 page costs one character, not the page (declared or not).
        (f"<p>{CYRILLIC}</p><p>{CYRILLIC}</p>".encode().replace(b"</p><p>", b"</p>\xff<p>"), None, CYRILLIC),
        (
            f"<p>{CYRILLIC} \u2014 {CYRILLIC}</p>".encode().replace("\u2014".encode(), b"\xe2\x80"),
            "text/html; charset=utf-8",
            f"{CYRILLIC} \ufffd {CYRILLIC}",
        ),
        # Undeclared single-byte pages: the encoding their words read best in.
        (f"<html><body><p>{CYRILLIC_PAGE}</p></body></html>".encode("cp1251"), None, CYRILLIC_PAGE),
        (f"<html><body><p>{CYRILLIC_PAGE}</p></body></html>".encode("koi8-r"), "text/html", CYRILLIC_PAGE),
        (f"<p>{WESTERN_PAGE}</p>".encode("cp1252"), None, WESTERN_PAGE),
        (f"<p>{ENGLISH_PAGE}</p><ul><li>{MENU_RU}</li></ul>".encode("cp1251"), None, MENU_RU),
    ],
)
def test_decode_html(body, content_type, expected):
    assert expected in decode_html(body, content_type)


def test_fetch_pages_keeps_order_and_turns_failures_into_pages():
    html_1251 = f"<html><title>{CYRILLIC}</title></html>".encode("windows-1251")
    routes = {
        "/a": Reply(200, b"<p>a</p>", {"Content-Type": "text/html"}),
        "/missing": Reply(404),
        "/ru": Reply(200, html_1251, {"Content-Type": "text/html; charset=windows-1251"}),
        "/busy": Reply(503),
        "/doc.pdf": Reply(200, b"%PDF-1.4", {"Content-Type": "application/pdf"}),
    }
    settings = FetchSettings(allow_private_hosts=True, retries=0)
    with LocalServer(routes) as server, Fetcher(settings) as fetcher:
        urls = [server.url(p) for p in ("/a", "/missing", "/ru", "/busy", "/doc.pdf")]
        urls.append("http://10.0.0.1/")  # allowed by the settings, but nothing listens: transient
        pages = fetch_pages(urls, fetcher)
    assert [p.url for p in pages] == urls
    assert [p.status for p in pages[:5]] == [200, 404, 200, 503, 200]
    assert pages[0].html == "<p>a</p>" and pages[0].error is None
    assert CYRILLIC in pages[2].html
    assert [p.html for p in pages[1::2]] == [None, None, None]
    assert "FetchError" in pages[1].error and "404" in pages[1].error
    assert "TransientFetchError" in pages[3].error
    assert "application/pdf" in pages[4].error and pages[4].html is None
    assert all(p.fetched_at is not None and p.fetched_at.tzinfo is not None for p in pages)


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
def test_fetch_pages_limits_requests_per_host():
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(req: Request) -> Reply:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        threading.Event().wait(0.1)
        with lock:
            state["now"] -= 1
        return Reply(200, b"ok", {"Content-Type": "text/html"})

    settings = FetchSettings(allow_private_hosts=True, per_host=2, max_workers=8)
    with LocalServer({f"/{i}": slow for i in range(8)}) as server, Fetcher(settings) as fetcher:
        pages = fetch_pages([server.url(f"/{i}") for i in range(8)], fetcher)
    assert [p.html for p in pages] == ["ok"] * 8
    assert state["max"] == 2


def test_fetch_pages_returns_every_page_of_several_hosts_in_order():
    # Two spellings of the server's address are two hosts for politeness. "localhost" has a single
    # URL and a free slot left after it, the other host more URLs than threads: hosts take turns,
    # threads wait for slots, and no page may go missing.
    settings = FetchSettings(allow_private_hosts=True, per_host=2, max_workers=3)
    routes = {f"/{i}": Reply(200, f"<p>{i}</p>".encode(), {"Content-Type": "text/html"}) for i in range(40)}
    with LocalServer(routes) as server, Fetcher(settings) as fetcher:
        urls = [server.url(f"/{i}", host="localhost" if i == 0 else "127.0.0.1") for i in range(40)]
        seen: list[str] = []
        pages = fetch_pages(urls, fetcher, on_page=lambda page: seen.append(page.url))
    assert [p.url for p in pages] == urls
    assert [p.html for p in pages] == [f"<p>{i}</p>" for i in range(40)]
    assert sorted(seen) == sorted(urls)


def test_fetch_pages_raises_what_on_page_raised():
    routes = {f"/{i}": Reply(200, b"<p>x</p>", {"Content-Type": "text/html"}) for i in range(10)}
    settings = FetchSettings(allow_private_hosts=True, per_host=2)

    def refuse(page):
        raise RuntimeError("the extractor pool was closed")

    with LocalServer(routes) as server, Fetcher(settings) as fetcher:
        with pytest.raises(RuntimeError, match="pool was closed"):
            fetch_pages([server.url(f"/{i}") for i in range(10)], fetcher, on_page=refuse)


def test_fetch_pages_with_no_urls(fetcher):
    assert fetch_pages([], fetcher) == []
