"""The record types that cross stage boundaries, defined once.

FeedEntry (what a feed said) -> Page (what was fetched) -> Article (clean text, metadata,
fingerprint) -> Verdict (new, or a copy of a stored article) -> Mention / TermMatch -> Alert.
Library types (feedparser dicts, trafilatura documents, HTTP responses) are converted at the
edge; nothing downstream sees them. All records are frozen and slotted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

FeedOutcome = Literal["ok", "not_modified", "failed"]
TextSource = Literal["page", "feed", "seed"]
CopyMethod = Literal["url", "exact", "near"]
MentionKind = Literal["actor", "keyword"]
AlertStatus = Literal["pending", "sent", "failed"]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of a feed, as the feed described it."""

    feed: str  # the feed's configured name
    url: str | None  # canonical http(s) link, or None when the entry has none
    guid: str | None  # the entry's id/guid as the feed gave it
    title: str
    content: str  # the feed's own text for the item (HTML stripped), "" when absent
    published_at: datetime | None  # timezone-aware UTC
    author: str | None = None
    raw_url: str | None = None  # the link exactly as the feed wrote it


@dataclass(frozen=True, slots=True)
class FeedPaging:
    """Where a feed says its older entries are (RFC 5005), as absolute URLs; None when it does not."""

    next: str | None = None  # a paged feed's next page (feeds list newest first: older entries)
    prev_archive: str | None = None  # an archived feed's previous (older) archive document
    wordpress: bool = False  # the generator is WordPress, whose feeds take ?paged=N

    @property
    def older(self) -> str | None:
        return self.next or self.prev_archive


@dataclass(frozen=True, slots=True)
class FeedPoll:
    """The result of polling one feed once (one conditional GET, retries included)."""

    feed: str
    url: str
    outcome: FeedOutcome
    status: int | None  # last HTTP status, None when no response arrived
    entries: tuple[FeedEntry, ...] = ()
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None  # why it failed, or a parser warning for a partly malformed feed
    transient: bool = False  # a failure that may pass by itself (timeout, 5xx, connection refused)
    retry_after: float | None = None  # seconds, from a Retry-After header
    elapsed_ms: float = 0.0
    moved_to: str | None = None  # the feed answered with a permanent redirect (301, 308) to here
    paging: FeedPaging | None = None  # links to older entries, when the feed gives them


@dataclass(frozen=True, slots=True)
class Page:
    """An article page as fetched: its body, or the reason it could not be had.

    The body stays bytes until an extraction worker decodes it (`html`), so the flow process, which
    fetches for every worker, spends no time decoding or re-encoding pages to hand them over.
    """

    url: str  # the canonical URL that was requested
    final_url: str | None  # after redirects
    status: int | None
    body: bytes | None  # Content-Encoding removed; None when the fetch failed or was dropped
    content_type: str | None = None
    error: str | None = None  # why the fetch failed; None when it succeeded
    fetched_at: datetime | None = None
    # The failure will recur, so fetching again is pointless: a refused address, a body over the
    # size cap (decompression bombs included), an endless body, a certificate that does not
    # verify, a 4xx answer. False when it succeeded or may pass (timeouts, 5xx, connection errors).
    permanent: bool = False
    etag: str | None = None  # the page's validators, for rechecking it with a conditional GET
    last_modified: str | None = None

    @property
    def fetched(self) -> bool:
        return self.error is None

    @property
    def html(self) -> str | None:
        """The body decoded as a browser would (BOM, declared charset, else UTF-8)."""
        from extractors.charset import decode_html

        return None if self.body is None else decode_html(self.body, self.content_type)

    def without_body(self) -> Page:
        """The page's outcome without its bytes (once extracted, they are not needed any more)."""
        return replace(self, body=None)


@dataclass(frozen=True, slots=True)
class Extracted:
    """What extraction found in a page (text cleaned; before topic and copy judgement)."""

    title: str | None
    text: str
    author: str | None = None
    published_at: datetime | None = None
    lang: str | None = None
    fingerprint: Fingerprint | None = None  # of `text`, when the extraction worker computed it
    word_count: int | None = None  # len(text.split()), counted where the text was made

    def __reduce__(self):
        # Sent back by every extraction worker: a plain tuple pickles ~5x faster than a slotted
        # dataclass's state (which goes through dataclasses.fields on both sides).
        return Extracted, (
            self.title,
            self.text,
            self.author,
            self.published_at,
            self.lang,
            self.fingerprint,
            self.word_count,
        )


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What copy detection needs of an article's text."""

    text_hash: str  # hash of the normalised text: equal hashes mean the same text
    band_keys: tuple[int, ...]  # LSH band keys (signed 64-bit), band index mixed in
    shingle_count: int
    # Sorted unique shingle hashes (numpy uint64), kept in memory to verify copy candidates without
    # normalising the text again; never stored.
    shingles: Any = field(default=None, compare=False, repr=False)

    def __reduce__(self):
        # The shingles as raw bytes: cheaper to pickle than a numpy array (see Extracted.__reduce__).
        raw = None if self.shingles is None else self.shingles.tobytes()
        return _fingerprint, (self.text_hash, self.band_keys, self.shingle_count, raw)


def _fingerprint(text_hash: str, band_keys: tuple[int, ...], shingle_count: int, raw: bytes | None):
    import numpy as np  # only where fingerprints are unpickled, which has numpy already

    shingles = None if raw is None else np.frombuffer(raw, dtype=np.uint64)
    return Fingerprint(text_hash, band_keys, shingle_count, shingles)


@dataclass(frozen=True, slots=True)
class Article:
    """A clean, on-topic article ready to be judged and stored."""

    url: str
    feed: str
    title: str
    text: str
    fingerprint: Fingerprint
    text_source: TextSource
    published_at: datetime | None = None
    author: str | None = None
    lang: str | None = None
    guid: str | None = None
    word_count: int | None = None  # len(text.split()) when already counted
    etag: str | None = None  # the page's validators (text_source "page"), for rechecks
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an article is new, or a copy of a stored article (or of one earlier in its batch)."""

    is_copy: bool
    duplicate_of: int | None = None  # article_id of the original
    method: CopyMethod | None = None
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    """One watchlist item (actor or keyword) found in one article."""

    kind: MentionKind
    name: str  # the actor's name or the keyword
    alias: str  # the text form that matched first
    count: int
    snippet: str  # text around the first match
    start: int = 0  # offset of the first match inside snippet
    end: int = 0
    offset: int | None = None  # where the first match is in the article (title, blank line, text)


@dataclass(frozen=True, slots=True)
class TermMatch:
    """A term of a rule found in a story: one snippet of what an alert quotes."""

    term: str  # the term, phrase or actor as the rule names it
    snippet: str  # text around the match, within its paragraph (the title is one)
    start: int  # the match inside snippet
    end: int
    offset: int  # where the match is in the story (title, blank line, text): orders snippets


@dataclass(frozen=True, slots=True)
class AlertStory:
    """What an alert message shows about one story."""

    article_id: int
    title: str
    url: str
    feed: str
    published_at: datetime | None
    mentions: tuple[Mention, ...]
    copies: int = 0  # how many copies of the story were seen
    copy_feeds: tuple[str, ...] = ()
    matched: tuple[TermMatch, ...] = ()  # what the rules matched (quoted instead of the mentions)


@dataclass(frozen=True, slots=True)
class ArchiveMatches:
    """A new or changed rule's matches among stories stored before: listed once, never paged."""

    rule: str
    count: int
    stories: tuple[AlertStory, ...]  # the first few, newest first


@dataclass(frozen=True, slots=True)
class Alert:
    """One outbox row: a rule fired for an article and must reach a channel. Or, without a story,
    an operational notice (`notice`: a feed failing, an outage) or a rule's archive matches."""

    alert_id: int
    rule: str
    channel: str
    story: AlertStory | None
    status: AlertStatus = "pending"
    attempts: int = 0
    extra: dict = field(default_factory=dict)
    notice: str | None = None  # an operational alert: what happened
    archive: ArchiveMatches | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A stored article as read back to match it again (retro-matching, the rule preview)."""

    article_id: int
    title: str
    text: str
    feed: str
    lang: str | None
    url: str
    published_at: datetime | None
    first_seen: datetime
    run_id: int | None


# Characters that make a terminal do something instead of showing text: C0 controls but tab and
# newline (ESC starts escape sequences, BEL rings, CR and BS overwrite), DEL, C1 controls (0x9B
# is an 8-bit CSI), and the bidi marks, embeddings, overrides and isolates that reorder a line.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` from the web (titles, feed names, errors quoting a server) fit for a terminal: the
    characters above removed, tabs and newlines kept. Every record's text printed passes here."""
    return _TERMINAL_UNSAFE.sub("", text)
