"""Print alerts: a channel that needs no secret, for trying newswatch out and for demos."""

from __future__ import annotations

import sys
from typing import TextIO

from alerts.config import ConsoleChannel
from alerts.errors import DeliveryError
from extractors.records import terminal_safe


def send_console(channel: ConsoleChannel, text: str) -> None:
    stream: TextIO = channel.stream or sys.stdout
    text = terminal_safe(text)  # titles and snippets come from the web: no escapes reach a terminal
    try:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()
    except (OSError, ValueError) as error:  # a closed stream or a broken pipe
        raise DeliveryError(f"console channel {channel.name!r}: {type(error).__name__}: {error}") from None
