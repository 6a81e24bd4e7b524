"""The replay server: static files over real HTTP, conditional GET, placeholders, sidecar overrides."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import feedparser
import httpx
import pytest

from flows.demo.replay import ReplayServer

DEMO_SITE = Path(__file__).resolve().parents[1] / "flows" / "demo" / "site"
FIXED_MTIME = 1_767_225_600  # 2026-01-01T00:00:00Z

CP1251_FEED = (
    '<?xml version="1.0" encoding="windows-1251"?>\n'
    "<rss><channel><title>Вестник</title><item><title>Герасимов</title>"
    "<link>{{BASE}}/a.html</link></item></channel></rss>\n"
).encode("windows-1251")

FILES: dict[str, bytes] = {
    "feeds/plain.xml": b"<rss><channel><title>plain</title></channel></rss>\n",
    "feeds/links.xml": b"<rss><link>{{BASE}}/a.html</link><port>{{SMTP_PORT}}</port><x>{{UNKNOWN}}</x></rss>",
    "feeds/ru.xml": CP1251_FEED,
    "feeds/down.xml": b"<rss/>",
    "feeds/x.atom": b"<feed xmlns='http://www.w3.org/2005/Atom'/>",
    "a.html": b"<!doctype html><title>a</title><a href='{{BASE}}/b.html'>b</a>",
    "notes.txt": b"base={{BASE}}",
    "img/logo.png": b"\x89PNG{{BASE}}",  # binary: placeholders are left alone
}
SIDECAR = {
    "/feeds/ru.xml": {"content_type": "application/rss+xml; charset=windows-1251"},
    "/feeds/down.xml": {"status": 503, "headers": {"Retry-After": "120"}},
    "/feeds/gone.xml": {"status": 500},
    "/a.html": {"last_modified": "2026-03-01T12:00:00Z", "headers": {"X-Demo": "yes"}},
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (tmp_path / "secret.txt").write_text("outside the root")
    for relative, body in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    (root / "_headers.json").write_text(json.dumps(SIDECAR))
    return root


@pytest.fixture
def server(site: Path) -> Iterator[ReplayServer]:
    with ReplayServer(site, substitutions={"SMTP_PORT": "2525"}) as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/feeds/plain.xml", 200, "application/rss+xml; charset=utf-8"),
        ("/feeds/x.atom", 200, "application/atom+xml; charset=utf-8"),
        ("/a.html", 200, "text/html; charset=utf-8"),
        ("/notes.txt", 200, "text/plain; charset=utf-8"),
        ("/img/logo.png", 200, "image/png"),
        ("/feeds/ru.xml", 200, "application/rss+xml; charset=windows-1251"),  # sidecar content_type
        ("/feeds/down.xml", 503, "application/rss+xml; charset=utf-8"),  # sidecar status, file exists
        ("/feeds/gone.xml", 500, "text/plain; charset=utf-8"),  # sidecar status, no file
        ("/feeds/missing.xml", 404, "text/plain; charset=utf-8"),
        ("/_headers.json", 404, "text/plain; charset=utf-8"),  # the sidecar itself is not served
        ("/feeds/", 404, "text/plain; charset=utf-8"),  # directories are not listed
    ],
)
def test_status_and_content_type(
    server: ReplayServer, client: httpx.Client, path: str, status: int, content_type: str
) -> None:
    response = client.get(server.base_url + path)
    assert response.status_code == status
    assert response.headers["content-type"] == content_type


def test_200_carries_validators_and_exact_bytes(server: ReplayServer, client: httpx.Client) -> None:
    response = client.get(server.base_url + "/feeds/plain.xml")
    assert response.content == FILES["feeds/plain.xml"]
    assert response.headers["etag"].startswith('"') and not response.headers["etag"].startswith("W/")
    assert response.headers["last-modified"] == formatdate(FIXED_MTIME, usegmt=True)
    assert response.headers["content-length"] == str(len(FILES["feeds/plain.xml"]))


def test_sidecar_fixed_date_and_extra_headers(server: ReplayServer, client: httpx.Client) -> None:
    page = client.get(server.base_url + "/a.html")
    assert page.headers["last-modified"] == "Sun, 01 Mar 2026 12:00:00 GMT"
    assert page.headers["x-demo"] == "yes"
    down = client.get(server.base_url + "/feeds/down.xml")
    assert down.headers["retry-after"] == "120"


@pytest.mark.parametrize(
    ("validators", "status"),
    [
        (lambda etag, lm: {"If-None-Match": etag}, 304),
        (lambda etag, lm: {"If-None-Match": f'"other", {etag}'}, 304),
        (lambda etag, lm: {"If-None-Match": f"W/{etag}"}, 304),  # weak comparison for If-None-Match
        (lambda etag, lm: {"If-None-Match": "*"}, 304),
        (lambda etag, lm: {"If-None-Match": '"stale"'}, 200),
        (lambda etag, lm: {"If-Modified-Since": lm}, 304),
        (lambda etag, lm: {"If-Modified-Since": formatdate(FIXED_MTIME + 3600, usegmt=True)}, 304),
        (lambda etag, lm: {"If-Modified-Since": formatdate(FIXED_MTIME - 1, usegmt=True)}, 200),
        (lambda etag, lm: {"If-Modified-Since": "not a date"}, 200),
        # If-None-Match decides when both are sent: a stale ETag wins over a fresh date.
        (lambda etag, lm: {"If-None-Match": '"stale"', "If-Modified-Since": lm}, 200),
        (lambda etag, lm: {}, 200),
    ],
)
def test_conditional_get(server: ReplayServer, client: httpx.Client, validators, status: int) -> None:
    url = server.base_url + "/feeds/plain.xml"
    first = client.get(url)
    again = client.get(url, headers=validators(first.headers["etag"], first.headers["last-modified"]))
    assert again.status_code == status
    if status == 304:
        assert again.content == b""
        assert again.headers["etag"] == first.headers["etag"]
    else:
        assert again.content == first.content


def test_placeholders_are_substituted(server: ReplayServer, client: httpx.Client) -> None:
    body = client.get(server.base_url + "/feeds/links.xml").text
    assert body == (
        f"<rss><link>{server.base_url}/a.html</link><port>2525</port><x>{{{{UNKNOWN}}}}</x></rss>"
    )
    assert client.get(server.base_url + "/notes.txt").text == f"base={server.base_url}"
    assert client.get(server.base_url + "/img/logo.png").content == FILES["img/logo.png"]


def test_etag_is_of_the_served_bytes(site: Path, client: httpx.Client) -> None:
    with ReplayServer(site) as one, ReplayServer(site) as two:
        etags = {s.port: client.get(s.base_url + "/a.html").headers["etag"] for s in (one, two)}
        plain = {client.get(s.base_url + "/feeds/plain.xml").headers["etag"] for s in (one, two)}
    assert len(set(etags.values())) == 2  # different base URL, different bytes
    assert len(plain) == 1  # no placeholder, same bytes


def test_windows_1251_bytes_intact_apart_from_placeholder(server: ReplayServer, client: httpx.Client) -> None:
    response = client.get(server.base_url + "/feeds/ru.xml")
    expected = CP1251_FEED.replace(b"{{BASE}}", server.base_url.encode())
    assert response.content == expected
    parsed = feedparser.parse(response.content)
    assert parsed.feed.title == "Вестник"
    assert parsed.entries[0].title == "Герасимов"
    assert parsed.entries[0].link == server.base_url + "/a.html"


def test_changed_file_is_served_fresh(site: Path, server: ReplayServer, client: httpx.Client) -> None:
    url = server.base_url + "/feeds/plain.xml"
    etag = client.get(url).headers["etag"]
    path = site / "feeds/plain.xml"
    path.write_bytes(b"<rss>changed</rss>")
    os.utime(path, (FIXED_MTIME + 60, FIXED_MTIME + 60))
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.content == b"<rss>changed</rss>"


def test_sidecar_edits_apply_while_running(site: Path, server: ReplayServer, client: httpx.Client) -> None:
    url = server.base_url + "/feeds/plain.xml"
    assert client.get(url).status_code == 200
    (site / "_headers.json").write_text(json.dumps({"/feeds/plain.xml": {"status": 500}, "_": "resized"}))
    assert client.get(url).status_code == 500


def test_request_log(server: ReplayServer, client: httpx.Client) -> None:
    base = server.base_url
    client.get(base + "/a.html?utm_source=rss")
    client.head(base + "/feeds/plain.xml")
    client.get(base + "/nope.html")
    client.post(base + "/a.html")
    assert server.requests == [
        ("GET", "/a.html?utm_source=rss", 200),
        ("HEAD", "/feeds/plain.xml", 200),
        ("GET", "/nope.html", 404),
        ("POST", "/a.html", 405),
    ]
    server.clear_requests()
    assert server.requests == []


@pytest.mark.parametrize("target", ["/../secret.txt", "/feeds/../../secret.txt", "/%2e%2e/secret.txt"])
def test_no_escape_from_root(server: ReplayServer, target: str) -> None:
    # http.client sends the target as written (httpx would normalise the dot segments away).
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        assert (response.status, response.read()) == (404, b"404 Not Found\n")
    finally:
        connection.close()


def test_head_sends_headers_without_body(server: ReplayServer, client: httpx.Client) -> None:
    response = client.head(server.base_url + "/feeds/plain.xml")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(FILES["feeds/plain.xml"]))


def test_lifecycle(site: Path, client: httpx.Client) -> None:
    server = ReplayServer(site)
    with pytest.raises(RuntimeError):
        _ = server.base_url
    server.start()
    base = server.base_url
    assert base.startswith("http://127.0.0.1:") and server.port > 0
    assert client.get(base + "/a.html").status_code == 200
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/a.html", timeout=2)


def test_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ReplayServer(tmp_path / "nowhere").start()


def test_demo_site_serves_every_feed(client: httpx.Client) -> None:
    """The bundled site: each feed answers as EXPECTED.md says, and every linked page resolves."""
    expected = json.loads((DEMO_SITE / "expected.json").read_text(encoding="utf-8"))
    with ReplayServer(DEMO_SITE) as server:
        statuses = {
            name: client.get(f"{server.base_url}/feeds/{name}").status_code
            for name in ("wire.xml", "defense.atom", "ru-1251.xml", "misc.xml", "broken.xml", "gone.xml")
        }
        assert statuses == {n: (500 if n == "gone.xml" else 200) for n in statuses}
        for item in expected["items"]:
            if item["page_status"] is not None:
                page = client.get(server.base_url + item["link_path"])
                assert page.status_code == item["page_status"], item["item_title"]
                assert "{{" not in page.text
