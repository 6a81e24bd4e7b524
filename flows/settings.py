"""The configuration: one typed object, loaded from TOML and validated once.

Errors name the file, the key and what was expected. Secrets never live in the file: it names
environment variables, which are resolved here (and only kept in memory).
"""

from __future__ import annotations

import os
import textwrap
import tomllib
from pathlib import Path

from pydantic import ValidationError, model_validator

from alerts.config import Actor, Rule, Watchlist
from alerts.matching import QueryFilter, RuleMatcher
from alerts.query import QueryError
from flows.config_sections import (  # noqa: F401  (the section models are part of this module's interface)
    ActorConfig,
    AlertsConfig,
    BackfillConfig,
    ChannelConfig,
    ConsoleChannelConfig,
    EmailChannelConfig,
    ExtractConfig,
    FeedConfig,
    FetchConfig,
    HealthConfig,
    ReportConfig,
    RevisionsConfig,
    RuleConfig,
    RunnerConfig,
    ScheduleConfig,
    SlackChannelConfig,
    TopicConfig,
    WarehouseConfig,
    WatchlistConfig,
    _Strict,
)

DEFAULT_CONFIG = Path("newswatch.toml")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and the problem."""


class Settings(_Strict):
    warehouse: WarehouseConfig = WarehouseConfig()
    fetch: FetchConfig = FetchConfig()
    topic: TopicConfig = TopicConfig()
    extract: ExtractConfig = ExtractConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    runner: RunnerConfig = RunnerConfig()
    health: HealthConfig = HealthConfig()
    backfill: BackfillConfig = BackfillConfig()
    revisions: RevisionsConfig = RevisionsConfig()
    report: ReportConfig = ReportConfig()
    feeds: tuple[FeedConfig, ...] = ()
    watchlist: WatchlistConfig = WatchlistConfig()
    rules: tuple[RuleConfig, ...] = ()
    alerts: AlertsConfig = AlertsConfig()
    channels: dict[str, ChannelConfig] = {}
    source: Path | None = None  # the file it was loaded from

    @model_validator(mode="after")
    def _cross_references(self):
        names = [f.name for f in self.feeds]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feeds: duplicate feed name(s) {dupes}")
        actors = {a.name for a in self.watchlist.actors}
        keywords = set(self.watchlist.keywords)
        rule_names = [r.name for r in self.rules]
        dupes = sorted({n for n in rule_names if rule_names.count(n) > 1})
        if dupes:  # a rule is named by its alerts, mutes and the archive's state
            raise ValueError(f"rules: duplicate rule name(s) {dupes}")
        for i, rule in enumerate(self.rules):
            where = f"rules[{i}] ({rule.name})"
            for a in rule.actors:
                if a not in actors:
                    raise ValueError(f"{where}.actors: unknown actor {a!r}; known: {sorted(actors)}")
            for k in rule.keywords:
                if k not in keywords:
                    raise ValueError(f"{where}.keywords: unknown keyword {k!r}; known: {sorted(keywords)}")
            if not rule.actors and not rule.keywords and rule.query is None:
                raise ValueError(f"{where}: expected a query, or at least one actor or keyword")
            for c in rule.channels:
                if c not in self.channels:
                    raise ValueError(
                        f"{where}.channels: unknown channel {c!r}; known: {sorted(self.channels)}"
                    )
        for c in self.health.alert_channels:
            if c not in self.channels:
                raise ValueError(f"health.alert_channels: unknown channel {c!r}")
        if self.report.channel is not None and not isinstance(
            self.channels.get(self.report.channel), EmailChannelConfig
        ):
            raise ValueError(f"report.channel: {self.report.channel!r} is not an email channel")
        return self

    def alert_watchlist(self) -> Watchlist:
        wl = self.watchlist
        return Watchlist(
            actors=tuple(Actor(a.name, tuple(a.aliases)) for a in wl.actors), keywords=tuple(wl.keywords)
        )

    def alert_rules(self) -> tuple[Rule, ...]:
        return tuple(
            Rule(r.name, r.actors, r.keywords, r.channels, query=r.query, digest=r.digest) for r in self.rules
        )

    def query_problem(self) -> str | None:
        """The first rule or topic query that cannot be used, as '<key>: <what> (column N)' with
        the query and a caret under the problem; None when all parse and name known actors."""
        watchlist = self.alert_watchlist()
        for i, rule in enumerate(self.alert_rules()):
            if rule.query is not None:
                try:
                    RuleMatcher(watchlist, (rule,))
                except QueryError as e:
                    return e.report(f"rules[{i}] ({rule.name}).query")
        if self.topic.query is not None:
            try:
                QueryFilter(self.topic.query, watchlist)
            except QueryError as e:
                return e.report("topic.query")
        return None

    def secret_blocks(self) -> list[tuple[str, str]]:
        """(key, Prefect Secret block name) for every secret the channels take from a block."""
        out = []
        for name, ch in self.channels.items():
            for key in ("username_block", "password_block", "webhook_url_block"):
                block = getattr(ch, key, None)
                if block:
                    out.append((f"channels.{name}.{key}", block))
        return out

    def secret_variables(self) -> list[tuple[str, str, bool]]:
        """(key, environment variable, required) for every secret the channels name."""
        out = []
        for name, ch in self.channels.items():
            if isinstance(ch, EmailChannelConfig):
                if ch.username_env:
                    out.append((f"channels.{name}.username_env", ch.username_env, True))
                if ch.password_env:
                    out.append((f"channels.{name}.password_env", ch.password_env, True))
            elif isinstance(ch, SlackChannelConfig) and ch.webhook_url_env:
                out.append((f"channels.{name}.webhook_url_env", ch.webhook_url_env, True))
        return out


def _format_validation(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after"))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "union_tag_invalid":
            msg = f"unknown channel type {e.get('input', {}).get('type')!r}; expected email, slack or console"
        elif e["type"] == "union_tag_not_found":
            msg = "missing 'type' (expected email, slack or console)"
        lines.append(f"  {loc or '(top level)'}: {msg}")
    return "\n".join(lines)


def load_settings(path: Path | str | None = None, *, check_secrets: bool = True) -> Settings:
    """Load and validate a config file. `check_secrets`: fail when a named secret variable is unset."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        settings = Settings.model_validate({**raw, "source": path})
    except ValidationError as e:
        raise ConfigError(_format_validation(path, e)) from None
    if problem := settings.query_problem():
        raise ConfigError(f"{path}: invalid configuration\n" + textwrap.indent(problem, "  "))
    if check_secrets:
        for key, var, required in settings.secret_variables():
            if required and not os.environ.get(var):
                raise ConfigError(f"{path}: {key}: environment variable {var} is not set")
    return settings


def validate_toml(text: str, path: Path) -> Settings:
    """The settings `text` would load as from `path` (secrets not checked): for an edit of the file
    validated before it is written. Raises ConfigError like load_settings."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        return Settings.model_validate({**raw, "source": path})
    except ValidationError as e:
        raise ConfigError(_format_validation(path, e)) from None


def resolve_db_path(settings: Settings, db: Path | str | None) -> Path:
    """--db overrides [warehouse] path; a relative path in the config is relative to the working dir."""
    return Path(db) if db else settings.warehouse.path
