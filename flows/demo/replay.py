"""A small static HTTP server that replays a site from a folder (the demo, end-to-end tests, benchmarks).

Serves files under `root` on 127.0.0.1 from a daemon thread. Text files may hold placeholders:
`{{BASE}}` becomes the server's base URL and `{{NAME}}` the value of `substitutions["NAME"]`, replaced
on the raw bytes so files in any ASCII-compatible encoding (windows-1251, ...) stay intact.
Answers conditional GETs (strong ETag of the served bytes, Last-Modified from the file's mtime), and
a sidecar `_headers.json` at the root overrides status, content type, Last-Modified or extra headers
per path, e.g. `{"/feeds/gone.xml": {"status": 500}, "/feeds/ru.xml": {"content_type": "..."},
"/feeds/slow.xml": {"headers": {"Retry-After": "120"}}, "/a.html": {"last_modified": "2026-03-01T00:00:00Z"}}`.
Every request is recorded as (method, request target, status) so tests can assert what was fetched.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import threading
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

SIDECAR_NAME = "_headers.json"
TEXT_SUFFIXES = frozenset({".xml", ".rss", ".atom", ".html", ".htm", ".txt", ".json"})
CONTENT_TYPES = {
    ".xml": "application/rss+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
NO_BODY_STATUSES = frozenset({204, 304})


class _Rendered:
    """A file's bytes after substitution, with its validators; cached until the file changes."""

    __slots__ = ("body", "etag", "mtime")

    def __init__(self, body: bytes, mtime: float):
        self.body = body
        self.mtime = mtime
        self.etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class ReplayServer:
    """Serve `root` over HTTP until stopped. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        substitutions: dict[str, str] | None = None,
    ):
        self.root = Path(root).resolve()
        self.host = host
        self.port = port
        self.substitutions = dict(substitutions or {})
        self._requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], _Rendered]] = {}
        self._sidecar: dict[str, dict[str, Any]] = {}
        self._sidecar_stamp: tuple[int, int] | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ReplayServer:
        if self._httpd is not None:
            return self
        if not self.root.is_dir():
            raise FileNotFoundError(f"replay root is not a directory: {self.root}")
        self._overrides("/")  # a malformed sidecar fails here, not inside a request thread
        httpd = _QuietServer((self.host, self.port), _make_handler(self))
        self.port = httpd.server_address[1]
        self._httpd = httpd
        # A short poll interval makes stop() quick (tests start many servers); 20 idle wakeups a second are free.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="replay-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests look at --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ReplayServer is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """(method, request target as sent, status) of every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, method: str, target: str, status: int) -> None:
        with self._lock:
            self._requests.append((method, target, status))

    # -- resolving a request -------------------------------------------------------------------

    def _file_for(self, url_path: str) -> Path | None:
        """The regular file under root for a URL path, or None (outside root, missing, the sidecar)."""
        relative = url_path.lstrip("/")
        if not relative or relative == SIDECAR_NAME:
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _overrides(self, url_path: str) -> dict[str, Any]:
        """The sidecar entry for a path; the sidecar is re-read when it changes, so tests may edit it."""
        sidecar = self.root / SIDECAR_NAME
        try:
            stat = sidecar.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._sidecar_stamp:
                self._sidecar = json.loads(sidecar.read_bytes())
                self._sidecar_stamp = stamp
            return self._sidecar.get(url_path, {})

    def _render(self, path: Path) -> _Rendered:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        body = path.read_bytes()
        if path.suffix.lower() in TEXT_SUFFIXES:
            body = self._substitute(body)
        rendered = _Rendered(body, stat.st_mtime)
        with self._lock:
            self._cache[path] = (stamp, rendered)
        return rendered

    def _substitute(self, body: bytes) -> bytes:
        if b"{{" not in body:
            return body
        body = body.replace(b"{{BASE}}", self.base_url.encode("ascii"))
        for key, value in self.substitutions.items():
            placeholder = key if key.startswith("{{") else "{{" + key + "}}"
            body = body.replace(placeholder.encode("utf-8"), str(value).encode("utf-8"))
        return body


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response are normal under test; never print tracebacks.
        return


def _make_handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_ReplayHandler):
        replay = server

    return Handler


class _ReplayHandler(BaseHTTPRequestHandler):
    replay: ReplayServer
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections, fewer threads
    server_version = "newswatch-replay"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection releases its thread
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _refuse(self) -> None:
        self._reply(405, b"method not allowed\n", "text/plain; charset=utf-8", {"Allow": "GET, HEAD"}, True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _serve(self, send_body: bool) -> None:
        url_path = unquote(urlsplit(self.path).path)
        overrides = self.replay._overrides(url_path)
        file = self.replay._file_for(url_path)
        status = int(overrides.get("status", 200 if file is not None else 404))
        headers = dict(overrides.get("headers", {}))
        if file is None:
            body = f"{status} {self.responses.get(status, ('',))[0]}\n".encode()
            self._reply(status, body, "text/plain; charset=utf-8", headers, send_body)
            return
        rendered = self.replay._render(file)
        content_type = overrides.get("content_type") or _content_type(file)
        last_modified = _last_modified(overrides.get("last_modified"), rendered.mtime)
        headers["ETag"] = rendered.etag
        headers["Last-Modified"] = formatdate(last_modified.timestamp(), usegmt=True)
        if status == 200 and self._not_modified(rendered.etag, last_modified):
            self._reply(304, b"", None, headers, send_body)
            return
        self._reply(status, rendered.body, content_type, headers, send_body)

    def _not_modified(self, etag: str, last_modified: datetime) -> bool:
        # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110, 13.2.2).
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or etag in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return since >= last_modified
        return False

    def _reply(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str],
        send_body: bool,
    ) -> None:
        self.send_response(status)
        if content_type and status not in NO_BODY_STATUSES:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", "0" if status in NO_BODY_STATUSES else str(len(body)))
        self.end_headers()
        if send_body and status not in NO_BODY_STATUSES:
            self.wfile.write(body)

    # send_response() calls log_request() for every response, error replies included: record there.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = int(code) if isinstance(code, int) else 0  # HTTPStatus is an int
        self.replay._record(self.command or "", getattr(self, "path", ""), status)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _last_modified(override: str | None, mtime: float) -> datetime:
    """Whole seconds, as HTTP dates carry no fractions: a fixed date from the sidecar, else the mtime."""
    if override:
        try:
            parsed = parsedate_to_datetime(override)
        except (TypeError, ValueError):
            parsed = datetime.fromisoformat(override.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).replace(microsecond=0)
    return datetime.fromtimestamp(int(mtime), tz=UTC)
