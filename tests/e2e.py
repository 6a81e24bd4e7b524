"""Helpers for end-to-end tests: a config for the demo site, and running the real ingest flow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flows.demo.command import render_config

NEWSWATCH = Path(sys.executable).parent / "newswatch"  # the command a user runs, of this environment


def demo_config(tmp_path: Path, site, smtp_port: int = 1) -> Path:
    """The bundled demo config pointed at a running replay site, with its warehouse in tmp_path."""
    cfg = render_config(site.base_url, smtp_port, tmp_path / "demo.toml")
    text = cfg.read_text(encoding="utf-8")
    db = tmp_path / "newswatch.duckdb"
    lines = [f'path = "{db}"' if line.startswith("path =") else line for line in text.splitlines()]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def ingest(config: Path, db: Path | None = None, force: bool = False):
    """One real run of the `ingest` flow (the caller provides the Prefect harness)."""
    from flows.ingest.oneshot import run_ingest
    from flows.settings import load_settings

    return run_ingest(load_settings(config), config, db, force=force)


def user_env(prefect_home: Path, api_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment a user runs newswatch in, in a private Prefect home, none of the test
    session's Prefect settings: with `api_url`, pointed at that Prefect server (as a user with
    PREFECT_API_URL set); without, newswatch starts a Prefect server of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(prefect_home)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return {**env, **extra}
