"""The benchmark site's static server (bench/static_server.py), run as the benchmarks run it: a child
process started by bench.site.SiteServer, spoken to over real sockets."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from email.utils import formatdate

import psutil
import pytest

from bench.site import ROOT, SiteServer, Template, build_site, write_feeds

FEED = b'<rss version="2.0"><channel><link>{{BASE}}/</link><item><link>{{BASE}}/a/p1.html</link></item></channel></rss>'
PAGE = "<html><body><p>Missile defense \u2014 {{not a placeholder}}</p></body></html>".encode()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("site")
    (root / "feeds").mkdir()
    (root / "a").mkdir()
    (root / "feeds" / "f1.xml").write_bytes(FEED)
    (root / "a" / "p1.html").write_bytes(PAGE * 2000)  # ~130 KB: more than one socket write
    with SiteServer(root, ["127.0.0.1"]) as server:
        yield root, server


def connect(site) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", site[1].port, timeout=10)


def get(site, path: str, method: str = "GET", **headers: str) -> http.client.HTTPResponse:
    conn = connect(site)
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_get_serves_the_file_with_base_replaced(site):
    root, server = site
    feed = get(site, "/feeds/f1.xml")
    assert feed.status == 200
    assert feed.body == FEED.replace(b"{{BASE}}", f"http://127.0.0.1:{server.port}".encode())
    assert feed.getheader("Content-Type") == "application/rss+xml; charset=utf-8"
    assert feed.getheader("Content-Length") == str(len(feed.body))
    page = get(site, "/a/p1.html?utm=x")
    assert page.status == 200 and page.body == (root / "a" / "p1.html").read_bytes()  # untouched
    assert page.getheader("Content-Type") == "text/html; charset=utf-8"
    mtime = (root / "a" / "p1.html").stat().st_mtime
    assert page.getheader("Last-Modified") == formatdate(int(mtime), usegmt=True)


def test_conditional_get(site):
    first = get(site, "/feeds/f1.xml")
    etag, last_modified = first.getheader("ETag"), first.getheader("Last-Modified")
    assert etag and last_modified
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-Modified-Since": last_modified},
        {"If-Modified-Since": formatdate(time.time() + 3600, usegmt=True)},  # later: parsed, still 304
    ):
        again = get(site, "/feeds/f1.xml", **headers)
        assert (again.status, again.body, again.getheader("ETag")) == (304, b"", etag), headers
    for headers in (
        {"If-None-Match": '"other"'},
        {"If-None-Match": '"other"', "If-Modified-Since": last_modified},  # If-None-Match wins
        {"If-Modified-Since": formatdate(0, usegmt=True)},
        {"If-Modified-Since": "not a date"},
    ):
        again = get(site, "/feeds/f1.xml", **headers)
        assert (again.status, again.body) == (200, first.body), headers


def test_head_has_no_body_and_unknown_paths_are_404(site):
    conn = connect(site)
    conn.request("HEAD", "/a/p1.html")
    head = conn.getresponse()
    assert head.status == 200 and head.read() == b""
    assert head.getheader("Content-Length") == str(len(PAGE * 2000))
    # Had the HEAD sent a body, this response on the same connection would be garbage.
    conn.request("GET", "/missing.html")
    missing = conn.getresponse()
    assert (missing.status, missing.read()) == (404, b"404 Not Found\n")
    conn.close()
    assert get(site, "/", method="HEAD").status == 404
    assert get(site, "/a/p1.html", method="POST").status == 405


def test_keep_alive_and_connection_close(site):
    conn = connect(site)
    conn.request("GET", "/a/p1.html")
    assert conn.getresponse().read() == PAGE * 2000
    sock = conn.sock
    assert sock is not None  # http.client drops the socket when the response says it will close
    conn.request("GET", "/feeds/f1.xml")  # ... and reconnects: the same socket means it was kept
    assert conn.getresponse().status == 200 and conn.sock is sock
    conn.close()
    with socket.create_connection(("127.0.0.1", site[1].port), timeout=10) as raw:
        raw.sendall(b"GET /feeds/f1.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := raw.recv(65536):  # ends only when the server closes the connection
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in received


def test_stops_on_sigterm_and_when_orphaned(tmp_path):
    (tmp_path / "x.html").write_bytes(b"x")
    with SiteServer(tmp_path, ["127.0.0.1"]) as server:
        process = server.process
    assert process.returncode == 0  # __exit__ sent SIGTERM and waited
    # A parent that dies without stopping its server: the server notices and exits by itself.
    parent = subprocess.run(
        [sys.executable, "-c", "from bench.site import SiteServer; from pathlib import Path;"
         f"print(SiteServer(Path({str(tmp_path)!r}), ['127.0.0.1']).__enter__().pid)"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60, check=True,
    )  # fmt: skip
    orphan = int(parent.stdout.split()[-1])
    assert alive(orphan)
    deadline = time.monotonic() + 10
    while alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(orphan):
        psutil.Process(orphan).kill()  # do not leave it behind when the test fails
        pytest.fail("the orphaned server did not exit")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_reload_serves_changed_and_new_files_on_the_same_port(tmp_path):
    (tmp_path / "feed.xml").write_bytes(b"<rss>one</rss>")
    (tmp_path / "kept.html").write_bytes(b"<p>kept</p>")
    with SiteServer(tmp_path, ["127.0.0.1"]) as server:
        site = (tmp_path, server)
        etag = get(site, "/kept.html").getheader("ETag")
        assert get(site, "/new.html").status == 404
        (tmp_path / "feed.xml").write_bytes(b"<rss>one, two</rss>")
        (tmp_path / "new.html").write_bytes(b"<p>new</p>")
        server.reload()
        assert get(site, "/feed.xml").body == b"<rss>one, two</rss>"
        assert get(site, "/new.html").body == b"<p>new</p>"
        kept = get(site, "/kept.html", **{"If-None-Match": etag})
        assert kept.status == 304  # an unchanged file keeps its validators


def test_feeds_link_more_pages_when_rewritten_and_only_the_feeds_that_change_are_written(tmp_path):
    template = Template(
        "t", ("<html><body><article><p>", "</p><p>", "</p><p>", "</p></article></body></html>")
    )
    pool = [f"Sentence number {i} of the pool, long enough to read like news prose here." for i in range(40)]
    site = build_site(
        tmp_path, pages=6, feeds=3, hosts=["127.0.0.1"], templates=[template], pool=pool, linked=4
    )
    feed = [tmp_path / p.lstrip("/") for p in site.feed_paths]
    assert [f.read_text().count("<item>") for f in feed] == [2, 1, 1]  # pages 0-3: feeds 0 1 2 0
    assert (tmp_path / "articles" / "p00005.html").exists()  # written, not linked yet
    mtime0 = feed[0].stat().st_mtime_ns
    assert write_feeds(site, 6) == [1, 2]  # pages 4 and 5 go to feeds 1 and 2
    assert [f.read_text().count("<item>") for f in feed] == [2, 2, 2]
    assert "/articles/p00005.html" in feed[2].read_text()
    assert feed[0].stat().st_mtime_ns == mtime0  # untouched: it still answers 304
    assert write_feeds(site, 4) == [1, 2] and "/articles/p00005.html" not in feed[2].read_text()
