"""`newswatch feeds add | remove | import | export`: the feed list of the config file, edited in place
(flows/config_edit.py keeps its comments and order and validates the result before writing).
`newswatch feeds` alone shows each feed's health (flows/cli/commands.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alerts.text import one_line, safe_url
from flows.errors import EXIT_OK, UsageError

# flows.config_edit (tomlkit, the settings) and flows.opml are imported by the commands that use
# them: `newswatch --help` and `newswatch feeds` stay fast.

MAX_OPML_BYTES = 20_000_000


def _web(text: str) -> str:
    """Text from elsewhere (an OPML title, a URL) for the terminal: one line, no control characters."""
    return one_line(text).strip()


def cmd_feeds_add(args) -> int:
    from flows.config_edit import EditRefused, add_feed, editing

    if safe_url(args.url.strip()) is None:
        raise UsageError(f"{_web(args.url)!r}: expected an http(s) URL without spaces or control characters")
    try:
        with editing(args.config) as doc:
            add_feed(doc, args.name, args.url)
    except EditRefused as e:
        raise UsageError(str(e)) from None
    print(f"added feed {args.name} ({args.url.strip()}) to {args.config}; it is polled on the next run")
    return EXIT_OK


def cmd_feeds_remove(args) -> int:
    from flows.config_edit import EditRefused, editing, remove_feed

    try:
        with editing(args.config) as doc:
            url = remove_feed(doc, args.name)
    except EditRefused as e:
        raise UsageError(str(e)) from None
    print(f"removed feed {args.name} ({_web(url)}) from {args.config}; what it stored stays in the warehouse")
    return EXIT_OK


def cmd_feeds_import(args) -> int:
    from flows.config_edit import EditRefused, add_feed, configured_feeds, editing
    from flows.opml import OpmlError, feed_name, read_outlines

    source = Path(args.file)
    try:
        with source.open("rb") as f:
            data = f.read(MAX_OPML_BYTES + 1)
    except OSError as e:
        raise UsageError(f"{source}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_OPML_BYTES:
        raise UsageError(f"{source}: larger than {MAX_OPML_BYTES // 1_000_000} MB: not a subscription list")
    try:
        outlines = read_outlines(data)
    except OpmlError as e:
        raise UsageError(f"{source}: {e}") from None
    if not outlines:
        raise UsageError(f"{source}: no feed in it (no <outline> with an xmlUrl)")
    added: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    try:
        with editing(args.config) as doc:
            known = {f.url: f.name for f in configured_feeds(doc)}
            taken = {f.name for f in configured_feeds(doc)}
            for o in outlines:
                label = o.title or o.url
                if o.url in known:
                    skipped.append((label, f"already configured as {known[o.url]}"))
                    continue
                if safe_url(o.url) is None:
                    skipped.append((label, f"not an http(s) URL: {o.url!r}"))
                    continue
                name = feed_name(o.title, o.url, taken)
                try:
                    add_feed(doc, name, o.url)
                except EditRefused as e:
                    skipped.append((label, str(e)))
                    continue
                taken.add(name)
                known[o.url] = name
                added.append((name, o.url))
    except EditRefused as e:
        raise UsageError(str(e)) from None
    for name, url in added:
        print(f"  + {name:<24} {_web(url)}")
    for label, why in skipped:
        print(f"  - {_web(label)[:60]}: {_web(why)}")
    print(f"added {len(added)} feed(s) to {args.config} from {source}; skipped {len(skipped)}")
    return EXIT_OK


def cmd_feeds_export(args) -> int:
    from flows.config_edit import write_atomically
    from flows.opml import write_opml
    from flows.settings import ConfigError, load_settings

    try:
        settings = load_settings(args.config, check_secrets=False)
    except ConfigError as e:
        raise UsageError(str(e).replace("\n", ";")) from None
    data = write_opml([(f.name, f.url) for f in settings.feeds])
    if str(args.opml) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return EXIT_OK
    out = Path(args.opml)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: no directory {out.parent}")
    write_atomically(out, data.decode("utf-8"))
    print(f"wrote {len(settings.feeds)} feed(s) to {out}")
    return EXIT_OK


def add_feed_subcommands(feeds: argparse.ArgumentParser) -> None:
    """`feeds add|remove|import|export` under the `feeds` parser (which alone shows the health table).
    Their --config defaults to the parent's, so it may come before or after the subcommand."""

    def config_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            type=Path,
            default=argparse.SUPPRESS,
            metavar="FILE",
            help="configuration file to edit (default: ./newswatch.toml)",
        )

    sub = feeds.add_subparsers(dest="feeds_command", metavar="SUBCOMMAND")
    p = sub.add_parser("add", help="add a feed at the end of the config's feed list")
    config_option(p)
    p.add_argument("name", help="a short lowercase name: a-z, 0-9, . _ -")
    p.add_argument("url", help="the feed's http(s) URL (check it first with `newswatch check-feed URL`)")
    p.set_defaults(func=cmd_feeds_add)
    p = sub.add_parser("remove", help="remove a feed from the config (what it stored stays in the warehouse)")
    config_option(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_feeds_remove)
    p = sub.add_parser("import", help="add the feeds of an OPML subscription list (those not configured yet)")
    config_option(p)
    p.add_argument("file", metavar="FILE.opml")
    p.set_defaults(func=cmd_feeds_import)
    p = sub.add_parser("export", help="write the configured feeds as an OPML subscription list")
    config_option(p)
    p.add_argument(
        "--opml", required=True, metavar="FILE", help="the file to write ('-' for standard output)"
    )
    p.set_defaults(func=cmd_feeds_export)
