"""extractors.http's transport (http.client with kept connections) against real sockets on 127.0.0.1:
connection reuse, connections the server closed, bodies cut short, chunked bodies, URL encoding,
and the address check on connecting (plain and TLS)."""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
from collections.abc import Callable

import pytest

from extractors.connections import open_connection
from extractors.errors import RefusedAddress, TransientFetchError
from extractors.http import Fetcher, FetchSettings
from tests.helpers_http import LocalServer, Reply
from tests.helpers_servers import make_self_signed_cert

ONE_TRY = FetchSettings(allow_private_hosts=True, retries=0, timeout=5.0)


class RawServer:
    """A TCP server on 127.0.0.1 that hands each accepted connection (and its number, from 0) to
    `serve`, in a thread: for replies no well-behaved HTTP server would send."""

    def __init__(self, serve: Callable[[socket.socket, int], None]):
        self.serve = serve
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            number, self.accepted = self.accepted, self.accepted + 1
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn:
            conn.settimeout(5)
            try:
                self.serve(conn, number)
            except OSError:
                pass

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


def read_request(conn: socket.socket) -> bytes:
    """The request head, or b"" when the client closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    return data


def answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def test_pages_of_one_host_share_one_kept_connection():
    def serve(conn: socket.socket, number: int) -> None:
        while request := read_request(conn):
            conn.sendall(answer(b"page %d of connection %d" % (request.count(b"GET"), number)))

    with RawServer(serve) as server, Fetcher(ONE_TRY) as fetcher:
        bodies = [fetcher.get(server.url(f"/a{i}")).body for i in range(5)]
    assert bodies == [b"page 1 of connection 0"] * 5
    assert server.accepted == 1


def test_a_kept_connection_the_server_closed_while_idle_is_replaced():
    def serve(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(answer(b"from connection %d" % number))
        # and closes it (keep-alive timed out on its side), without saying so in the response

    with RawServer(serve) as server, Fetcher(ONE_TRY) as fetcher:
        first = fetcher.get(server.url("/a")).body
        second = fetcher.get(server.url("/b")).body
    assert (first, second) == (b"from connection 0", b"from connection 1")


def test_a_request_the_server_drops_on_a_kept_connection_goes_again_on_a_new_one():
    # retries=0: the new connection is the transport's, not a retry after a backoff.
    def serve(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(answer(b"from connection %d" % number))
        if number == 0:
            read_request(conn)  # the second request: closed unanswered, as an expiring keep-alive does

    with RawServer(serve) as server, Fetcher(ONE_TRY) as fetcher:
        first = fetcher.get(server.url("/a")).body
        second = fetcher.get(server.url("/b")).body
    assert (first, second) == (b"from connection 0", b"from connection 1")
    assert server.accepted == 2


def test_a_body_cut_short_is_a_transient_error():
    def serve(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<p>only the start")

    with RawServer(serve) as server, Fetcher(ONE_TRY) as fetcher:
        with pytest.raises(TransientFetchError, match="cut short"):
            fetcher.get(server.url("/short"))


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_chunked_bodies_are_read_whole_and_the_connection_kept(gzipped):
    page = b"<html><body>" + b"<p>chunked text</p>" * 2000 + b"</body></html>"
    payload = gzip.compress(page, mtime=0) if gzipped else page
    encoding = b"Content-Encoding: gzip\r\n" if gzipped else b""

    def serve(conn: socket.socket, number: int) -> None:
        while read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + encoding + b"\r\n")
            for start in range(0, len(payload), 7000):
                part = payload[start : start + 7000]
                conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            conn.sendall(b"0\r\n\r\n")

    with RawServer(serve) as server, Fetcher(ONE_TRY) as fetcher:
        bodies = [fetcher.get(server.url(f"/c{i}")).body for i in range(2)]
    assert bodies == [page, page]
    assert server.accepted == 1


def test_spaces_and_non_ascii_in_a_link_are_percent_encoded():
    sent = "/caf%C3%A9%20au%20lait/%7Bx%7D?q=a%20b&r=%C3%BC"
    with LocalServer({sent: Reply(200, b"ok", {"Content-Type": "text/html"})}) as server:
        with Fetcher(ONE_TRY) as fetcher:
            result = fetcher.get(server.url("/café au lait/{x}?q=a b&r=ü"))
    assert result.body == b"ok"
    assert [r.path for r in server.requests] == [sent]


def test_escapes_already_in_a_link_are_sent_as_they_are():
    path = "/a%2Fb/%E2%82%AC?next=%2Fhome"
    with LocalServer({path: Reply(200, b"ok")}) as server, Fetcher(ONE_TRY) as fetcher:
        assert fetcher.get(server.url(path)).body == b"ok"


def test_an_https_connection_is_refused_on_its_address_before_the_tls_handshake(tmp_path):
    """The address check sits between the TCP connect and TLS: a refused connection sends nothing,
    not even a ClientHello; an allowed one is TLS as usual."""
    cert = make_self_signed_cert(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert.cert, cert.key)
    listener = socket.create_server(("127.0.0.1", 0))
    handshakes: list[str | None] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            try:
                with server_tls.wrap_socket(conn, server_side=True) as tls:
                    handshakes.append(tls.version())
            except (ssl.SSLError, OSError):
                handshakes.append(None)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    origin = ("https", "127.0.0.1", listener.getsockname()[1])
    client_tls = ssl.create_default_context(cafile=str(cert.cert))
    try:
        with pytest.raises(RefusedAddress, match="non-public address 127.0.0.1"):
            open_connection(origin, 5.0, client_tls, require_public=True)
        conn = open_connection(origin, 5.0, client_tls)
        assert isinstance(conn.sock, ssl.SSLSocket) and conn.peer_public is False
        conn.close()
        thread.join(5)
    finally:
        listener.close()
    assert handshakes == [None, "TLSv1.3"]
