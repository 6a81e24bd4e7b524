"""`newswatch check-feed URL`: fetch and parse a feed as a run would, show its entries and what the
pipeline makes of its first item (the page's extraction, and whether it would be stored), and write
nothing anywhere.

The fetch uses the run's own fetcher and [fetch] settings, so what check-feed sees is what `run`
will see. Those settings come from --config, else ./newswatch.toml when there is one, else the
defaults; a feed on a loopback or private address is checked only when that config sets
`[fetch] allow_private_hosts = true`, as a run would poll it only then.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flows.errors import EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:  # the modules themselves are imported by the command: `newswatch --help` stays fast
    from extractors.http import FetchSettings
    from extractors.records import FeedEntry, FeedPoll, Page
    from flows.settings import Settings

TEXT_LINES = 6  # lines of the extracted text shown
LINE_CHARS = 100


def cmd_check_feed(args) -> int:
    from extractors.errors import RefusedAddress, TransientFetchError
    from extractors.http import FetchedFeed, Fetcher, check_host, fetch_feed, fetch_pages, parse_fetched
    from flows.settings import FeedConfig

    settings, source = _settings(args.config)
    url = args.url.strip()
    try:
        FeedConfig(name="check", url=url)
    except ValueError:
        raise UsageError(f"{args.url!r}: expected an http(s) URL") from None
    fetch = _fetch_settings(settings)
    out = sys.stdout.write
    out(f"feed      {_safe(url)}\n")
    out(f"settings  [fetch] and [topic] of {source}\n" if source else "settings  the defaults (no config)\n")
    if not fetch.allow_private_hosts:
        try:
            check_host(url)
        except RefusedAddress as e:
            print(
                f"newswatch check-feed: {e}: set [fetch] allow_private_hosts = true in the config "
                "(--config) to check a feed on this host",
                file=sys.stderr,
            )
            return EXIT_FAILED
        except TransientFetchError:
            pass  # a name that does not resolve: the fetch below says so
    with Fetcher(fetch) as fetcher:
        started = time.monotonic()
        got = fetch_feed("check", url, fetcher)
        poll = parse_fetched(got) if isinstance(got, FetchedFeed) else got
        took = time.monotonic() - started
        if poll.outcome == "failed":
            status = f"HTTP {poll.status}: " if poll.status else ""
            print(
                f"newswatch check-feed: {_safe(url)}: {status}{_safe(poll.error or 'failed')}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        _show_entries(poll, took, args.limit)
        first = next((e for e in poll.entries if e.url), None)
        if first is None:
            out("\nno item has a link: no page to fetch (a run records such items as no_link)\n")
            return EXIT_OK
        page = fetch_pages([first.url], fetcher)[0]
    _show_first(first, page, settings)
    return EXIT_OK


def _settings(config: Path | None) -> tuple[Settings, Path | None]:
    from flows.settings import DEFAULT_CONFIG, ConfigError, Settings, load_settings

    path = config or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    if path is None:
        return Settings(), None
    try:
        return load_settings(path, check_secrets=False), path
    except ConfigError as e:
        raise UsageError(str(e).replace("\n", ";")) from None


def _fetch_settings(s: Settings) -> FetchSettings:
    """The fetcher's settings from [fetch]: every field the two share, by name."""
    from extractors.http import FetchSettings

    names = FetchSettings.__dataclass_fields__
    return FetchSettings(**{k: v for k, v in s.fetch.model_dump().items() if k in names})


def _safe(text: object, limit: int = 300) -> str:
    """Web text for a terminal: one line, no control characters, bounded."""
    from alerts.text import one_line, shorten

    return shorten(one_line(str(text)).strip(), limit)


def _when(entry_date) -> str:
    return entry_date.strftime("%Y-%m-%d %H:%M") if entry_date else "(no date)       "


def _show_entries(poll: FeedPoll, took: float, limit: int) -> None:
    out = sys.stdout.write
    out(f"answer    HTTP {poll.status} · {len(poll.entries)} entries · {took:.2f} s\n")
    if poll.error:
        out(f"warning   {_safe(poll.error)}\n")
    if not poll.entries:
        return
    out("\n  #  published (UTC)   title\n")
    for i, e in enumerate(poll.entries[:limit], 1):
        out(f"{i:>3}  {_when(e.published_at)}  {_safe(e.title or '(untitled)', 90)}\n")
        out(f"{'':>22}{_safe(e.url) if e.url else '(no link)'}\n")
    if len(poll.entries) > limit:
        out(f"  ... and {len(poll.entries) - limit} more (--limit N shows more)\n")


def _show_first(entry: FeedEntry, page: Page, s: Settings) -> None:
    from extractors.extract import extract_page
    from flows.ingest.articles import Rejected, build_article
    from flows.ingest.topic import build_topic

    out = sys.stdout.write
    out(f"\nfirst item  {_safe(entry.url)}\n")
    if not page.fetched:
        status = f"HTTP {page.status}: " if page.status else ""
        out(f"  page      not fetched: {status}{_safe(page.error)}\n")
        extracted = None
    else:
        size = len(page.body or b"") / 1024
        moved = (
            f" · final URL {_safe(page.final_url)}" if page.final_url and page.final_url != page.url else ""
        )
        out(
            f"  page      HTTP {page.status} · {_safe(page.content_type or 'no type', 60)} · {size:.0f} KB{moved}\n"
        )
        extracted = extract_page(page.body, page.final_url or page.url, page.content_type)
        if extracted is None:
            out("  extract   no article text found in the page\n")
        else:
            date = extracted.published_at.strftime("%Y-%m-%d %H:%M") if extracted.published_at else "(none)"
            for label, value in (
                ("title", extracted.title or "(none)"),
                ("date", date),
                ("author", extracted.author or "(none)"),
                ("words", extracted.word_count or len(extracted.text.split())),
                ("language", extracted.lang or "(unknown)"),
            ):
                out(f"  {label:<9} {_safe(value)}\n")
            lines = [line for line in extracted.text.splitlines() if line.strip()]
            out("  text\n")
            for line in lines[:TEXT_LINES]:
                out(f"    {_safe(line, LINE_CHARS)}\n")
            if len(lines) > TEXT_LINES:
                out(f"    ... ({len(lines) - TEXT_LINES} more paragraphs)\n")
    built = build_article(
        entry,
        page,
        extracted,
        topic=build_topic(s),
        min_words=s.extract.min_words,
        min_feed_words=s.extract.min_feed_words,
    )
    if isinstance(built, Rejected):
        out(f"  a run     would not store it: {built.outcome.replace('_', ' ')}: {_safe(built.reason)}\n")
    else:
        out(
            f"  a run     would keep it: on topic, {built.word_count} words from the {built.text_source} "
            "(stored, or recorded as a copy of a story already known)\n"
        )
