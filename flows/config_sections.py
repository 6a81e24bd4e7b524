"""The sections of the configuration, as typed models (pydantic): each key with its type, default and
checks. `flows.settings` puts them together, checks what refers across sections, and loads the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# RFC 9110 token: what a header or cookie name may be.
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers a feed may not set: the transport's own framing and encoding, and the cookie header
# (its `cookies` key is for that).
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "accept-encoding",
        "cookie",
        "te",
        "upgrade",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarehouseConfig(_Strict):
    path: Path = Path("data/newswatch.duckdb")


class FetchConfig(_Strict):
    allow_private_hosts: bool = False
    connect_timeout: float = Field(5.0, gt=0)
    timeout: float = Field(20.0, gt=0)
    max_bytes: int = Field(5_000_000, gt=1000)
    retries: int = Field(2, ge=0, le=10)
    backoff: float = Field(0.5, ge=0)
    max_retry_wait: float = Field(30.0, ge=0)
    per_host: int = Field(2, ge=1, le=64)
    max_workers: int = Field(16, ge=1, le=512)
    user_agent: str = "newswatch/0.1 (+https://example.org/newswatch)"
    # http://[user:password@]host:port for every fetch; unset: HTTPS_PROXY / HTTP_PROXY, if set.
    # NO_PROXY applies to both.
    proxy: str | None = None

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str | None) -> str | None:
        if v is None:
            return None
        from extractors.connections import parse_proxy

        parse_proxy(v)  # ValueError with the reason (the URL's password never quoted)
        return v.strip()


class TopicConfig(_Strict):
    terms: tuple[str, ...] | None = None  # None: the built-in default list (unless `query` is set)
    min_hits: int = Field(1, ge=1)
    query: str | None = None  # a query (alerts/query.py); with `terms` set too, both must match

    @field_validator("terms")
    @classmethod
    def _nonempty(cls, v):
        if v is not None and not [t for t in v if t.strip()]:
            raise ValueError("must list at least one term (or be omitted for the default list)")
        return v


class ExtractConfig(_Strict):
    workers: int | None = Field(None, ge=0, le=256)  # None: one per core; 0: in the flow process
    deadline_s: float = Field(20.0, gt=0)
    min_feed_words: int = Field(80, ge=1)  # feed text long enough to stand in for a failed page
    min_words: int = Field(40, ge=1)  # shorter extractions count as empty


class ScheduleConfig(_Strict):
    cron: str | None = None
    interval_minutes: float | None = Field(None, gt=0)
    # Each feed's own interval, from its pace, within these bounds. Without max_interval_minutes
    # every feed is due on every run (min_interval_minutes then defaults to 0).
    min_interval_minutes: float | None = Field(None, ge=0)
    max_interval_minutes: float | None = Field(None, gt=0)
    run_timeout_minutes: float = Field(30.0, gt=0)  # a run past it is stopped and recorded as timed_out

    @model_validator(mode="after")
    def _one(self):
        if self.cron and self.interval_minutes:
            raise ValueError("set either cron or interval_minutes, not both")
        low, high = self.min_interval_minutes, self.max_interval_minutes
        if low is not None and high is not None and low > high:
            raise ValueError("min_interval_minutes must not exceed max_interval_minutes")
        return self


class RunnerConfig(_Strict):
    workers: int | None = Field(None, ge=1, le=256)  # a local Dask cluster of N processes
    dask_address: str | None = None  # an existing Dask scheduler, tcp://host:8786
    poll_batch: int = Field(50, ge=1)  # feeds in the first poll task (then twice as many each)
    page_batch: int = Field(200, ge=1)  # pages per fetch/extract task (a task run costs ~70 ms of CPU)


class HealthConfig(_Strict):
    failure_alert_after: int = Field(3, ge=1)  # consecutive failed runs before one operational alert
    alert_channels: tuple[str, ...] = ()
    backoff_max_minutes: float = Field(24 * 60, gt=0)
    # A feed that answers but has published nothing for silence_factor x its median gap between
    # entries (and at least silence_min_hours) is silent: one alert, and a note when it resumes.
    silence_factor: float = Field(4.0, ge=1)
    silence_min_hours: float = Field(24.0, gt=0)


class BackfillConfig(_Strict):
    """Filling a gap (a poll whose entries were all new): the feed's older pages, then the sitemap."""

    enabled: bool = True
    max_pages: int = Field(10, ge=0, le=100)  # older feed pages fetched per gap
    sitemap: bool = True  # also read the site's news sitemap (robots.txt) for the gap's window
    max_sitemaps: int = Field(5, ge=0, le=50)  # sitemap documents (index and children) per gap
    time_budget_s: float = Field(60.0, gt=0)  # per gap, all requests together


class RevisionsConfig(_Strict):
    """Rechecking young stories for revisions, with conditional GETs."""

    recheck_hours: float = Field(48.0, ge=0)  # stories younger than this are rechecked; 0: never
    recheck_minutes: float = Field(60.0, ge=0)  # how often each is rechecked; 0: on every run
    min_changed_words: int = Field(5, ge=1)  # words changed (numbers and dates aside) for a revision
    max_per_run: int = Field(200, ge=1)  # rechecks per run, the stalest first


class ReportConfig(_Strict):
    """A report that `serve` makes on its own schedule (a second deployment)."""

    cron: str | None = None  # e.g. "0 7 * * MON" (UTC); none: serve schedules no report
    since: str = "7d"
    channel: str | None = None  # an email channel that receives it
    out: Path = Path("data/report.html")


def _printable(value: str, what: str) -> str:
    if not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"{what}: expected printable text without control characters, got {value!r}")
    return value


class FeedConfig(_Strict):
    name: str
    url: str
    enabled: bool = True
    # Request settings of this feed's own (for a site that needs a consent cookie or another
    # agent): sent to the feed URL's host only, never to a host it redirects to (but user_agent).
    user_agent: str | None = None
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, v: str | None) -> str | None:
        return None if v is None else _printable(v.strip(), "user_agent")

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not TOKEN.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(
                    f"header {name!r} cannot be set per feed"
                    + (' (use cookies = { name = "value" })' if name.lower() == "cookie" else "")
                )
            _printable(value, f"header {name!r}")
        return v

    @field_validator("cookies")
    @classmethod
    def _cookies(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not TOKEN.match(name):
                raise ValueError(f"cookie name {name!r} is not a valid cookie name")
            if any(c in value for c in ';,"\\ ') or any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
                raise ValueError(
                    f"cookie {name!r}: a value holds no spaces, quotes, commas, semicolons or non-ASCII"
                )
        return v

    def request_overrides(self):
        """This feed's own request settings for the fetcher, or None when it has none."""
        if self.user_agent is None and not self.headers and not self.cookies:
            return None
        from extractors.http import RequestOverrides

        return RequestOverrides(
            user_agent=self.user_agent,
            headers=tuple(self.headers.items()),
            cookies=tuple(self.cookies.items()),
        )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not FEED_NAME.match(v) or v == "seed":
            raise ValueError("expected a short lowercase name (a-z, 0-9, . _ -), not 'seed'")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v.strip()):
            raise ValueError(f"expected an http(s) URL, got {v!r}")
        return v.strip()


class ActorConfig(_Strict):
    name: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()


class WatchlistConfig(_Strict):
    keywords: tuple[str, ...] = ()
    actors: tuple[ActorConfig, ...] = ()


class RuleConfig(_Strict):
    name: str = Field(min_length=1)
    actors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    query: str | None = None  # alerts/query.py; fires beside the actors and keywords (OR)
    channels: tuple[str, ...] = Field(min_length=1)
    digest: Literal["immediate", "hourly", "daily"] = "immediate"


class AlertsConfig(_Strict):
    retro_digest: bool = True  # one "archive matches" message when a new or changed rule matches old stories


class EmailChannelConfig(_Strict):
    type: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    sender: str
    recipients: tuple[str, ...] = Field(min_length=1)
    username_env: str | None = None
    password_env: str | None = None
    # Or Prefect Secret blocks (`prefect block create secret`, the UI): read when an alert is sent.
    username_block: str | None = None
    password_block: str | None = None
    timeout: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _one_source(self):
        for what in ("username", "password"):
            if getattr(self, f"{what}_env") and getattr(self, f"{what}_block"):
                raise ValueError(f"set either {what}_env or {what}_block, not both")
        return self

    @field_validator("sender", "recipients")
    @classmethod
    def _no_header_injection(cls, v):
        for addr in (v,) if isinstance(v, str) else v:
            if any(c in addr for c in "\r\n") or "@" not in addr:
                raise ValueError(f"expected an email address, got {addr!r}")
        return v


class SlackChannelConfig(_Strict):
    type: Literal["slack"]
    webhook_url_env: str | None = None
    webhook_url_block: str | None = None  # a Prefect Secret block holding the webhook URL
    timeout: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _one_source(self):
        if bool(self.webhook_url_env) == bool(self.webhook_url_block):
            raise ValueError("set exactly one of webhook_url_env and webhook_url_block")
        return self


class ConsoleChannelConfig(_Strict):
    type: Literal["console"]
    format: Literal["compact", "full"] = "compact"  # one line per story, or every detail


ChannelConfig = Annotated[
    EmailChannelConfig | SlackChannelConfig | ConsoleChannelConfig, Field(discriminator="type")
]
