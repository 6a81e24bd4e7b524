"""A light static HTTP server for the benchmark site, which shares the cores with what is measured.

Files are read and response heads built at start, before "ready" (out of any measured window), so a
request costs a dict lookup and one write; `flows.demo.replay.ReplayServer`, which the demo and tests use,
took ~12 times more CPU per page fetched once. `{{BASE}}` in text files becomes the base URL of the
address the request came to. GET and HEAD, HTTP/1.1 keep-alive, conditional GETs; one asyncio loop
for all addresses, in a child process: `python -m bench.site serve ROOT PORT HOST...` (SiteServer).
SIGHUP makes it read the files that changed (SiteServer.reload), so a benchmark can add pages to a
site between runs without a new server (a new port would make every URL new).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flows.demo.replay import CONTENT_TYPES, TEXT_SUFFIXES

MAX_HEAD = 64 * 1024  # a request head larger than this is not from a client of ours
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n"
NOT_ALLOWED = b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n"


class Resource:
    """A file as served on one address: body, validators and the heads of a 200 and a 304."""

    __slots__ = ("body", "etag", "last_modified", "mtime", "ok", "not_modified")

    def __init__(self, body: bytes, etag: str, mtime: int, content_type: str):
        self.body, self.etag, self.mtime = body, etag, mtime
        self.last_modified = formatdate(mtime, usegmt=True)
        validators = f"ETag: {etag}\r\nLast-Modified: {self.last_modified}\r\n"
        ok = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        self.ok = (ok + validators).encode()
        self.not_modified = f"HTTP/1.1 304 Not Modified\r\n{validators}".encode()

    def fresh(self, fields: dict[str, str]) -> bool:
        """True when the client's copy is current. If-None-Match wins over If-Modified-Since (RFC 9110)."""
        if (tags := fields.get("if-none-match")) is not None:
            return any(t.strip().removeprefix("W/") in ("*", self.etag) for t in tags.split(","))
        if (since := fields.get("if-modified-since")) is None:
            return False
        if since == self.last_modified:  # what clients send back: no date parsing
            return True
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() >= self.mtime


def load(
    root: Path, bases: list[str], previous: list[dict[str, Resource]] | None = None
) -> list[dict[str, Resource]]:
    """For each base URL, the files under root by URL path; pages without `{{BASE}}` are held once.
    Files unchanged since `previous` (the same ETag) are not read again."""
    sites: list[dict[str, Resource]] = [{} for _ in bases]
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        stat, suffix = path.stat(), path.suffix.lower()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'  # changes with the file, needs no hashing
        url_path = "/" + path.relative_to(root).as_posix()
        if previous and (old := previous[0].get(url_path)) is not None and old.etag == etag:
            for site, before in zip(sites, previous, strict=True):
                site[url_path] = before[url_path]
            continue
        body = path.read_bytes()
        kind = CONTENT_TYPES.get(suffix, "application/octet-stream")
        mtime = int(stat.st_mtime)
        if suffix in TEXT_SUFFIXES and b"{{BASE}}" in body:
            for site, base in zip(sites, bases, strict=True):
                site[url_path] = Resource(body.replace(b"{{BASE}}", base.encode("ascii")), etag, mtime, kind)
        else:
            shared = Resource(body, etag, mtime, kind)
            for site in sites:
                site[url_path] = shared
    return sites


def answer(site: dict[str, Resource], request: bytes) -> tuple[bytes, bytes, bool]:
    """(response head, body, close the connection?) for a request head without its final blank line."""
    lines = request.decode("latin-1").split("\r\n")
    method, target, version = (lines[0].split(" ") + ["", "", ""])[:3]
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    # Only HTTP/1.1 keeps the connection; other methods may carry a body we do not read: close.
    get = method in ("GET", "HEAD")
    close = not get or version != "HTTP/1.1" or "close" in fields.get("connection", "").lower()
    path = target.split("?", 1)[0] if target.startswith("/") else urlsplit(target).path
    resource = site.get(unquote(path) if "%" in path else path)
    if not get:
        head, body = NOT_ALLOWED, b""
    elif resource is None:
        head, body = NOT_FOUND, b"404 Not Found\n"
    elif resource.fresh(fields):
        head, body = resource.not_modified, b""
    else:
        head, body = resource.ok, resource.body
    head += b"Connection: close\r\n\r\n" if close else b"\r\n"
    return head, body if method == "GET" else b"", close


class Connection(asyncio.Protocol):
    def __init__(self, site: dict[str, Resource]):
        self.site, self.buffer = site, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0 and not self.transport.is_closing():
            head, body, close = answer(self.site, self.buffer[:end])
            self.buffer = self.buffer[end + 4 :]
            # One write: joining costs less CPU than a second send (measured), and sendfile more.
            self.transport.write(head + body)
            if close:
                self.transport.close()
        if len(self.buffer) > MAX_HEAD:
            self.transport.close()

    # A client that reads slowly stops us reading its next requests, so replies do not pile up here.
    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


async def serve(root: Path, port: int, hosts: list[str]) -> None:
    """Print "ready" once listening on every host; return on SIGTERM or SIGINT, or when orphaned.
    On SIGHUP, read the files that changed again and print "reloaded"."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda *_: None)  # clients hanging up are normal: never print tracebacks
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    bases = [f"http://{h}:{port}" for h in hosts]
    sites = load(root, bases)
    try:
        servers = [
            await loop.create_server(lambda site=site: Connection(site), host, port)
            for host, site in zip(hosts, sites, strict=True)
        ]
    except OSError as exc:  # the port was taken after it was chosen: the parent retries
        sys.exit(f"bench site server: {exc}")

    def reload() -> None:  # files changed on disk (a benchmark added pages): serve them from now on
        for site, new in zip(sites, load(root, bases, sites), strict=True):
            site.clear()  # in place: every connection holds its address's dict
            site.update(new)
        print("reloaded", flush=True)

    loop.add_signal_handler(signal.SIGHUP, reload)
    print("ready", flush=True)
    while not stop.is_set() and os.getppid() == parent:  # a benchmark that died must not leave us behind
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    for server in servers:
        server.close()
