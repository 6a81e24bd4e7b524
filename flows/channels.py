"""Configured channels -> the alerts package's channel objects, with secrets read from the environment
at the moment of use (they are never stored, logged or passed as flow parameters)."""

from __future__ import annotations

import os

from alerts.config import ConsoleChannel, EmailChannel, SlackChannel
from flows.settings import EmailChannelConfig, SlackChannelConfig


def build_channel(name: str, cfg):
    if isinstance(cfg, EmailChannelConfig):
        return EmailChannel(
            name=name,
            smtp_host=cfg.smtp_host,
            smtp_port=cfg.smtp_port,
            security=cfg.security,
            sender=cfg.sender,
            recipients=tuple(cfg.recipients),
            username=os.environ.get(cfg.username_env) if cfg.username_env else None,
            password=os.environ.get(cfg.password_env) if cfg.password_env else None,
            timeout=cfg.timeout,
        )
    if isinstance(cfg, SlackChannelConfig):
        return SlackChannel(
            name=name, webhook_url=os.environ.get(cfg.webhook_url_env, ""), timeout=cfg.timeout
        )
    return ConsoleChannel(name=name)
