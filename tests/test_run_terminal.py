"""`newswatch run` as a user sees it, as a real process on a real terminal (a pseudo-terminal): the
progress lines on stderr (redrawn while a feed answers slowly), the summary on stdout with at most
30 new stories (`--verbose`: all), the console channel's one line per story; and off a terminal no
progress at all and one summary line."""

from __future__ import annotations

import dataclasses
import os
import pty
import random
import re
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e import NEWSWATCH, user_env
from tests.helpers_http import LocalServer, Reply

pytestmark = pytest.mark.slow

STORIES = 40
WORDS = (
    "radar launcher battery brigade minister treaty exercise budget contract satellite warhead range "
    "test flight target ship destroyer cruiser base site deployment command officer analyst report "
    "agency program system sensor interceptor tracking layer phase block upgrade delay cost review "
    "parliament committee hearing statement response warning threat region border coast island port"
).split()
FEED_DELAY = 3.0  # seconds before the feed answers in the progress test: a stage that stalls


def article(i: int) -> bytes:
    rng = random.Random(i)
    paragraphs = [" ".join(rng.choice(WORDS) for _ in range(60)) + "." for _ in range(4)]
    body = "".join(f"<p>Missile defense story {i}: {p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>Story {i}</title></head><body><article><h1>Story {i}</h1>{body}"
        "</article></body></html>"
    ).encode()


HOSTILE = " \x1b[2J\x07"  # in the first title: a terminal must not act on it


def feed(server: LocalServer) -> bytes:
    items = "".join(
        f"<item><title>Missile defense story {i}{HOSTILE if i == 0 else ''}</title>"
        f"<link>{server.url(f'/a/{i}.html')}</link></item>"
        for i in range(STORIES)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    )


@pytest.fixture(scope="module")
def site():
    with LocalServer() as server:
        server.routes["/feed.xml"] = Reply(body=feed(server))
        for i in range(STORIES):
            server.routes[f"/a/{i}.html"] = Reply(
                body=article(i), headers={"Content-Type": "text/html"}, delay=0.05
            )
        yield server


def config(tmp_path: Path, site: LocalServer) -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(
        f"""[warehouse]
path = "{tmp_path / "newswatch.duckdb"}"

[fetch]
allow_private_hosts = true
per_host = 4

[[feeds]]
name = "slow"
url = "{site.url("/feed.xml")}"

[watchlist]
keywords = ["missile defense"]

[[rules]]
name = "md"
keywords = ["missile defense"]
channels = ["terminal"]

[channels.terminal]
type = "console"
""",
        encoding="utf-8",
    )
    return path


def run(
    tmp_path: Path, api_url: str, site: LocalServer, *args: str, stdout_tty: bool
) -> tuple[int, str, str]:
    """`newswatch run` with stderr on a terminal (and stdout too when asked); both as text."""
    err_master, err_slave = pty.openpty()
    out_master, out_slave = pty.openpty() if stdout_tty else (None, None)
    env = user_env(tmp_path / "prefect-home", api_url=api_url, COLUMNS="120")
    proc = subprocess.Popen(
        [str(NEWSWATCH), "run", "--config", str(config(tmp_path, site)), *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out_slave if stdout_tty else subprocess.PIPE,
        stderr=err_slave,
    )
    os.close(err_slave)
    if out_slave is not None:
        os.close(out_slave)
    chunks: dict[int, list[bytes]] = {err_master: [], **({out_master: []} if out_master else {})}

    def drain(fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the terminal's other side closed
                return
            if not data:
                return
            chunks[fd].append(data)

    readers = [threading.Thread(target=drain, args=(fd,), daemon=True) for fd in chunks]
    for r in readers:
        r.start()
    piped = proc.stdout.read() if not stdout_tty else b""
    code = proc.wait(timeout=300)
    for r in readers:
        r.join(timeout=10)
    err = b"".join(chunks[err_master]).decode(errors="replace")
    out = b"".join(chunks[out_master]).decode(errors="replace") if out_master else piped.decode()
    return code, out, err


def test_progress_on_a_terminal_and_one_line_when_stdout_is_not(tmp_path, site, prefect_harness):
    prompt = site.routes["/feed.xml"]
    site.routes["/feed.xml"] = dataclasses.replace(prompt, delay=FEED_DELAY)
    try:
        code, out, err = run(tmp_path, prefect_harness, site, stdout_tty=False)
    finally:
        site.routes["/feed.xml"] = prompt
    assert code == 0, out + err
    for stage in ("feeds polled", "pages fetched", "pages extracted"):
        assert stage in err, err
    assert re.search(rf"pages extracted\s+{STORIES}/{STORIES}", err), err
    assert re.search(r"\d+\.\d/s", err) and "left" in err
    # the feed took 3 s to answer: the refresher redrew the stalled line meanwhile (about every second)
    stalled = len(re.findall(r"feeds polled\s+0/1", err))
    assert stalled >= 2, err
    # stdout is not a terminal: the console digest, then exactly one summary line
    summary = [line for line in out.splitlines() if line.startswith("newswatch run ")]
    assert len(summary) == 1 and summary[0].startswith("newswatch run 1: completed in ")
    assert f"{STORIES} stored" in summary[0]
    assert sum(1 for line in out.splitlines() if line.startswith("  [md] ")) == STORIES  # one line a story
    assert "\x1b" not in out and "\x07" not in out


@pytest.mark.parametrize(("args", "listed"), [((), 30), (("--verbose",), STORIES)])
def test_summary_on_a_terminal_lists_at_most_30_stories(tmp_path, site, prefect_harness, args, listed):
    code, out, err = run(tmp_path, prefect_harness, site, *args, stdout_tty=True)
    assert code == 0, out + err
    assert out.count("    + [") == listed
    assert ("... and 10 more" in out) == (listed == 30)
    assert "\x1b" not in out and "\x07" not in out  # the hostile title reached the terminal inert
    assert "Traceback" not in out + err
