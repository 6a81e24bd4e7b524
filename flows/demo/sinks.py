"""Local receivers for alerts: a real SMTP server (aiosmtpd) and a Slack incoming-webhook endpoint,
both on 127.0.0.1. `newswatch demo` delivers to them; the tests read back what they received.

with SmtpSink() as smtp:                    # plain SMTP on 127.0.0.1, a free port
    smtp.messages[0]["Subject"]             # parsed email.message.EmailMessage
with SlackSink() as slack:
    slack.posts[0]["blocks"]                # parsed JSON bodies
    slack.answer(500, "internal_error")     # later posts get this answer
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# -- TLS ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertFiles:
    cert: Path  # PEM certificate; also the CA file a client must trust
    key: Path  # PEM private key

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


# -- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None  # the user that authenticated on that session, if any


class _FreePortController(Controller):
    """aiosmtpd's Controller on port 0: learn the port the OS chose before its self-test connects."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """A real SMTP server in a thread that keeps what it receives.

    security: "none" (plain), "starttls" (STARTTLS offered and required), "ssl" (implicit TLS);
    the TLS modes need `cert`. `users` ({login: password}) enables AUTH (PLAIN/LOGIN); MAIL is then
    refused (530) until a client has logged in. The host is explicit: aiosmtpd's default may bind ::1 only.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        security: str = "none",
        cert: CertFiles | None = None,
        users: dict[str, str] | None = None,
    ):
        if security != "none" and cert is None:
            raise ValueError(f"security={security!r} needs a cert (see make_self_signed_cert)")
        self.host = host
        self.users = dict(users or {})
        self.received: list[ReceivedMail] = []
        self.failed_logins: list[str] = []
        self._lock = threading.Lock()
        options: dict = {"hostname": host, "port": 0, "server_hostname": "sink.test"}
        if security == "starttls":
            options.update(tls_context=cert.server_context(), require_starttls=True)
        elif security == "ssl":
            options.update(ssl_context=cert.server_context())
        elif security != "none":
            raise ValueError(f"unknown security {security!r}")
        if self.users:
            # AUTH is offered in every mode (before TLS too, for "none"); handle_MAIL enforces it.
            options.update(authenticator=self._authenticate, auth_require_tls=security == "starttls")
        self._controller = _FreePortController(self, **options)

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [mail.message for mail in self.received]

    @property
    def envelopes(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self.received)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # aiosmtpd handler hooks
    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if login in self.users and self.users[login] == password:
                return AuthResult(success=True, auth_data=login)
            with self._lock:
                self.failed_logins.append(login)
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        if self.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        login = session.auth_data if session.authenticated else None
        with self._lock:
            self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 OK"


# -- Slack --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackPost:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


class SlackSink:
    """A local stand-in for a Slack incoming webhook: records each POST and answers like Slack
    (200 "ok" by default; `answer(status, body)` changes the answer for later posts)."""

    def __init__(self, host: str = "127.0.0.1", path: str = "/services/T0TEST/B0TEST/s3cr3tW3bh00kT0k3n"):
        self.path = path
        self.requests: list[SlackPost] = []
        self._answer: tuple[int, str] = (200, "ok")
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the next poll (0.5 s by default).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self.host = host
        self.port = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def posts(self) -> list[dict]:
        """The JSON bodies posted to the webhook path, in order."""
        with self._lock:
            return [json.loads(r.body) for r in self.requests if r.path == self.path]

    def answer(self, status: int, body: str = "") -> None:
        with self._lock:
            self._answer = (status, body)

    def start(self) -> SlackSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with sink._lock:
                    sink.requests.append(SlackPost(self.path, headers, body))
                    status, text = sink._answer if self.path == sink.path else (404, "no_service")
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        return Handler
