"""Shared fixtures. Most tests need no Prefect; those that run flows share one test harness."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (~20 s to start, once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


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
