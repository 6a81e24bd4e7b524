"""Keep-alive HTTP/1.1 connections (http.client) kept for reuse, per origin.

The transport under extractors.http. It is the standard library's: http.client parses the status
line and headers (with its limits on line length and header count), frames the body (length,
chunked, or until close) and verifies TLS; this module checks the address each new connection
reached and keeps idle connections so that a host's pages reuse them. Measured in the throughput
bench's fetch (2,000 pages on loopback, 16 threads), urllib3's pool on top of the same http.client
cost ~0.15 ms more CPU per page, which counts when one core fetches for every extraction process.
"""

from __future__ import annotations

import http.client
import ipaddress
import select
import ssl
import threading
from collections import OrderedDict

from extractors.errors import RefusedAddress

Origin = tuple[str, str, int]  # (scheme, host, port)


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


class CheckedConnection(http.client.HTTPConnection):
    """Records whether the address the socket connected to is public, and refuses a private one
    when `require_public`: right after the TCP connect, before TLS and before any request. The
    fetcher checked the name's addresses before, but the connection resolved it again, and a
    DNS-rebinding server can answer that second lookup with a private address."""

    require_public = False
    peer_public = False

    def connect(self) -> None:
        super().connect()  # for HTTPS, the TCP connect only: the TLS handshake comes after this
        peer = str(self.sock.getpeername()[0])
        self.peer_public = is_public_address(peer)
        if self.require_public and not self.peer_public:
            self.sock.close()
            self.sock = None
            raise RefusedAddress(f"{self.host} resolved to non-public address {peer} on connecting")


class _CheckedHTTPSConnection(http.client.HTTPSConnection, CheckedConnection):
    pass  # HTTPSConnection.connect calls CheckedConnection.connect, then wraps the socket in TLS


def open_connection(
    origin: Origin, timeout: float, context: ssl.SSLContext, *, require_public: bool = False
) -> CheckedConnection:
    """A new, connected connection to `origin`; raises OSError when it cannot connect in time, and
    RefusedAddress when `require_public` and the address it connected to is not public. Its
    `peer_public` says whether that address is public (see `reusable_for`)."""
    scheme, host, port = origin
    if scheme == "https":
        conn: CheckedConnection = _CheckedHTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = CheckedConnection(host, port, timeout=timeout)
    conn.require_public = require_public
    try:
        conn.connect()
    except BaseException:
        conn.close()
        raise
    return conn


def reusable_for(conn: CheckedConnection, require_public: bool) -> bool:
    """Whether a kept connection may carry a request that must reach a public address only: one
    opened for a request allowed to reach a private address (a configured feed's own host) may
    have connected to one, whatever the name resolves to now."""
    return not require_public or conn.peer_public


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
        self._idle: OrderedDict[Origin, list[CheckedConnection]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, origin: Origin) -> CheckedConnection | None:
        """An idle connection to `origin` that is still open, or None."""
        while True:
            # Checked outside the lock: the check is a system call, after which this thread may
            # wait for the GIL, and other fetching threads would queue on the lock meanwhile.
            with self._lock:
                conns = self._idle.get(origin)
                conn = conns.pop() if conns else None
            if conn is None or not is_dropped(conn):
                return conn
            conn.close()

    def give(self, origin: Origin, conn: CheckedConnection) -> None:
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
