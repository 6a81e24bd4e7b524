"""Hostile and broken web servers (tests/hostile_server.py): every case as data, what the server
does and what newswatch must record, each bounded in time. Real sockets on 127.0.0.1 only."""

from __future__ import annotations

import pytest

from tests.hostile_server import CASES, HostileServer, problems, run_case


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with HostileServer(CASES, cert_dir=tmp_path_factory.mktemp("hostile-tls")) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case, server):
    record, seconds = run_case(case, server)
    assert problems(case, record, server) == [], f"{case.name}: the server {case.does}"
    # The attempt's deadline holds whatever the server does (a dripping server once held it 12 s).
    assert seconds <= case.time_bound(server), f"{case.name} took {seconds:.1f}s: the server {case.does}"
