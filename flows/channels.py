"""Configured channels -> the alerts package's channel objects, with secrets read at the moment of use
from the environment or a Prefect Secret block (never stored, logged or passed as flow parameters)."""

from __future__ import annotations

import os

from alerts.config import ConsoleChannel, EmailChannel, SlackChannel
from flows.settings import EmailChannelConfig, SlackChannelConfig


class SecretUnavailable(Exception):
    """A channel's secret cannot be read (variable unset, block missing, no Prefect API)."""


def secret(env: str | None, block: str | None) -> str | None:
    if env:
        return os.environ.get(env)
    if block:
        return read_secret_block(block)
    return None


def read_secret_block(name: str) -> str:
    """The value of Prefect Secret block `name` (needs the Prefect API)."""
    try:
        from prefect.blocks.system import Secret

        return Secret.load(name, _sync=True).get()
    except Exception as e:  # ValueError when missing; connection errors when no API
        raise SecretUnavailable(f"Prefect Secret block {name!r}: {type(e).__name__}: {e}") from None


def build_channel(name: str, cfg):
    """Raises SecretUnavailable when a secret block cannot be read."""
    if isinstance(cfg, EmailChannelConfig):
        return EmailChannel(
            name=name,
            smtp_host=cfg.smtp_host,
            smtp_port=cfg.smtp_port,
            security=cfg.security,
            sender=cfg.sender,
            recipients=tuple(cfg.recipients),
            username=secret(cfg.username_env, cfg.username_block),
            password=secret(cfg.password_env, cfg.password_block),
            timeout=cfg.timeout,
        )
    if isinstance(cfg, SlackChannelConfig):
        return SlackChannel(
            name=name,
            webhook_url=secret(cfg.webhook_url_env, cfg.webhook_url_block) or "",
            timeout=cfg.timeout,
        )
    return ConsoleChannel(name=name, format=cfg.format)
