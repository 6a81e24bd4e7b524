"""Deliver one digest of alerts to one channel; failures are results, not exceptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alerts.config import Channel, ConsoleChannel, EmailChannel, SlackChannel
from alerts.console_channel import console_text, send_console
from alerts.email_channel import send_email
from alerts.errors import DeliveryError, redact
from alerts.render import render_email, render_slack
from alerts.slack_channel import send_slack
from extractors.records import Alert


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    error: str | None = None  # why it failed; never holds a secret
    transient: bool = False  # a failure worth retrying later (network, 4xx SMTP, HTTP 429/5xx)


def _send(channel: Channel, alerts: Sequence[Alert], heading: str | None) -> None:
    if isinstance(channel, EmailChannel):
        message = render_email(alerts, sender=channel.sender, recipients=channel.recipients, heading=heading)
        send_email(channel, message)
    elif isinstance(channel, SlackChannel):
        send_slack(channel, *render_slack(alerts, heading))
    elif isinstance(channel, ConsoleChannel):
        send_console(channel, console_text(channel, alerts, heading))
    else:
        raise DeliveryError(f"unknown channel type {type(channel).__name__}")


def _secrets(channel: Channel) -> list[str | None]:
    return [getattr(channel, "password", None), getattr(channel, "webhook_url", None)]


def deliver(channel: Channel, alerts: Sequence[Alert], heading: str | None = None) -> DeliveryResult:
    """Send ONE digest message with all `alerts` to `channel` (`heading`: a digest's rule and
    period, see alerts/batching.py). Never raises: a failure (including a rendering or
    configuration error) comes back as DeliveryResult(ok=False, error=...)."""
    if not alerts:
        return DeliveryResult(ok=True)
    try:
        _send(channel, alerts, heading)
    except DeliveryError as error:
        return DeliveryResult(
            ok=False, error=redact(str(error), _secrets(channel)), transient=error.transient
        )
    except Exception as error:  # a bug or a bad address must not stop the other channels
        reason = redact(f"{type(error).__name__}: {error}", _secrets(channel))
        return DeliveryResult(ok=False, error=f"channel {channel.name!r}: {reason}")
    return DeliveryResult(ok=True)
