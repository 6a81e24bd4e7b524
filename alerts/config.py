"""The alert settings the user writes, as plain frozen dataclasses.

The lead's pydantic settings parse the TOML and build these; secrets (SMTP password, Slack webhook
URL) are resolved from the environment before they get here and never appear in a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TextIO

EmailSecurity = Literal["none", "starttls", "ssl"]
EMAIL_SECURITIES: tuple[str, ...] = ("none", "starttls", "ssl")


def _as_tuple(value: object) -> tuple[str, ...]:
    """Accept a list from a config parser but store a tuple, so records stay hashable."""
    if isinstance(value, str):  # a lone string would otherwise become a tuple of characters
        return (value,)
    return tuple(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Actor:
    """A tracked person or organisation; its name counts as one of its aliases."""

    name: str
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", _as_tuple(self.aliases))

    @property
    def all_aliases(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class Watchlist:
    actors: tuple[Actor, ...] = ()
    keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "actors", tuple(self.actors))
        object.__setattr__(self, "keywords", _as_tuple(self.keywords))


Digest = Literal["immediate", "hourly", "daily"]
DIGESTS: tuple[str, ...] = ("immediate", "hourly", "daily")


@dataclass(frozen=True, slots=True)
class Rule:
    """Fires when any of its actors (by actor name) or keywords is mentioned, or its query matches
    (alerts/query.py). `digest`: send each alert at once, or one message per hour or day."""

    name: str
    actors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    query: str | None = None
    digest: Digest = "immediate"

    def __post_init__(self) -> None:
        for attribute in ("actors", "keywords", "channels"):
            object.__setattr__(self, attribute, _as_tuple(getattr(self, attribute)))
        if self.digest not in DIGESTS:
            raise ValueError(f"rule {self.name!r}: digest must be one of {DIGESTS}")


@dataclass(frozen=True, slots=True)
class EmailChannel:
    name: str
    smtp_host: str
    smtp_port: int
    security: EmailSecurity
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30
    # A PEM file of extra trusted CAs (a private relay's own CA, or a test's self-signed cert);
    # None trusts the system store only.
    ca_file: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipients", _as_tuple(self.recipients))
        if self.security not in EMAIL_SECURITIES:
            raise ValueError(f"email channel {self.name!r}: security must be one of {EMAIL_SECURITIES}")
        if not self.recipients:
            raise ValueError(f"email channel {self.name!r}: no recipients")


@dataclass(frozen=True, slots=True)
class SlackChannel:
    name: str
    webhook_url: str = field(repr=False)  # the URL is the credential
    timeout: float = 30


ConsoleFormat = Literal["compact", "full"]


@dataclass(frozen=True, slots=True)
class ConsoleChannel:
    name: str
    stream: TextIO | None = field(default=None, repr=False, compare=False)  # None: sys.stdout
    format: ConsoleFormat = "compact"  # one line per story, or every detail (the email's text)


Channel = EmailChannel | SlackChannel | ConsoleChannel
