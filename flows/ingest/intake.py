"""What is new in a run: the ledger decides which entries to fetch and which are already known."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from extractors.records import FeedEntry, FeedPoll
from warehouse.store import Warehouse

MAX_FETCH_ATTEMPTS = 3  # a transiently failed page is tried again on up to this many runs


def entry_key(entry: FeedEntry) -> str:
    """The ledger key of an entry: its canonical URL, else its guid, else a hash of its title."""
    if entry.url:
        return entry.url
    if entry.guid:
        return f"guid:{entry.guid}"
    digest = hashlib.sha1(f"{entry.title}|{entry.published_at}".encode()).hexdigest()[:16]
    return f"title:{digest}"


def without_content(entry: FeedEntry) -> FeedEntry:
    """The entry without the feed's own text: what is kept of it once the run no longer needs the
    text (the page's article has it), so a run's memory does not grow with its entries' texts."""
    return replace(entry, content="") if entry.content else entry


def poll_without_texts(poll: FeedPoll) -> FeedPoll:
    """A poll as the run keeps it after its entries were taken in (for poll state, gaps, pace)."""
    if not any(e.content for e in poll.entries):
        return poll
    return replace(poll, entries=tuple(map(without_content, poll.entries)))


@dataclass
class Intake:
    """What the ledger says about a run's entries: what to fetch and what is already decided.

    Filled shard by shard (`add`), as polls come in, so fetching starts before every feed is polled.
    Only the entries to fetch keep their feed text (they may need it); the decided ones are kept
    without it, and the keys seen: a few hundred bytes an entry.
    """

    fetched: int = 0  # entries handed out to fetch, unique by URL
    url_copies: list[tuple[FeedEntry, int]] = field(default_factory=list)
    same_run: list[tuple[FeedEntry, FeedEntry]] = field(default_factory=list)  # (entry, first with its URL)
    no_link: list[FeedEntry] = field(default_factory=list)
    _keys: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _first_by_url: dict[str, FeedEntry] = field(default_factory=dict, repr=False)  # without content

    @property
    def size(self) -> int:
        """How many new entries the run has, whatever their fate."""
        return self.fetched + len(self.url_copies) + len(self.same_run) + len(self.no_link)

    def add(self, entries: Sequence[FeedEntry], wh: Warehouse) -> list[FeedEntry]:
        """Take in more of the run's entries, dropping those the ledger has seen (unless a transient
        failure asks for another try); returns the ones to fetch. Earlier entries come first: the
        first entry with a URL is fetched, later ones are copies of it."""
        keyed: dict[tuple[str, str], FeedEntry] = {}
        for e in entries:
            key = (e.feed, entry_key(e))
            if key not in self._keys:
                self._keys.add(key)
                keyed[key] = e
        seen = wh.ledger_lookup(list(keyed))
        fresh = [
            e for k, e in keyed.items() if k not in seen or (seen[k][1] and seen[k][2] < MAX_FETCH_ATTEMPTS)
        ]
        stored = wh.articles_by_url([e.url for e in fresh if e.url])
        new = []
        for e in fresh:
            if not e.url:
                self.no_link.append(without_content(e))
            elif e.url in stored:
                self.url_copies.append((without_content(e), stored[e.url]))
            elif e.url in self._first_by_url:
                self.same_run.append((without_content(e), self._first_by_url[e.url]))
            else:
                self._first_by_url[e.url] = without_content(e)
                new.append(e)
        self.fetched += len(new)
        return new


def select_new(entries: Sequence[FeedEntry], wh: Warehouse) -> Intake:
    """The Intake of a run's entries, all at once."""
    intake = Intake()
    intake.add(entries, wh)
    return intake
