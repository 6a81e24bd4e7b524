"""Keep-alive HTTP/1.1 connections (http.client) kept for reuse, per origin.

The transport under extractors.http. It is the standard library's: http.client parses the status
line and headers (with its limits on line length and header count), frames the body (length,
chunked, or until close) and verifies TLS; this module only keeps idle connections so that a host's
pages reuse them. Measured in the throughput bench's fetch (2,000 pages on loopback, 16 threads),
urllib3's pool on top of the same http.client cost ~0.15 ms more CPU per page, which counts when
one core fetches for every extraction process.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from collections import OrderedDict

Origin = tuple[str, str, int]  # (scheme, host, port)


def open_connection(origin: Origin, timeout: float, context: ssl.SSLContext) -> http.client.HTTPConnection:
    """A new, connected connection to `origin`; raises OSError when it cannot connect in time."""
    scheme, host, port = origin
    if scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.connect()
    except BaseException:
        conn.close()
        raise
    return conn


def is_dropped(conn: http.client.HTTPConnection) -> bool:
    """True when an idle connection cannot carry another request: closed, or readable (the server
    closed it, or sent bytes nobody asked for)."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


class IdleConnections:
    """Idle connections by origin: at most `per_origin` kept for each of the `origins` used most
    recently (the least recent origin's connections are closed). Thread-safe."""

    def __init__(self, per_origin: int, origins: int):
        self.per_origin = max(1, per_origin)
        self.origins = max(1, origins)
        self._idle: OrderedDict[Origin, list[http.client.HTTPConnection]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, origin: Origin) -> http.client.HTTPConnection | None:
        """An idle connection to `origin` that is still open, or None."""
        stale = []
        try:
            with self._lock:
                conns = self._idle.get(origin)
                while conns:
                    conn = conns.pop()
                    if not is_dropped(conn):
                        return conn
                    stale.append(conn)
            return None
        finally:
            for conn in stale:
                conn.close()

    def give(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        """Keep `conn` (whose last response was read to its end) for the next request to `origin`."""
        extra = []
        with self._lock:
            conns = self._idle.setdefault(origin, [])
            self._idle.move_to_end(origin)
            if len(conns) < self.per_origin:
                conns.append(conn)
            else:
                extra.append(conn)
            while len(self._idle) > self.origins:
                extra.extend(self._idle.popitem(last=False)[1])
        for old in extra:
            old.close()

    def clear(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()
