"""Overflow detection: a poll that may have missed entries because the feed moved on too far.

A feed shows only its newest N entries. When a poll finds every entry new and even the oldest of
them newer than where the feed's coverage ended (the newest entry seen before, else the previous
successful poll), the entries published in between were never shown to us: a gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from extractors.paging import site_root
from extractors.records import FeedEntry, FeedPaging, FeedPoll
from extractors.urls import host_of
from flows.ingest.intake import entry_key
from warehouse.coverage import FeedBaseline, known_before
from warehouse.store import Warehouse


@dataclass(frozen=True, slots=True)
class Gap:
    """Where a feed's coverage broke off: entries after `since` and before `until` may be missing."""

    feed: str
    feed_url: str
    since: datetime  # the newest entry seen before (else the previous successful poll)
    until: datetime | None  # the oldest entry of the poll that overflowed; None when it had no dates
    entries: int  # entries in that poll, every one new
    paging: FeedPaging | None
    site: str  # root of the site its entries link to (where robots.txt and the sitemaps are)
    keys: frozenset[str]  # the poll's entry keys


def find_gap(poll: FeedPoll, known: int, baseline: FeedBaseline | None) -> Gap | None:
    """The gap a poll shows, or None. `known`: how many of its entries the ledger had before the run.

    No gap on a feed's first successful poll (everything is new then), nor after polls that showed
    no entry (a feed that was empty has nothing to move past), nor when any entry was known. Dated entries: a gap when the oldest is newer than where coverage ended. Undated ones
    cannot be placed: every entry new after a successful poll is taken as an overflow.
    """
    if poll.outcome != "ok" or not poll.entries or known or baseline is None:
        return None
    if baseline.last_success_at is None or not baseline.items_seen:
        return None
    dates = [e.published_at for e in poll.entries if e.published_at is not None]
    since = baseline.newest_entry_at or baseline.last_success_at
    until = min(dates) if dates else None
    if until is not None and until <= since:
        return None
    return Gap(
        feed=poll.feed,
        feed_url=poll.url,
        since=since,
        until=until,
        entries=len(poll.entries),
        paging=poll.paging,
        site=_site(poll.entries, poll.url),
        keys=frozenset(entry_key(e) for e in poll.entries),
    )


def detect_gaps(
    wh: Warehouse, polls: Sequence[FeedPoll], baselines: dict[str, FeedBaseline], run_started: datetime
) -> list[Gap]:
    """The gaps of a run's polls (one ledger query for them all; what the run itself wrote does not
    count as known, so this may be asked at any point of the run)."""
    keys = [(p.feed, entry_key(e)) for p in polls if p.outcome == "ok" for e in p.entries]
    known = Counter(feed for feed, _ in known_before(wh, keys, run_started))
    gaps = [find_gap(p, known[p.feed], baselines.get(p.feed)) for p in polls]
    return [g for g in gaps if g is not None]


def _site(entries: Sequence[FeedEntry], feed_url: str) -> str:
    """The root of the host most of the entries link to (a feed may live on another host than its
    stories, e.g. feeds.example.com), else the feed's own."""
    hosts = Counter(host_of(e.url) for e in entries if e.url)
    if hosts:
        host = hosts.most_common(1)[0][0]
        example = next(e.url for e in entries if e.url and host_of(e.url) == host)
        return site_root(example)
    return site_root(feed_url)
