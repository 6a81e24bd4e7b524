"""Local receivers for alerts: a real SMTP server (aiosmtpd) and a Slack-webhook endpoint, both on
127.0.0.1. The demo delivers to them; the tests read what they received."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SmtpSink:
    """A real SMTP server; `.messages` holds what it accepted, parsed."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        self.host, self.port = host, port or free_port(host)
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        # hostname set explicitly: aiosmtpd's default binds ::1 only
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    __enter__ = start

    def __exit__(self, *exc) -> None:
        self.stop()


class SlackSink:
    """An HTTP endpoint that receives Slack webhook posts; `.posts` holds the JSON bodies.
    Set `.fail_status` to answer with an error on purpose (as Slack does when a hook is revoked)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.posts: list[dict] = []
        self.fail_status: int | None = None
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if sink.fail_status:
                    self.send_response(sink.fail_status)
                    reply = b"invalid_token"
                else:
                    sink.posts.append(json.loads(body or b"{}"))
                    self.send_response(200)
                    reply = b"ok"
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}/services/T000/B000/XXXX"
        self._thread: threading.Thread | None = None

    def start(self) -> SlackSink:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    __enter__ = start

    def __exit__(self, *exc) -> None:
        self.stop()
