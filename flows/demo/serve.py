"""`newswatch demo --serve`: the demo's replay site, a local SMTP server and a local Slack endpoint,
kept running until Ctrl-C, with a config file that `newswatch run` and `newswatch serve` can use,
to try them offline. What the two alert channels receive is printed as it arrives.

The warehouse starts empty (as in `newswatch demo`): the site's URLs hold its port, which is new
each time, so stories stored against an earlier port would all come back as copies.
"""

from __future__ import annotations

import shlex
import signal
import sys
import time
from pathlib import Path

from alerts.text import one_line, shorten
from flows.demo.replay import ReplayServer
from flows.demo.setup import DEFAULT_DB, SITE, render_config, reset_warehouse
from flows.demo.sinks import SlackSink, SmtpSink
from flows.errors import EXIT_FAILED, EXIT_SIGINT

SLACK_ENV = "NEWSWATCH_DEMO_SLACK_WEBHOOK"
INTERVAL_MINUTES = 2  # `serve` with this config runs every two minutes
EXIT_SIGTERM = 143


class _Stop(Exception):
    def __init__(self, code: int):
        self.code = code


def serve_demo(args) -> int:
    db = Path(args.db) if args.db else DEFAULT_DB
    db = db.absolute()  # the config is used from other directories
    if _busy(db):
        print(
            f"newswatch demo: another newswatch process is writing {db}: stop it first (or pass --db)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    reset_warehouse(db)

    def stop(signum, frame):
        raise _Stop(EXIT_SIGTERM)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with SmtpSink() as smtp, SlackSink() as slack, ReplayServer(SITE) as site:
            config = write_config(site.base_url, smtp.port, db)
            _announce(site.base_url, smtp.port, slack.url, config, db)
            _relay(smtp, slack)
    except KeyboardInterrupt:
        code = EXIT_SIGINT
    except _Stop as e:
        code = e.code
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("newswatch demo: stopped the replay site, the SMTP server and the Slack endpoint", file=sys.stderr)
    return code


def write_config(base_url: str, smtp_port: int, db: Path) -> Path:
    """The demo config for this site and SMTP port, with its warehouse at `db` and a schedule."""
    config = render_config(base_url, smtp_port, db.parent / "demo-serve.toml")
    text = config.read_text(encoding="utf-8")
    lines = [
        f"path = {_toml_string(str(db))}" if line.startswith("path =") else line for line in text.splitlines()
    ]
    lines += [
        "",
        "[schedule]",
        f"interval_minutes = {INTERVAL_MINUTES}          # `newswatch serve` runs this often",
    ]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _busy(db: Path) -> bool:
    """Whether a run or `serve` holds the warehouse's lock (resetting it would pull it from under them)."""
    from warehouse.errors import WarehouseBusy
    from warehouse.lock import WriterLock

    try:
        with WriterLock(db):
            return False
    except WarehouseBusy:
        return True


def _announce(base_url: str, smtp_port: int, slack_url: str, config: Path, db: Path) -> None:
    cfg = shlex.quote(str(config))
    print(
        f"""newswatch demo --serve: running until Ctrl-C
  replay site     {base_url} (six feeds under /feeds/)
  SMTP server     127.0.0.1:{smtp_port} (channel demo-email)
  Slack endpoint  {slack_url} (channel demo-slack)
  config          {config}
  warehouse       {db} (emptied)

In another terminal:
  export {SLACK_ENV}={shlex.quote(slack_url)}
  newswatch run --config {cfg}
  newswatch serve --config {cfg}      (a run every {INTERVAL_MINUTES} minutes)
  newswatch report --config {cfg} --since all

What the alert channels receive shows here:""",
        flush=True,
    )


def _relay(smtp: SmtpSink, slack: SlackSink) -> None:
    """Print each email and Slack post as it arrives, until interrupted."""
    mails = posts = 0
    while True:
        time.sleep(0.3)
        messages, received = smtp.messages, slack.posts
        for message in messages[mails:]:
            print(f"  email  to {_show(message['To'])}: {_show(message['Subject'])}", flush=True)
        for post in received[posts:]:
            print(f"  slack  {_show(post.get('text', ''))}", flush=True)
        mails, posts = len(messages), len(received)


def _show(value: object) -> str:
    return shorten(one_line(str(value or "")).strip(), 160)
