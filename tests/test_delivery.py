"""Delivery to real local servers: SMTP (plain, STARTTLS, implicit TLS), a Slack webhook, a stream."""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import pytest

from alerts.config import ConsoleChannel, EmailChannel, SlackChannel
from alerts.console_channel import send_console
from alerts.deliver import DeliveryResult, deliver
from alerts.errors import DeliveryError
from alerts.render import render_slack
from alerts.slack_channel import send_slack
from tests.helpers_servers import CertFiles, SlackSink, SmtpSink, make_self_signed_cert
from tests.test_render import make_alert

USER, PASSWORD = "newswatch", "correct-horse-battery-staple"
ALERTS = [
    make_alert(1, rule="rule-a", title="First story <!channel>"),
    make_alert(2, rule="rule-b", title="Second story"),
]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


def email_channel(
    port: int, security: str = "none", *, password: str = PASSWORD, ca_file: Path | None = None
):
    return EmailChannel(
        name="analysts-email",
        smtp_host="127.0.0.1",
        smtp_port=port,
        security=security,
        sender="newswatch@example.org",
        recipients=("analyst@example.org", "lead@example.org"),
        username=USER,
        password=password,
        timeout=5,
        ca_file=str(ca_file) if ca_file else None,
    )


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_email_arrives(security: str, cert: CertFiles) -> None:
    with SmtpSink(security=security, cert=cert, users={USER: PASSWORD}) as smtp:
        result = deliver(email_channel(smtp.port, security, ca_file=cert.cert), ALERTS)
        assert result == DeliveryResult(ok=True)
        (mail,) = smtp.envelopes
    assert mail.login == USER
    assert mail.mail_from == "newswatch@example.org"
    assert mail.rcpt_tos == ["analyst@example.org", "lead@example.org"]
    message = mail.message
    assert message["Subject"] == "[newswatch] 2 new stories (rule-a, rule-b)"
    assert message["To"] == "analyst@example.org, lead@example.org"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    for title in ("First story", "Second story"):
        assert title in parts["text/plain"] and title in parts["text/html"]
    assert "First story &lt;!channel&gt;" in parts["text/html"]


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_untrusted_certificate_is_refused(security: str, cert: CertFiles) -> None:
    with SmtpSink(security=security, cert=cert, users={USER: PASSWORD}) as smtp:
        result = deliver(email_channel(smtp.port, security), ALERTS)  # no ca_file: system CAs only
        assert smtp.messages == []
    assert not result.ok and not result.transient
    assert "CERTIFICATE_VERIFY_FAILED" in result.error


def test_wrong_password_is_permanent_and_secret(cert: CertFiles) -> None:
    with SmtpSink(users={USER: PASSWORD}) as smtp:
        result = deliver(email_channel(smtp.port, password="wrong-password-123"), ALERTS)
        assert smtp.messages == [] and set(smtp.failed_logins) == {USER}  # smtplib tries each mechanism
    assert not result.ok and not result.transient
    assert "535" in result.error
    assert "wrong-password-123" not in result.error


def test_smtp_server_down() -> None:
    result = deliver(email_channel(closed_port()), ALERTS)
    assert not result.ok and result.transient
    assert "ConnectionRefusedError" in result.error
    assert PASSWORD not in result.error


def test_slack_receives_one_digest() -> None:
    with SlackSink() as slack:
        assert deliver(SlackChannel("defense-slack", slack.url), ALERTS) == DeliveryResult(ok=True)
        (post,) = slack.posts
    assert post["blocks"][0]["text"]["text"] == "newswatch: 2 new stories"
    sections = [block["text"]["text"] for block in post["blocks"] if block["type"] == "section"]
    assert len(sections) == 2
    assert sections[0].startswith("*<https://news.example.org/a/1|First story &lt;!channel&gt;>*")
    assert "<!channel>" not in post["text"] and "First story &lt;!channel&gt;" in post["text"]


@pytest.mark.parametrize(
    "status, body, transient",
    [
        (500, "internal_error", True),
        (429, "rate_limited", True),
        (404, "no_service", False),
        (200, "not ok", False),
    ],
)
def test_slack_error_answer(status: int, body: str, transient: bool) -> None:
    with SlackSink() as slack:
        slack.answer(status, body)
        channel = SlackChannel("defense-slack", slack.url)
        with pytest.raises(DeliveryError) as caught:
            send_slack(channel, *render_slack(ALERTS))
        result = deliver(channel, ALERTS)
        assert len(slack.posts) == 2  # the client did not retry by itself
    message = str(caught.value)
    assert f"HTTP {status}" in message and body in message
    assert caught.value.transient is transient
    assert slack.url not in message and "s3cr3tW3bh00kT0k3n" not in message
    assert not result.ok and result.transient is transient
    assert "s3cr3tW3bh00kT0k3n" not in result.error


def test_slack_down() -> None:
    url = f"http://127.0.0.1:{closed_port()}/services/T0/B0/s3cr3tW3bh00kT0k3n"
    result = deliver(SlackChannel("defense-slack", url), ALERTS)
    assert not result.ok and result.transient
    assert "s3cr3tW3bh00kT0k3n" not in result.error and "Connection refused" in result.error


def test_console() -> None:
    stream = io.StringIO()
    assert deliver(ConsoleChannel("terminal", stream), ALERTS) == DeliveryResult(ok=True)
    assert stream.getvalue().startswith("newswatch: 2 new stories (rule-a, rule-b)\n")
    closed = io.StringIO()
    closed.close()
    result = deliver(ConsoleChannel("terminal", closed), ALERTS)
    assert not result.ok and "closed file" in result.error


def test_console_channel_shows_no_escape_sequence() -> None:
    """Whatever text the console channel is handed, no control or bidi character reaches the
    terminal (rendering collapses them in titles already; the channel does not rely on that)."""
    stream = io.StringIO()
    send_console(
        ConsoleChannel("terminal", stream), "Red \x1b[31malert\x1b[0m\x07\r\u202egnp.exe\u202c\x9b2J\n\tok"
    )
    assert stream.getvalue() == "Red [31malert[0mgnp.exe2J\n\tok\n"


@pytest.mark.parametrize("server_does", ["no-answer", "drip-status-line"])
def test_slack_timeout_bounds_the_whole_post(server_does: str) -> None:
    """A webhook that never answers, or answers one byte every 0.5 s (urllib's timeout is per
    socket read), fails once the channel's timeout has passed, as a transient failure."""
    from tests.hostile_server import CASES, HostileServer

    with HostileServer(CASES) as server:
        channel = SlackChannel("defense-slack", server.url(f"/{server_does}"), timeout=1.5)
        started = time.monotonic()
        result = deliver(channel, ALERTS)
        elapsed = time.monotonic() - started
    assert not result.ok and result.transient and "1.5" in result.error
    assert elapsed < 3.0  # the server holds on for 5 s (no answer) or 15 s (dripping)


def test_nothing_to_deliver_sends_nothing() -> None:
    with SlackSink() as slack:
        assert deliver(SlackChannel("defense-slack", slack.url), []) == DeliveryResult(ok=True)
        assert slack.requests == []


def test_configuration_errors_are_results() -> None:
    channel = EmailChannel(
        "bad",
        "127.0.0.1",
        closed_port(),
        "none",
        "newswatch@example.org",
        ("a@example.org\nBcc: x@example.org",),
    )
    result = deliver(channel, ALERTS)
    assert not result.ok and "ValueError" in result.error


def test_reprs_hide_secrets() -> None:
    assert PASSWORD not in repr(email_channel(25))
    assert "s3cr3t" not in repr(SlackChannel("defense-slack", "https://hooks.example/T/B/s3cr3t"))
