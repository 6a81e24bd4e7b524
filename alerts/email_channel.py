"""Send a rendered email through SMTP (plain, STARTTLS or implicit TLS), with login if configured."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from alerts.config import EmailChannel
from alerts.errors import DeliveryError, redact


def _tls_context(channel: EmailChannel) -> ssl.SSLContext:
    # Certificates and host names are always verified; a private CA is trusted via ca_file.
    return ssl.create_default_context(cafile=channel.ca_file)


def _secrets(channel: EmailChannel) -> list[str | None]:
    """The password, and the AUTH PLAIN blob a server could echo back in an error."""
    if not channel.password:
        return []
    return [channel.password, f"\0{channel.username or ''}\0{channel.password}"]


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in error.recipients.values())
    # A TLS failure (untrusted certificate, TLS spoken to a plain port) is a configuration error.
    if isinstance(error, ssl.SSLError | smtplib.SMTPNotSupportedError):
        return False
    # Refused or dropped connections, timeouts, DNS failures: the server may be back later.
    return isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | OSError)


def send_email(channel: EmailChannel, message: EmailMessage) -> None:
    """Deliver `message` to the channel's recipients. Raises DeliveryError (never with the password)."""
    where = f"SMTP {channel.smtp_host}:{channel.smtp_port} ({channel.security})"
    try:
        if channel.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                channel.smtp_host, channel.smtp_port, timeout=channel.timeout, context=_tls_context(channel)
            )
        else:
            client = smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout)
        with client:
            if channel.security == "starttls":
                client.starttls(context=_tls_context(channel))  # refuses to go on in clear text
            if channel.username:
                client.login(channel.username, channel.password or "")
            client.send_message(message, from_addr=channel.sender, to_addrs=list(channel.recipients))
    except (smtplib.SMTPException, OSError) as error:
        reason = redact(f"{type(error).__name__}: {error}", _secrets(channel))
        raise DeliveryError(f"{where}: {reason}", transient=_is_transient(error)) from None
