"""A real HTTP server on 127.0.0.1 in a thread, with a route table, for tests.

A route is a function taking the Request and returning a Reply (or a list of Replies served in
turn, the last one repeating). Every request is recorded, so tests can count attempts and read
the headers that were sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # lower-cased names
    at: float  # time.monotonic() on arrival


@dataclass
class Reply:
    status: int = 200
    body: bytes | Iterable[bytes] = b""  # an iterable is sent chunk by chunk
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before sending the headers
    chunk_delay: float = 0.0  # seconds to wait before each body chunk after the first


Route = Callable[[Request], Reply] | Reply | list[Reply]


class LocalServer:
    """`with LocalServer({"/feed": Reply(body=b"...")}) as server: server.url("/feed")`."""

    def __init__(self, routes: dict[str, Route] | None = None, host: str = "127.0.0.1"):
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[Request] = []
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _reply_for(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self.routes.get(request.path)
            count = self._served.get(request.path, 0)
            self._served[request.path] = count + 1
        if route is None:
            return Reply(404, b"not found")
        if isinstance(route, Reply):
            return route
        if isinstance(route, list):
            return route[min(count, len(route) - 1)]
        return route(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                request = Request(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    at=time.monotonic(),
                )
                reply = server._reply_for(request)
                time.sleep(reply.delay)
                chunks = [reply.body] if isinstance(reply.body, bytes) else list(reply.body)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if "content-length" not in {k.lower() for k in reply.headers}:
                        self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
                    self.end_headers()
                    for index, chunk in enumerate(chunks):
                        if index and reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeouts, size caps): that is what tests provoke

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
