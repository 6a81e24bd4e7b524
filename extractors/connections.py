"""Keep-alive HTTP/1.1 connections (http.client) kept for reuse, per origin.

The transport under extractors.http. It is the standard library's: http.client parses the status
line and headers (with its limits on line length and header count), frames the body (length,
chunked, or until close) and verifies TLS; this module checks the address each new connection
reached and keeps idle connections so that a host's pages reuse them. Measured in the throughput
bench's fetch (2,000 pages on loopback, 16 threads), urllib3's pool on top of the same http.client
cost ~0.15 ms more CPU per page, which counts when one core fetches for every extraction process.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import ipaddress
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from extractors.errors import RefusedAddress

Origin = tuple[str, str, int]  # (scheme, host, port)
PoolKey = tuple  # an Origin, with the Proxy appended when the connection goes through one


# Special-purpose ranges that are not globally reachable (IANA's IPv4 and IPv6 special-purpose
# address registries), listed because the standard library's `is_global` depends on the Python
# release (3.11.7 calls fec0::/10, 64:ff9b:1::/48 and 5f00::/16 global).
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23", "2001:db8::/32",
        "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_NOT_GLOBAL_BY_VERSION = {v: tuple(n for n in _NOT_GLOBAL if n.version == v) for v in (4, 6)}
# IPv6 global unicast space: everything outside it is reserved, local or special.
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
# The well-known NAT64 prefix: the IPv4 address a translator reaches is in the last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to: IPv4-mapped, NAT64 (64:ff9b::/96), 6to4
    (2002::/16) and Teredo (the client's address) forms; None for a plain IPv6 address."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    return None


def is_public_address(ip: str) -> bool:
    """True when `ip` is a globally routable unicast address. An IPv6 form that carries an IPv4
    address (mapped, NAT64, 6to4, Teredo) is judged by that IPv4 address."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        inner = embedded_ipv4(addr)
        if inner is not None:
            addr = inner
        elif addr not in _GLOBAL_UNICAST_V6:
            return False
    if not addr.is_global or addr.is_multicast:
        return False
    return not any(addr in net for net in _NOT_GLOBAL_BY_VERSION[addr.version])


class _DeadlineReader(io.RawIOBase):
    """The socket as a response reads it, every read bounded by what is left until `deadline`: a
    socket timeout bounds one read only, so a server sending the status line, the headers or a
    chunk-size line one byte at a time would otherwise hold the request as long as it dripped."""

    def __init__(self, sock: socket.socket, deadline: float):
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        self._raw = sock.makefile("rb", buffering=0)  # keeps the socket open while it is read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request's deadline passed while reading the response")
        self._sock.settimeout(remaining)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What an HTTPResponse asks of its socket (a file to read), bounded by a deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class DeadlineResponse(http.client.HTTPResponse):
    """An HTTP response read entirely (status line, headers, body, chunk sizes) before `deadline`."""

    def __init__(self, sock: socket.socket, *args, deadline: float, **kwargs):
        super().__init__(_DeadlineSocket(sock, deadline), *args, **kwargs)


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy. It is trusted: its own address is not checked, the target's are (before the
    request is sent, since the proxy resolves the target's name itself)."""

    host: str
    port: int
    authorization: str | None = None  # Proxy-Authorization, from the proxy URL's user:password


def parse_proxy(url: str) -> Proxy:
    """A proxy from a URL such as "http://user:pass@proxy.corp:3128" (scheme optional, as in the
    environment's HTTPS_PROXY). Raises ValueError naming what is wrong."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme.lower() != "http":
        raise ValueError(f"proxy {redact_userinfo(text)!r}: only http:// proxies are supported")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"proxy {redact_userinfo(text)!r}: invalid port") from None
    if not parts.hostname:
        raise ValueError(f"proxy {redact_userinfo(text)!r}: no host")
    authorization = None
    if parts.username is not None or parts.password is not None:
        userpass = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(userpass).decode("ascii")
    return Proxy(parts.hostname, port, authorization)


def redact_userinfo(url: str) -> str:
    """`url` without its user:password part."""
    scheme, sep, rest = url.rpartition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if "@" in rest else url


class CheckedConnection(http.client.HTTPConnection):
    """Records whether the address the socket connected to is public, and refuses a private one
    when `require_public`: right after the TCP connect, before TLS and before any request. The
    fetcher checked the name's addresses before, but the connection resolved it again, and a
    DNS-rebinding server can answer that second lookup with a private address. Through a proxy the
    socket reaches the proxy: there `peer_public` says whether the target was checked.

    Set `deadline` (a time.monotonic() value) before a request: its response must be read by then."""

    require_public = False
    peer_public = False
    proxied = False  # connected to a proxy (a CONNECT tunnel for https, absolute-form requests for http)
    deadline: float | None = None

    @property
    def response_class(self):  # http.client builds each response with self.response_class(sock, ...)
        if self.deadline is None:
            return http.client.HTTPResponse
        return functools.partial(DeadlineResponse, deadline=self.deadline)

    def connect(self) -> None:
        super().connect()  # for HTTPS, the TCP connect (and CONNECT) only: TLS comes after this
        if self.proxied:
            return
        peer = str(self.sock.getpeername()[0])
        self.peer_public = is_public_address(peer)
        if self.require_public and not self.peer_public:
            self.sock.close()
            self.sock = None
            raise RefusedAddress(f"{self.host} resolved to non-public address {peer} on connecting")


class _CheckedHTTPSConnection(http.client.HTTPSConnection, CheckedConnection):
    pass  # HTTPSConnection.connect calls CheckedConnection.connect, then wraps the socket in TLS


def open_connection(
    origin: Origin,
    timeout: float,
    context: ssl.SSLContext,
    *,
    require_public: bool = False,
    proxy: Proxy | None = None,
    deadline: float | None = None,
) -> CheckedConnection:
    """A new, connected connection to `origin` (through `proxy` when given); raises OSError when it
    cannot connect in time, and RefusedAddress when `require_public` and the address it connected
    to is not public. Its `peer_public` says whether that address is public (see `reusable_for`);
    through a proxy, whether the caller checked the target (`require_public`)."""
    scheme, host, port = origin
    address = (proxy.host, proxy.port) if proxy else (host, port)
    if scheme == "https":
        conn: CheckedConnection = _CheckedHTTPSConnection(*address, timeout=timeout, context=context)
        if proxy:
            auth = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
            conn.set_tunnel(host, port, headers=auth)
    else:
        conn = CheckedConnection(*address, timeout=timeout)
    conn.require_public = require_public
    conn.deadline = deadline  # bounds the proxy's answer to CONNECT too
    if proxy:
        conn.proxied = True
        conn.peer_public = require_public
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
        self._idle: OrderedDict[PoolKey, list[CheckedConnection]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, origin: PoolKey) -> CheckedConnection | None:
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

    def give(self, origin: PoolKey, conn: CheckedConnection) -> None:
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
