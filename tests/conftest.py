"""Shared fixtures. Most tests need no Prefect; those that run flows share one test harness."""

from __future__ import annotations

import collections
import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEMO_SITE = ROOT / "flows" / "demo" / "site"

# Quiet, isolated Prefect for every test process (set before anything imports prefect).
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts Prefect or a subprocess pipeline (tens of seconds)")


def pytest_collection_modifyitems(config, items):
    """For `pytest -n 3 --dist loadfile --no-loadscope-reorder` (make test): each module runs on
    one worker (its module-scoped fixtures, such as a built warehouse, are built once), modules with
    the most slow tests first, so short modules fill the end instead of one worker finishing a 30 s
    test alone (measured before: 42 s of one idle worker)."""
    slow = collections.Counter(item.module for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.module])


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One real Prefect server (`prefect server start`, scheduler included) for the whole session,
    started the way `newswatch serve` starts its own (~12-15 s, once). Flows run in the test process
    (`prefect_harness`), `newswatch` subprocesses (`tests.e2e.user_env(..., api_url=...)`) and
    `serve` sessions all use it, instead of each starting a server of their own."""
    from flows.runtime.servers import LocalPrefectServer

    server = LocalPrefectServer(_free_port(), tmp_path_factory.mktemp("prefect-home"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prefect_harness(prefect_server):
    """Flows called in the test process talk to the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server.api_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (shared data lives beside the checkout, not in it)")
    return SHARED


@pytest.fixture
def demo_site():
    """The bundled replay site served on 127.0.0.1 for one test."""
    from flows.demo.replay import ReplayServer

    with ReplayServer(DEMO_SITE) as site:
        yield site
