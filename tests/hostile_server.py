"""A hostile web server on 127.0.0.1, and its cases as data: what the server does on a connection,
and what newswatch must record when it fetches from it (a Page, or a FeedPoll for a configured feed).

Used by tests/test_hostile.py (every case, each bounded in time) and bench/hostile.py (CPU seconds
and peak memory per case class). The server speaks raw sockets, so a case can do what no
well-behaved server would: drip a status line, send a decompression bomb, never end a body. Besides
its main port it listens on a second port (a "private service" a feed must not redirect into), with
TLS under a self-signed certificate, and as a forwarding proxy (CONNECT and absolute-form requests).
Every script ends by itself within seconds, or when the client goes away.
"""

from __future__ import annotations

import functools
import gzip
import re
import select
import socket
import ssl
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractors.http import Fetcher, FetchSettings, RequestOverrides, fetch_pages, poll_feed
from extractors.records import FeedPoll, Page

HOST = "127.0.0.1"
MAX_HEAD = 64 * 1024  # a request head longer than this is dropped


@dataclass(frozen=True)
class Request:
    listener: str  # main | other | tls | proxy
    method: str
    target: str  # as sent: origin form, absolute form (through a proxy) or host:port (CONNECT)
    path: str  # the path of the target
    headers: dict[str, str]  # lower-cased names


Script = Callable[["Conn", Request, "HostileServer"], None]


class Conn:
    """One accepted connection, as a case's script uses it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def drip(self, data: bytes, every: float, size: int = 1) -> None:
        """Send `data` `size` bytes at a time, one piece every `every` seconds."""
        for start in range(0, len(data), size):
            self.sock.sendall(data[start : start + size])
            time.sleep(every)

    def stream(self, piece: bytes, every: float, seconds: float) -> None:
        """Send `piece` every `every` seconds for `seconds` (an endless body, as far as a client
        with a shorter deadline can tell)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sock.sendall(piece)
            if every:
                time.sleep(every)

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds`, or until the client closes the connection (what it sends
        meanwhile, a POST's body, is read and dropped)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if select.select([self.sock], [], [], left)[0] and not self.sock.recv(65536):
                return


def head(status: int = 200, headers: dict[str, str] | None = None, *, length: int | None = None) -> bytes:
    """A response head; Content-Length when `length` is given; always Connection: close."""
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Status'}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Script:
    """A plain, well-formed answer."""
    return lambda conn, req, server: conn.send(head(status, headers, length=len(body)) + body)


def raw(data: bytes) -> Script:
    """Exactly these bytes, then close."""
    return lambda conn, req, server: conn.send(data)


HTML = {"Content-Type": "text/html; charset=utf-8"}
FEED = {"Content-Type": "application/rss+xml"}


def page(text: str) -> bytes:
    return f"<html><head><title>t</title></head><body><p>{text}</p></body></html>".encode()


def rss(*items: str, prefix: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{prefix}<rss version="2.0"><channel><title>t</title>'
        f"{''.join(items)}</channel></rss>"
    ).encode()


def item(title: str, link: str = "https://example.com/a", extra: str = "") -> str:
    return f"<item><title>{title}</title><link>{link}</link>{extra}</item>"


GOOD_ITEMS = (item("good one", "https://example.com/1"), item("good two", "https://example.com/2"))


def gzip_bomb(decoded_size: int) -> bytes:
    """gzip of `decoded_size` zero bytes (about 1,000 times smaller), made piece by piece."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decoded_size >> 20)]
    return b"".join(parts) + compressor.flush()


# ---------------------------------------------------------------------------------------------
# What newswatch must record


@dataclass(frozen=True)
class Must:
    """What the record of a case must say. Pages: `fetched` and `permanent`; feeds: `outcome`,
    `transient`, `titles`, `moved_to`. `error` is a regular expression the recorded error must
    match; `body` a substring of the page body; `untouched` paths the server must never see (on
    any port): a refused request is refused before anything is sent."""

    fetched: bool | None = None
    permanent: bool | None = None
    outcome: str | None = None
    transient: bool | None = None
    error: str | None = None
    body: bytes | None = None
    titles: tuple[str, ...] | None = None
    moved_to: str | None = None  # a path on the main port, or "" for "not moved"
    untouched: tuple[str, ...] = ()
    absent: str | None = None  # text no entry's title or content may hold (an entity's expansion)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # the case class (what a bench reports CPU and memory for)
    does: str  # what the server does, in words
    serve: Script  # what it does, in code (one connection)
    must: Must
    feed: bool = False  # polled as a configured feed (trusted, with poll_feed) rather than a page
    settings: dict[str, Any] = field(default_factory=dict)  # FetchSettings fields for this case
    overrides: RequestOverrides | None = None
    url: Callable[[HostileServer], str] | None = None  # default: the main port's /<name>
    extra: dict[str, Script] = field(default_factory=dict)  # more paths the case serves

    def settings_for(self, server: HostileServer) -> FetchSettings:
        values = {"allow_private_hosts": True, "retries": 0, "timeout": 2.0, "max_bytes": 1_000_000}
        values.update({k: (v(server) if callable(v) else v) for k, v in self.settings.items()})
        return FetchSettings(**values)

    def url_for(self, server: HostileServer) -> str:
        return self.url(server) if self.url else server.url(f"/{self.name}")

    def time_bound(self, server: HostileServer) -> float:
        """Seconds the whole case may take: every attempt's deadline, retry waits, and slack."""
        s = self.settings_for(server)
        return (s.retries + 1) * s.timeout + s.retries * s.max_retry_wait + 1.5


def run_case(
    case: Case, server: HostileServer, fetchers: dict[FetchSettings, Fetcher] | None = None
) -> tuple[Page | FeedPoll, float]:
    """Fetch the case as newswatch would; the record and the seconds it took. With `fetchers`, a
    Fetcher is kept there per settings and reused (as a run does), else made for the case."""
    url = case.url_for(server)
    settings = case.settings_for(server)
    started = time.monotonic()
    fetcher = fetchers.get(settings) if fetchers is not None else None
    if fetcher is None:
        fetcher = Fetcher(settings)
        if fetchers is not None:
            fetchers[settings] = fetcher
    try:
        if case.feed:
            record: Page | FeedPoll = poll_feed(case.name, url, fetcher, overrides=case.overrides)
        else:
            own = {url: case.overrides} if case.overrides else None
            (record,) = fetch_pages([url], fetcher, overrides=own)
    finally:
        if fetchers is None:
            fetcher.close()
    return record, time.monotonic() - started


def problems(case: Case, record: Page | FeedPoll, server: HostileServer) -> list[str]:
    """What the record gets wrong against `case.must` ([] when it is right)."""
    m = case.must
    found = []

    def expect(what: str, got: object, wanted: object) -> None:
        if wanted is not None and got != wanted:
            found.append(f"{what}: got {got!r}, must be {wanted!r}")

    if isinstance(record, Page):
        expect("fetched", record.fetched, m.fetched)
        expect("permanent", record.permanent, m.permanent)
        if m.body is not None and m.body not in (record.body or b""):
            found.append(f"body: {m.body!r} not in {(record.body or b'')[:200]!r}")
    else:
        expect("outcome", record.outcome, m.outcome)
        expect("transient", record.transient, m.transient)
        expect("titles", tuple(e.title for e in record.entries) if m.titles is not None else None, m.titles)
        if m.moved_to is not None:
            expect("moved_to", record.moved_to, server.url(m.moved_to) if m.moved_to else None)
        if m.absent and any(m.absent in e.title + e.content for e in record.entries):
            found.append(f"entries hold {m.absent!r}")
    if m.error is not None and not re.search(m.error, record.error or ""):
        found.append(f"error: {record.error!r} does not match {m.error!r}")
    seen = sorted({r.path for r in server.requests_seen()} & set(m.untouched))
    if seen:
        found.append(f"requests reached {seen}, which must never be asked for")
    return found


# ---------------------------------------------------------------------------------------------
# The server


class HostileServer:
    """`with HostileServer(CASES) as server:` serves every case at /<case name> on `server.port`;
    the same scripts on `other_port` and (TLS, self-signed) `tls_port`; `proxy_url` is a
    forwarding proxy that records what it was asked to do."""

    def __init__(self, cases: list[Case] | tuple[Case, ...], cert_dir: Path | None = None):
        self.routes: dict[str, Script] = {}
        for case in cases:
            self.routes[f"/{case.name}"] = case.serve
            for path, script in case.extra.items():
                self.routes[path] = script
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners = {
            name: socket.create_server((HOST, 0)) for name in ("main", "other", "tls", "proxy")
        }
        self.port = self._listeners["main"].getsockname()[1]
        self.other_port = self._listeners["other"].getsockname()[1]
        self.tls_port = self._listeners["tls"].getsockname()[1]
        self.proxy_url = f"http://{HOST}:{self._listeners['proxy'].getsockname()[1]}"
        self._tmp = None if cert_dir else tempfile.TemporaryDirectory()
        self._tls = _self_signed_context(Path(cert_dir or self._tmp.name))

    def url(self, path: str, port: int | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{HOST}:{port or self.port}{path}"

    def requests_seen(self, listener: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self._requests if listener is None or r.listener == listener]

    def __enter__(self) -> HostileServer:
        for name, listener in self._listeners.items():
            listener.settimeout(0.1)
            thread = threading.Thread(target=self._accept, args=(name, listener), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for listener in self._listeners.values():
            listener.close()
        if self._tmp:
            self._tmp.cleanup()

    def _accept(self, name: str, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(name, sock), daemon=True).start()

    def _serve(self, name: str, sock: socket.socket) -> None:
        try:
            sock.settimeout(10)
            if name == "tls":
                sock = self._tls.wrap_socket(sock, server_side=True)
            while request := _read_request(sock, name):
                with self._lock:
                    self._requests.append(request)
                if name == "proxy":
                    _proxy(sock, request)
                    return
                script = self.routes.get(request.path) or self.routes.get(_first_segment(request.path))
                (script or reply(404, b"no such case"))(Conn(sock), request, self)
                return  # one request per connection: every answer says Connection: close
        except (OSError, ssl.SSLError):
            pass  # the client gave up (deadlines, caps, refusals): that is what cases provoke
        finally:
            sock.close()


def _first_segment(path: str) -> str:
    return "/" + path.lstrip("/").split("/", 1)[0].split("?", 1)[0]


def _read_request(sock: socket.socket, listener: str) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > MAX_HEAD:
            return None
        data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, target, _version = (lines[0].split(" ") + ["", ""])[:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    path = target
    if "://" in target:
        path = "/" + target.split("://", 1)[1].partition("/")[2]
    return Request(listener, method, target, path.split("?", 1)[0], headers)


def _proxy(client: socket.socket, request: Request) -> None:
    """Forward one request: CONNECT host:port opens a tunnel, an absolute-form GET is sent on."""
    if request.method == "CONNECT":
        host, _, port = request.target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _pipe(client, upstream)
        return
    rest = request.target.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "80")
    upstream = socket.create_connection((host, int(port or 80)), timeout=10)
    lines = [f"{request.method} /{path} HTTP/1.1"]
    lines += [
        f"{k}: {v}" for k, v in request.headers.items() if k not in ("proxy-authorization", "connection")
    ]
    upstream.sendall(("\r\n".join(lines + ["Connection: close", "", ""])).encode("latin-1"))
    _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes (at most 30 s)."""
    end = time.monotonic() + 30
    with b:
        while time.monotonic() < end:
            ready, _, _ = select.select([a, b], [], [], 1)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)


def _self_signed_context(directory: Path) -> ssl.SSLContext:
    from tests.helpers_servers import make_self_signed_cert

    cert = make_self_signed_cert(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert, cert.key)
    return context


# ---------------------------------------------------------------------------------------------
# The cases. Timeouts are short (2 s) so a case that holds the client is caught quickly.


def _drip_status(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.drip(head(200, HTML, length=2) + b"ok", every=0.5)


def _drip_headers(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.send(b"HTTP/1.1 200 OK\r\n")
    conn.drip(b"X-Slow: " + b"a" * 40 + b"\r\n\r\n", every=0.5)


def _drip_chunk_size(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.send(head(200, {**HTML, "Transfer-Encoding": "chunked"}) + b"5\r\nhello\r\n")
    conn.drip(b"0000000000000000000000000000000a\r\n", every=0.5)


def _drip_declared_body(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.send(head(200, HTML, length=10_000))
    conn.drip(b"x" * 10_000, every=0.2, size=10)


def _endless_slow(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.send(head(200, {**HTML, "Transfer-Encoding": "chunked"}))
    conn.stream(b"400\r\n" + b"<p>more</p>" * 93 + b"x" * 1 + b"\r\n", every=0.05, seconds=10)


def _endless_fast(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.send(head(200, HTML))  # no length: the body runs until the server closes
    conn.stream(b"<p>" + b"a" * 65_000 + b"</p>", every=0, seconds=10)


def _stall_after_headers(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.send(head(200, {**HTML, "Transfer-Encoding": "chunked"}) + b"5\r\nhello\r\n")
    conn.hold(5)


def _no_answer(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.hold(5)


@functools.cache
def _bomb_bytes() -> bytes:
    return gzip_bomb(64 << 20)  # 64 MiB of zeros in ~65 KB


def _bomb(conn: Conn, req: Request, server: HostileServer) -> None:
    bomb = _bomb_bytes()
    conn.send(head(200, {**HTML, "Content-Encoding": "gzip"}, length=len(bomb)) + bomb)


def _redirect(location: str, status: int = 302, headers: dict[str, str] | None = None) -> Script:
    return lambda conn, req, server: conn.send(
        head(
            status,
            {"Location": location.format(port=server.port, other=server.other_port), **(headers or {})},
            length=0,
        )
    )


def _private_service(conn: Conn, req: Request, server: HostileServer) -> None:
    conn.send(head(200, FEED, length=len(_SECRET_FEED)) + _SECRET_FEED)


_SECRET_FEED = rss(item("internal secret", "https://intranet.example/secret"))


def _cookie_on_redirect_to_self(conn: Conn, req: Request, server: HostileServer) -> None:
    if "consent=yes" in req.headers.get("cookie", ""):
        reply(200, page("article behind a consent wall"), HTML)(conn, req, server)
    else:
        conn.send(head(302, {"Location": req.path, "Set-Cookie": "consent=yes; Path=/"}, length=0))


def _token_round_trip(conn: Conn, req: Request, server: HostileServer) -> None:
    """A -> B (sets a token) -> A, which serves the page only with the token."""
    if req.path.endswith("/check"):
        conn.send(head(302, {"Location": "/token-round-trip", "Set-Cookie": "token=t0k3n; Path=/"}, length=0))
    elif "token=t0k3n" in req.headers.get("cookie", ""):
        reply(200, page("article after a bot check"), HTML)(conn, req, server)
    else:
        conn.send(head(302, {"Location": "/token-round-trip/check"}, length=0))


def _consent_feed(conn: Conn, req: Request, server: HostileServer) -> None:
    if "eu-consent=1" in req.headers.get("cookie", "") and req.headers.get("x-api") == "k":
        reply(200, rss(*GOOD_ITEMS), FEED)(conn, req, server)
    else:
        reply(403, b"<html>Please accept cookies</html>", HTML)(conn, req, server)


def _wants_agent(conn: Conn, req: Request, server: HostileServer) -> None:
    if req.headers.get("user-agent") == "Mozilla/5.0 (compatible; analyst)":
        reply(200, rss(*GOOD_ITEMS), FEED)(conn, req, server)
    else:
        reply(403, b"bots not welcome", HTML)(conn, req, server)


def _utf8_location(conn: Conn, req: Request, server: HostileServer) -> None:
    if req.path == "/utf8-location":
        conn.send(
            head(301, {}, length=0).replace(
                b"\r\n\r\n", "\r\nLocation: /utf8-location/статья\r\n\r\n".encode()
            )
        )
    elif req.path == "/utf8-location/%D1%81%D1%82%D0%B0%D1%82%D1%8C%D1%8F":
        reply(200, page("the article"), HTML)(conn, req, server)
    else:
        reply(404, b"wrong path " + req.path.encode(), HTML)(conn, req, server)


_PAGE = page("a page of text")


CASES: tuple[Case, ...] = (
    # -- the control: a healthy site, for what a case costs above an ordinary fetch ---------------
    Case("healthy-page", "control", "serves a small page at once", reply(200, _PAGE, HTML),
         Must(fetched=True, permanent=False, body=b"a page of text")),
    # -- slow HTTP: the attempt's deadline bounds every part of the response ------------------
    Case("drip-status-line", "slow", "sends the status line and headers one byte every 0.5 s",
         _drip_status, Must(fetched=False, permanent=False, error="timed out")),
    Case("drip-headers", "slow", "sends a header line one byte every 0.5 s",
         _drip_headers, Must(fetched=False, permanent=False, error="timed out")),
    Case("drip-chunk-size", "slow", "sends a chunk-size line one byte every 0.5 s",
         _drip_chunk_size, Must(fetched=False, permanent=False, error="timed out")),
    Case("drip-declared-body", "slow", "declares 10 KB and sends 50 bytes a second",
         _drip_declared_body, Must(fetched=False, permanent=False, error="timed out")),
    Case("stall-mid-body", "slow", "sends headers and one chunk, then nothing",
         _stall_after_headers, Must(fetched=False, permanent=False, error="timed out")),
    Case("no-answer", "slow", "accepts and reads the request, never answers",
         _no_answer, Must(fetched=False, permanent=False, error="timed out")),
    Case("endless-slow-body", "slow", "streams a chunked body, 20 KB a second, without end",
         _endless_slow, Must(fetched=False, permanent=True, error="EndlessBody")),
    # -- bombs and caps: the decoded size is capped, and such a page is not fetched again --------
    Case("gzip-bomb", "bombs", "sends 64 MiB of zeros gzipped into 65 KB",
         _bomb, Must(fetched=False, permanent=True, error="BodyTooLarge")),
    Case("endless-fast-body", "bombs", "streams a body without length as fast as it can",
         _endless_fast, Must(fetched=False, permanent=True, error="BodyTooLarge")),
    Case("huge-declared-length", "bombs", "declares a 10 GB body",
         raw(head(200, HTML, length=10_000_000_000)), Must(fetched=False, permanent=True, error="BodyTooLarge")),
    Case("double-gzip", "bombs", "declares Content-Encoding: gzip, gzip",
         raw(head(200, {**HTML, "Content-Encoding": "gzip, gzip"}, length=20) + gzip.compress(b"x", mtime=0)[:20]),
         Must(fetched=False, permanent=True, error="unsupported Content-Encoding")),
    # -- SSRF: trust belongs to the configured URL; pages must reach public addresses only -------
    Case("feed-to-other-port", "ssrf", "a configured feed redirects to another port of its host",
         _redirect("http://127.0.0.1:{other}/private-service"),
         Must(outcome="failed", transient=False, error="RefusedAddress", untouched=("/private-service",)),
         feed=True, settings={"allow_private_hosts": False},
         extra={"/private-service": _private_service}),
    Case("feed-to-localhost", "ssrf", "a configured feed redirects to localhost (another name)",
         _redirect("http://localhost:{port}/private-service"),
         Must(outcome="failed", transient=False, error="RefusedAddress", untouched=("/private-service",)),
         feed=True, settings={"allow_private_hosts": False}),
    Case("feed-to-mapped-v6", "ssrf", "a configured feed redirects to [::ffff:127.0.0.1]",
         _redirect("http://[::ffff:127.0.0.1]:{port}/private-service"),
         Must(outcome="failed", transient=False, untouched=("/private-service",)),
         feed=True, settings={"allow_private_hosts": False}),
    Case("feed-to-octal-loopback", "ssrf", "a configured feed redirects to http://0177.0.0.1 (loopback, spelt oddly)",
         _redirect("http://0177.0.0.1:{port}/private-service"),
         Must(outcome="failed", transient=False, untouched=("/private-service",)),
         feed=True, settings={"allow_private_hosts": False}),
    Case("feed-same-origin-redirect", "ssrf", "a configured feed redirects within its own origin",
         _redirect("/feed-same-origin-redirect/real.xml"),
         Must(outcome="ok", titles=("good one", "good two"), moved_to=""),
         feed=True, settings={"allow_private_hosts": False},
         extra={"/feed-same-origin-redirect/real.xml": reply(200, rss(*GOOD_ITEMS), FEED)}),
    Case("page-on-loopback", "ssrf", "a page link points at the loopback address",
         reply(200, _PAGE, HTML), Must(fetched=False, permanent=True, error="RefusedAddress",
                                       untouched=("/page-on-loopback",)),
         settings={"allow_private_hosts": False}),
    Case("redirect-to-file", "ssrf", "redirects a page to file:///etc/passwd",
         _redirect("file:///etc/passwd"), Must(fetched=False, permanent=True, error="not an http")),
    # -- broken HTTP --------------------------------------------------------------------------
    Case("garbage-status", "broken", "answers with a line that is not HTTP",
         raw(b"SSH-2.0-OpenSSH_9.0\r\n\r\n"), Must(fetched=False, error="BadStatusLine")),
    Case("escapes-in-status", "broken", "answers with escape sequences in the status line",
         raw(b"\x1b]0;owned\x07\x1b[2J HTTP/1.1 200\r\n\r\n"),
         Must(fetched=False, error=r"^TransientFetchError: BadStatusLine[^\x1b\x07]*$")),
    Case("header-flood", "broken", "sends 500 header lines",
         raw(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 500 + b"\r\n"), Must(fetched=False, error="more than 100 headers")),
    Case("endless-header-line", "broken", "sends a 1 MB header line",
         raw(b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 1_000_000 + b"\r\n\r\n"), Must(fetched=False, error="LineTooLong|line")),
    Case("body-cut-short", "broken", "declares 1000 bytes, sends 10 and closes",
         raw(head(200, HTML, length=1000) + b"<p>short"), Must(fetched=False, permanent=False, error="cut short")),
    Case("bad-chunk-size", "broken", "sends a chunk size that is not hex",
         raw(head(200, {**HTML, "Transfer-Encoding": "chunked"}) + b"zz\r\nhello\r\n0\r\n\r\n"),
         Must(fetched=False, permanent=False)),
    Case("redirect-loop", "broken", "redirects to itself forever",
         _redirect("/redirect-loop"), Must(fetched=False, permanent=True, error="more than 5 redirects")),
    Case("redirect-without-location", "broken", "answers 302 without a Location",
         raw(head(302, {}, length=0)), Must(fetched=False, permanent=True, error="without Location")),
    Case("utf8-location", "broken", "redirects with a raw UTF-8 Location header",
         _utf8_location, Must(fetched=True, body=b"the article")),
    # -- hostile feeds: one bad item costs one item, never the feed -----------------------------
    Case("feed-bad-char-refs", "feeds", "a title holds &#xD800; and &#x110000;",
         reply(200, rss(GOOD_ITEMS[0], item("bad &#xD800; and &#x110000;", "https://example.com/b"), GOOD_ITEMS[1]), FEED),
         Must(outcome="ok", titles=("good one", "bad \ufffd and \ufffd", "good two")), feed=True),
    Case("feed-huge-author", "feeds", "one item has a 64 KB author (quadratic in feedparser)",
         reply(200, rss(GOOD_ITEMS[0], item("big", "https://example.com/b", f"<author>{'a' * 65_536}</author>"), GOOD_ITEMS[1]), FEED),
         Must(outcome="ok", titles=("good one", "big", "good two")), feed=True),
    Case("feed-entity-bomb", "feeds", "declares nested entities (a billion laughs)",
         reply(200, rss(item("&lol9;"), *GOOD_ITEMS, prefix='<!DOCTYPE rss [<!ENTITY lol "lol">'
                        + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
                        + "]>"), FEED),
         Must(outcome="ok", titles=("&lol9;", "good one", "good two"), absent="lollol"), feed=True),
    Case("feed-external-entity", "feeds", "declares an external entity pointing at /etc/passwd",
         reply(200, rss(item("x &xxe;"), *GOOD_ITEMS, prefix='<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'), FEED),
         Must(outcome="ok", titles=("x &xxe;", "good one", "good two"), absent="root:"), feed=True),
    Case("feed-not-xml", "feeds", "serves a PNG as the feed",
         reply(200, b"\x89PNG\r\n\x1a\n" + bytes(2000), {"Content-Type": "image/png"}),
         Must(outcome="failed", transient=False, error="FeedParseError"), feed=True),
    # -- walls and real-site behaviour ------------------------------------------------------------
    Case("cookie-302-to-self", "walls", "sets a consent cookie on a 302 to the same page",
         _cookie_on_redirect_to_self, Must(fetched=True, body=b"consent wall")),
    Case("token-round-trip", "walls", "A -> B sets a token -> A serves the page with it",
         _token_round_trip, Must(fetched=True, body=b"bot check")),
    Case("login-wall", "walls", "answers 401 with a Basic challenge",
         reply(401, b"login", {"WWW-Authenticate": 'Basic realm="members"'}),
         Must(fetched=False, permanent=True, error="login wall")),
    Case("bot-wall", "walls", "answers 403",
         reply(403, b"denied", HTML), Must(fetched=False, permanent=True, error="bot wall")),
    Case("rate-limit", "walls", "answers 429 with Retry-After: 3600",
         reply(429, b"slow down", {"Retry-After": "3600"}),
         Must(fetched=False, permanent=False, error="rate limited")),
    Case("feed-moved-301", "walls", "the feed answers 301 to its new address",
         _redirect("/feed-moved-301/new.xml", 301),
         Must(outcome="ok", titles=("good one", "good two"), moved_to="/feed-moved-301/new.xml"),
         feed=True, extra={"/feed-moved-301/new.xml": reply(200, rss(*GOOD_ITEMS), FEED)}),
    Case("feed-moved-308-then-302", "walls", "308 to a new address, which 302s to a mirror",
         _redirect("/feed-moved-308-then-302/new.xml", 308),
         Must(outcome="ok", moved_to="/feed-moved-308-then-302/new.xml"), feed=True,
         extra={"/feed-moved-308-then-302/new.xml": _redirect("/feed-moved-308-then-302/mirror.xml"),
                "/feed-moved-308-then-302/mirror.xml": reply(200, rss(*GOOD_ITEMS), FEED)}),
    Case("feed-consent-cookie", "walls", "serves the feed only with a consent cookie and an API header",
         _consent_feed, Must(outcome="ok", titles=("good one", "good two")), feed=True,
         overrides=RequestOverrides(headers=(("X-Api", "k"),), cookies=(("eu-consent", "1"),))),
    Case("feed-needs-agent", "walls", "serves the feed to one user agent only",
         _wants_agent, Must(outcome="ok", titles=("good one", "good two")), feed=True,
         overrides=RequestOverrides(user_agent="Mozilla/5.0 (compatible; analyst)")),
    # -- TLS and proxies ------------------------------------------------------------------------
    Case("self-signed-tls", "tls", "serves HTTPS with a self-signed certificate",
         reply(200, _PAGE, HTML), Must(fetched=False, permanent=True, error="certificate"),
         url=lambda server: server.url("/self-signed-tls", server.tls_port, "https")),
    Case("through-proxy", "proxy", "a page fetched through the [fetch] proxy (absolute form)",
         reply(200, page("proxied page"), HTML), Must(fetched=True, body=b"proxied page"),
         settings={"proxy": lambda server: server.proxy_url}),
    Case("tls-through-proxy", "proxy", "an https page through the proxy (CONNECT), self-signed",
         reply(200, _PAGE, HTML), Must(fetched=False, permanent=True, error="certificate"),
         url=lambda server: server.url("/tls-through-proxy", server.tls_port, "https"),
         settings={"proxy": lambda server: server.proxy_url}),
    Case("proxy-target-checked", "proxy", "a page on loopback through the proxy, private hosts not allowed",
         reply(200, _PAGE, HTML),
         Must(fetched=False, permanent=True, error="RefusedAddress", untouched=("/proxy-target-checked",)),
         settings={"proxy": lambda server: server.proxy_url, "allow_private_hosts": False}),
)  # fmt: skip


def case_classes() -> dict[str, list[Case]]:
    classes: dict[str, list[Case]] = {}
    for case in CASES:
        classes.setdefault(case.kind, []).append(case)
    return classes
