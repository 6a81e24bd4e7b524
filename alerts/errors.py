"""Delivery errors. Their messages never contain a secret (SMTP password, Slack webhook URL)."""

from __future__ import annotations

import base64
from collections.abc import Iterable


class DeliveryError(Exception):
    """A message could not be delivered; `transient` says whether trying again later may work."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret in `text` (and its base64 form, as SMTP AUTH sends it) with '***'."""
    for secret in secrets:
        if not secret or len(secret) < 3:  # a 1-2 char "secret" would shred the message
            continue
        text = text.replace(secret, "***")
        encoded = base64.b64encode(secret.encode()).decode().rstrip("=")
        if len(encoded) >= 4:
            text = text.replace(encoded, "***")
    return text
