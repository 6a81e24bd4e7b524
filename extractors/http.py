"""Safe HTTP: bounded time, bounded decoded size, no private addresses, retries for transient failures.

httpx is used only as a transport: redirects, decompression, deadlines and retries are ours,
because httpx decompresses without a limit and its timeouts apply per socket operation.
"""

from __future__ import annotations

import codecs
import email.utils
import ipaddress
import random
import re
import socket
import threading
import time
import zlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from extractors.errors import (
    BodyTooLarge,
    ExtractorError,
    FetchError,
    RefusedAddress,
    TransientFetchError,
)
from extractors.feeds import parse_feed
from extractors.records import FeedPoll, Page
from extractors.urls import host_of

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# Media types worth handing to an HTML extractor; anything else (PDF, images, ...) is refused.
HTML_MEDIA_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "text/plain", "text/xml", "application/xml", ""}
)


@dataclass(frozen=True, slots=True)
class FetchSettings:
    connect_timeout: float = 5.0
    timeout: float = 20.0  # deadline of one attempt: connect, redirects and the whole body
    max_bytes: int = 5_000_000  # cap on the decoded body
    retries: int = 2
    backoff: float = 0.5  # base seconds, doubled per attempt, with jitter
    max_retry_wait: float = 30.0  # longest sleep for a Retry-After; a longer one is not waited for
    user_agent: str = "newswatch/0.1 (+https://example.org/newswatch)"  # set a real contact URL
    allow_private_hosts: bool = False
    per_host: int = 2  # concurrent requests per host
    max_workers: int = 16


@dataclass(frozen=True, slots=True)
class HttpResult:
    url: str  # as requested
    final_url: str  # after redirects
    status: int
    body: bytes  # decoded (Content-Encoding removed), empty for 304
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None


# ---------------------------------------------------------------------------------------------
# Addresses


def is_public_address(ip: str) -> bool:
    """True when `ip` is a globally routable unicast address (IPv4-mapped IPv6 judged as IPv4)."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None:
            addr = mapped
        elif addr.teredo is not None:
            addr = addr.teredo[1]
    return not (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_multicast
        or addr.is_unspecified
        or not addr.is_global  # shared address space (100.64/10) and other special ranges
    )


def check_host(url: str) -> None:
    """Raise RefusedAddress unless every address the URL's host resolves to is public.

    The connection resolves the name again; a DNS-rebinding server could answer differently
    the second time (a known gap: closing it needs a connect-time check in the transport).
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise RefusedAddress(f"no host in {redact(url)}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TransientFetchError(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        ip = str(info[4][0])
        if not is_public_address(ip):
            raise RefusedAddress(f"{redact(url)} resolves to non-public address {ip}")


def redact(url: str) -> str:
    """The URL without userinfo (credentials must never reach logs or error rows)."""
    try:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<invalid url>"


# ---------------------------------------------------------------------------------------------
# Bodies


class _Decoder:
    """Incremental Content-Encoding decoder whose output never exceeds `limit` bytes."""

    def __init__(self, encoding: str, limit: int, url: str):
        self.encoding = encoding
        self.limit = limit
        self.url = url
        self.size = 0
        self.parts: list[bytes] = []
        self._z = self._new_zlib() if encoding else None
        self._first = True
        self._done = False  # the compressed stream ended; trailing bytes are ignored

    def _new_zlib(self):
        # 47 = 32 + 15: accept a gzip or zlib header; raw deflate is tried if that fails.
        return zlib.decompressobj(47)

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            self._add(chunk)
            return
        if self._done:
            return
        try:
            self._inflate(chunk)
        except zlib.error:
            if not (self._first and self.encoding == "deflate"):
                raise FetchError(f"corrupt {self.encoding} body from {redact(self.url)}") from None
            self._z = zlib.decompressobj(-15)  # "deflate" sent without its zlib wrapper
            try:
                self._inflate(chunk)
            except zlib.error:
                raise FetchError(f"corrupt deflate body from {redact(self.url)}") from None
        self._first = False

    def _inflate(self, data: bytes) -> None:
        while data:
            out = self._z.decompress(data, self.limit - self.size + 1)
            self._add(out)
            data = self._z.unconsumed_tail
            if self._z.eof:
                data = self._z.unused_data + data
                if not data.startswith(b"\x1f\x8b"):  # not another gzip member: trailing junk
                    self._done = True
                    return
                self._z = self._new_zlib()

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise BodyTooLarge(f"body of {redact(self.url)} exceeds {self.limit} bytes decoded")
        if data:
            self.parts.append(data)

    def finish(self) -> bytes:
        if self._z is not None and not self._done:
            self._add(self._z.flush(self.limit - self.size + 1))
        return b"".join(self.parts)


def _content_encoding(response: httpx.Response, url: str) -> str:
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return ""
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return "deflate" if codings[0] == "deflate" else "gzip"
    raise FetchError(
        f"unsupported Content-Encoding {response.headers['content-encoding']!r} from {redact(url)}",
        status=response.status_code,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# ---------------------------------------------------------------------------------------------
# Fetcher


class Fetcher:
    """Thread-safe HTTP GET with the safety rules above; wraps one httpx.Client."""

    def __init__(self, settings: FetchSettings | None = None):
        self.settings = settings or FetchSettings()
        s = self.settings
        self._client = httpx.Client(
            follow_redirects=False,
            # Only codings we decode ourselves under the size cap (never br/zstd).
            headers={"User-Agent": s.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
            limits=httpx.Limits(
                max_connections=max(s.max_workers * 2, 10), max_keepalive_connections=s.max_workers
            ),
            trust_env=False,  # no proxy from the environment: the address check must see the real peer
        )
        self._lock = threading.Lock()
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._host_slots.get(host)
            if slot is None:
                slot = self._host_slots[host] = threading.BoundedSemaphore(max(1, self.settings.per_host))
            return slot

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = False,
    ) -> HttpResult:
        """GET `url` with retries. `trusted` (a configured feed URL) skips the address check for
        the first request and same-host redirects only.

        Raises TransientFetchError, FetchError, RefusedAddress or BodyTooLarge.
        """
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        s = self.settings
        attempt = 0
        while True:
            try:
                return self._attempt(url, headers, trusted)
            except TransientFetchError as exc:
                if attempt >= s.retries:
                    raise
                if exc.retry_after is not None:
                    if exc.retry_after > s.max_retry_wait:
                        raise  # the server asks for longer than we may block: report it
                    wait_s = exc.retry_after
                else:
                    wait_s = min(s.max_retry_wait, s.backoff * 2**attempt * random.uniform(0.5, 1.5))
                attempt += 1
                time.sleep(wait_s)

    def _attempt(self, url: str, headers: dict[str, str], trusted: bool) -> HttpResult:
        s = self.settings
        deadline = time.monotonic() + s.timeout
        trusted_host = host_of(url) if trusted else None
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                parts = urlsplit(current)
                parts.port  # noqa: B018  (raises ValueError on a junk port)
            except ValueError:
                raise FetchError(f"invalid URL {redact(current)}") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchError(f"not an http(s) URL: {redact(current)}")
            if not (s.allow_private_hosts or host_of(current) == trusted_host):
                check_host(current)
            status, location, result = self._exchange(current, url, headers, deadline)
            if result is not None:
                return result
            if not location:
                raise FetchError(f"redirect without Location from {redact(current)}", status=status)
            current = urljoin(current, location.strip())
        raise FetchError(f"more than {MAX_REDIRECTS} redirects from {redact(url)}", status=status)

    def _exchange(
        self, url: str, original: str, headers: dict[str, str], deadline: float
    ) -> tuple[int, str | None, HttpResult | None]:
        """One request/response. Returns (status, redirect location, result-or-None)."""
        s = self.settings
        slot = self._slot(host_of(url))
        if not slot.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TransientFetchError(f"timed out waiting for a slot on the host of {redact(url)}")
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientFetchError(f"timed out after {s.timeout}s: {redact(url)}")
            timeout = httpx.Timeout(remaining, connect=min(s.connect_timeout, remaining))
            try:
                with self._client.stream("GET", url, headers=headers, timeout=timeout) as response:
                    return self._handle(response, url, original, deadline)
            except httpx.TimeoutException:
                raise TransientFetchError(f"timed out: {redact(url)}") from None
            except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
                raise FetchError(f"invalid URL {redact(url)}: {exc}") from None
            except (httpx.TransportError, httpx.StreamError) as exc:
                raise TransientFetchError(f"{type(exc).__name__} for {redact(url)}: {exc}") from None
        finally:
            slot.release()

    def _handle(
        self, response: httpx.Response, url: str, original: str, deadline: float
    ) -> tuple[int, str | None, HttpResult | None]:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status in REDIRECT_STATUSES:
            return status, response.headers.get("location"), None
        if status in TRANSIENT_STATUSES:
            raise TransientFetchError(
                f"HTTP {status} from {redact(url)}", status=status, retry_after=retry_after
            )
        if status != 304 and not 200 <= status < 300:
            raise FetchError(f"HTTP {status} from {redact(url)}", status=status)
        body = b"" if status == 304 else self._read_body(response, url, deadline)
        result = HttpResult(
            url=original,
            final_url=str(response.url),
            status=status,
            body=body,
            content_type=response.headers.get("content-type"),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            retry_after=retry_after,
        )
        return status, None, result

    def _read_body(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        limit = self.settings.max_bytes
        encoding = _content_encoding(response, url)
        declared = response.headers.get("content-length", "")
        if not encoding and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"body of {redact(url)} is {declared} bytes, cap {limit}")
        decoder = _Decoder(encoding, limit, url)
        for chunk in response.iter_raw():  # no chunk_size: httpx would buffer up to it
            decoder.feed(chunk)
            if time.monotonic() > deadline:
                raise TransientFetchError(f"timed out after {self.settings.timeout}s reading {redact(url)}")
        return decoder.finish()


# ---------------------------------------------------------------------------------------------
# Decoding HTML

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
# Labels browsers decode as windows-1252 (its superset), per the WHATWG encoding standard.
_AS_CP1252 = {"iso-8859-1", "latin-1", "latin1", "iso8859-1", "l1", "us-ascii", "ascii", "cp819"}


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A document cannot truthfully declare UTF-16 in ASCII-compatible bytes; BOMs are handled first.
    return "utf-8" if name.startswith("utf-16") or name.startswith("utf-32") else name


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML body: BOM, then the header charset, then <meta> in the first 4 KB, then UTF-8,
    else cp1252 with replacement (never fails)."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    candidates = []
    if content_type:
        match = _HEADER_CHARSET.search(content_type)
        candidates.append(_codec(match.group(1)) if match else None)
    match = _META_CHARSET.search(body[:4096])
    candidates.append(_codec(match.group(1).decode("ascii")) if match else None)
    candidates.append("utf-8")
    for codec in candidates:
        if codec:
            try:
                return body.decode(codec)
            except UnicodeDecodeError:
                continue
    return body.decode("cp1252", errors="replace")


# ---------------------------------------------------------------------------------------------
# Stages


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ExtractorError):
        return f"{type(exc).__name__}: {exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


def _fetch_page(url: str, fetcher: Fetcher) -> Page:
    try:
        result = fetcher.get(url)
    except Exception as exc:  # a page failure is data, never a stopped run
        return Page(
            url=url,
            final_url=None,
            status=getattr(exc, "status", None),
            html=None,
            error=_error_text(exc),
            fetched_at=datetime.now(UTC),
        )
    media_type = (result.content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in HTML_MEDIA_TYPES:
        return Page(
            url=url,
            final_url=result.final_url,
            status=result.status,
            html=None,
            error=f"not an HTML page: {media_type}",
            fetched_at=datetime.now(UTC),
        )
    return Page(
        url=url,
        final_url=result.final_url,
        status=result.status,
        html=decode_html(result.body, result.content_type),
        fetched_at=datetime.now(UTC),
    )


def fetch_pages(urls: Sequence[str], fetcher: Fetcher) -> list[Page]:
    """Fetch pages concurrently, at most `per_host` in flight per host; same order as `urls`.

    Never raises: a failure becomes Page(html=None, error=..., status=...).
    """
    s = fetcher.settings
    queues: dict[str, deque[int]] = {}
    for index, url in enumerate(urls):
        queues.setdefault(host_of(url), deque()).append(index)
    pages: list[Page | None] = [None] * len(urls)
    in_flight: dict[Future, tuple[int, str]] = {}
    running: dict[str, int] = dict.fromkeys(queues, 0)

    def submit_ready(pool: ThreadPoolExecutor) -> None:
        # Hosts are interleaved so one big host cannot starve the others.
        for host, queue in queues.items():
            while queue and running[host] < max(1, s.per_host):
                index = queue.popleft()
                running[host] += 1
                in_flight[pool.submit(_fetch_page, urls[index], fetcher)] = (index, host)

    with ThreadPoolExecutor(max_workers=max(1, s.max_workers)) as pool:
        submit_ready(pool)
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                index, host = in_flight.pop(future)
                running[host] -= 1
                pages[index] = future.result()
            submit_ready(pool)
    return [page for page in pages if page is not None]


def poll_feed(
    name: str,
    url: str,
    fetcher: Fetcher,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FeedPoll:
    """Conditional GET of a configured feed and parse it. Never raises.

    On "not_modified" and "failed" the given etag/last_modified are echoed back (unless the
    server sent new ones), so storing the poll's validators is always right.
    """
    started = time.monotonic()

    def elapsed() -> float:
        return (time.monotonic() - started) * 1000.0

    status: int | None = None
    try:
        result = fetcher.get(url, etag=etag, last_modified=last_modified, trusted=True)
        status = result.status
        if status == 304:
            return FeedPoll(
                feed=name,
                url=url,
                outcome="not_modified",
                status=304,
                etag=result.etag or etag,
                last_modified=result.last_modified or last_modified,
                elapsed_ms=elapsed(),
            )
        parsed = parse_feed(result.body, name, base_url=result.final_url, content_type=result.content_type)
        return FeedPoll(
            feed=name,
            url=url,
            outcome="ok",
            status=result.status,
            entries=parsed.entries,
            etag=result.etag,
            last_modified=result.last_modified,
            error=parsed.warning,
            elapsed_ms=elapsed(),
        )
    except Exception as exc:  # one feed must never stop the run
        status = getattr(exc, "status", status)
        return FeedPoll(
            feed=name,
            url=url,
            outcome="failed",
            status=status,
            etag=etag,
            last_modified=last_modified,
            error=_error_text(exc),
            transient=bool(getattr(exc, "transient", False)),
            retry_after=getattr(exc, "retry_after", None),
            elapsed_ms=elapsed(),
        )
