"""The ingest stages between polling and storage, as plain functions over batches.

The Prefect flow (flows/ingest.py) calls these; they know neither Prefect nor the network, only the
Warehouse (for set-based lookups and the single transaction that stores a judged batch).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.config import Rule
from alerts.rules import fired_rules
from alerts.watchlist import WatchlistMatcher
from extractors.clean import clean_text
from extractors.fingerprint import fingerprint, near_copy_of_sets, shingle_set
from extractors.http import TRANSIENT_STATUSES
from extractors.records import Article, Extracted, FeedEntry, FeedPoll, Page, Verdict
from extractors.seeds import load_seeds
from extractors.topic import TopicFilter
from warehouse.store import FeedState, LedgerRow, Warehouse

SEED_DIR = Path(__file__).resolve().parents[1] / "corpus" / "seed"
MAX_FETCH_ATTEMPTS = 3  # a transiently failed page is tried again on up to this many runs


def utcnow() -> datetime:
    return datetime.now(UTC)


def words(text: str) -> int:
    return len(text.split())


def entry_key(entry: FeedEntry) -> str:
    """The ledger key of an entry: its canonical URL, else its guid, else a hash of its title."""
    if entry.url:
        return entry.url
    if entry.guid:
        return f"guid:{entry.guid}"
    digest = hashlib.sha1(f"{entry.title}|{entry.published_at}".encode()).hexdigest()[:16]
    return f"title:{digest}"


@dataclass
class RunCounts:
    feeds_due: int = 0
    feeds_polled: int = 0
    feeds_unchanged: int = 0
    feeds_failed: int = 0
    entries_new: int = 0
    pages_fetched: int = 0
    articles_stored: int = 0
    copies: int = 0
    off_topic: int = 0
    no_link: int = 0
    fetch_failed: int = 0
    extract_empty: int = 0
    mentions: int = 0
    alerts_created: int = 0
    alerts_sent: int = 0
    alerts_pending: int = 0
    outage: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# ---- polling: which feeds are due, and what a poll means for a feed's health -------------------


def due_feeds(states: dict[str, FeedState], now: datetime, force: bool = False) -> list[FeedState]:
    return [
        s for s in states.values() if s.enabled and (force or s.next_poll_at is None or s.next_poll_at <= now)
    ]


def backoff_until(
    streak: int, now: datetime, retry_after: float | None, base_minutes: float, max_minutes: float
) -> datetime | None:
    """When a failing feed may be polled again. The first two failures are retried on the next run
    (one bad run is common); after that the wait doubles, up to max_minutes. Retry-After wins if later."""
    # The exponent is bounded: a feed failing for ~1000 runs would overflow a float (and stop the run).
    wait = 0.0 if streak < 3 else min(max_minutes, base_minutes * 2 ** min(streak - 3, 60)) * 60
    if retry_after:
        wait = max(wait, min(retry_after, max_minutes * 60))
    return now + timedelta(seconds=wait) if wait else None


def is_outage(polls: Sequence[FeedPoll]) -> bool:
    """Every feed failed without any HTTP answer: the network is down, not the feeds."""
    return len(polls) >= 2 and all(p.outcome == "failed" and p.status is None for p in polls)


def poll_rows(
    polls: Sequence[FeedPoll],
    states: dict[str, FeedState],
    now: datetime,
    *,
    outage: bool,
    base_minutes: float,
    max_minutes: float,
) -> list[dict]:
    rows = []
    for p in polls:
        streak = states[p.feed].error_streak + 1 if p.outcome == "failed" else 0
        gone = p.status == 410
        rows.append(
            {
                "name": p.feed,
                "outcome": "outage" if outage else p.outcome,
                "status": p.status,
                "etag": p.etag,
                "last_modified": p.last_modified,
                "error": ("410 Gone: feed disabled until re-enabled" if gone else p.error),
                "items": len(p.entries),
                # an outage is nobody's fault: it does not back feeds off
                "next_poll_at": None
                if outage or p.outcome != "failed"
                else backoff_until(streak, now, p.retry_after, base_minutes, max_minutes),
                "disable": gone,
                "polled_at": now,
            }
        )
    return rows


# ---- new entries --------------------------------------------------------------------------------


@dataclass
class Intake:
    """What the ledger says about a run's entries: what to fetch and what is already decided.

    Filled shard by shard (`add`), as polls come in, so fetching starts before every feed is polled.
    """

    to_fetch: list[FeedEntry] = field(default_factory=list)  # unique by URL
    url_copies: list[tuple[FeedEntry, int]] = field(default_factory=list)
    same_run: list[tuple[FeedEntry, FeedEntry]] = field(default_factory=list)  # (entry, first with its URL)
    no_link: list[FeedEntry] = field(default_factory=list)
    _keys: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _first_by_url: dict[str, FeedEntry] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        """How many new entries the run has, whatever their fate."""
        return len(self.to_fetch) + len(self.url_copies) + len(self.same_run) + len(self.no_link)

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
                self.no_link.append(e)
            elif e.url in stored:
                self.url_copies.append((e, stored[e.url]))
            elif e.url in self._first_by_url:
                self.same_run.append((e, self._first_by_url[e.url]))
            else:
                self._first_by_url[e.url] = e
                new.append(e)
        self.to_fetch += new
        return new


def select_new(entries: Sequence[FeedEntry], wh: Warehouse) -> Intake:
    """The Intake of a run's entries, all at once."""
    intake = Intake()
    intake.add(entries, wh)
    return intake


# ---- from page to article -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    entry: FeedEntry
    outcome: str  # off_topic | fetch_failed | extract_empty
    reason: str
    retry: bool = False


def build_article(
    entry: FeedEntry,
    page: Page | None,
    extracted: Extracted | str | None,
    *,
    topic: TopicFilter,
    min_words: int,
    min_feed_words: int,
) -> Article | Rejected:
    """Choose the article's text (page, else the feed's own), clean it, and keep it only on topic."""
    page_problem = None
    if page is None or not page.fetched:
        page_problem = f"page fetch failed: {page.error if page else 'not fetched'}"
    elif not isinstance(extracted, Extracted):
        page_problem = f"extraction failed: {extracted or 'nothing extracted'}"
    text = extracted.text if isinstance(extracted, Extracted) else ""  # extract_page cleans it
    count = _word_count(extracted) if isinstance(extracted, Extracted) else 0
    source = "page"
    if page_problem is None and count < min_words:
        page_problem = f"extracted text too short ({count} words)"
    if page_problem:
        feed_text = clean_text(entry.content or "")
        feed_count = words(feed_text)
        if feed_count >= min_feed_words:
            text, source, count = feed_text, "feed", feed_count
        else:
            transient = page is not None and not page.fetched and _transient(page)
            outcome = "fetch_failed" if page is None or not page.fetched else "extract_empty"
            return Rejected(entry, outcome, page_problem, retry=transient)
    ex = extracted if isinstance(extracted, Extracted) and source == "page" else None
    title = entry.title or (ex.title if ex else "") or ""
    if not topic.is_on_topic(title, text):
        return Rejected(entry, "off_topic", f"fewer than {topic.min_hits} topic term(s) in title and text")
    return Article(
        url=entry.url or "",
        feed=entry.feed,
        title=title,
        text=text,
        # computed by the extraction worker when the text is the page's
        fingerprint=ex.fingerprint if ex and ex.fingerprint else fingerprint(text),
        text_source=source,
        published_at=entry.published_at or (ex.published_at if ex else None),
        author=entry.author or (ex.author if ex else None),
        lang=ex.lang if ex else None,
        guid=entry.guid,
        word_count=count,
    )


def _word_count(extracted: Extracted) -> int:
    return extracted.word_count if extracted.word_count is not None else words(extracted.text)


def _transient(page: Page) -> bool:
    return page.status is None or page.status in TRANSIENT_STATUSES


# ---- copies: judge batches against the store and against the run's earlier articles -------------


class Judge:
    """Judges the batches of one run in turn, each against the store and every new article of the
    run judged before it (so the flow can judge a batch while later ones are still extracted).

    Exact text first (hash lookup), then near copies: LSH band keys joined against the stored keys
    for the whole batch at once, candidates verified on their text.
    """

    def __init__(self, wh: Warehouse):
        self.wh = wh
        self._hash: dict[str, int] = {}  # text hash -> article_id, new articles of this run
        self._bands: dict[int, list[int]] = {}  # band key -> article_ids, new articles of this run
        self._texts: dict[int, str] = {}  # new articles of this run
        self._sets: dict[int, object] = {}  # shingle sets, computed once and only when needed

    def judge(self, articles: Sequence[Article]) -> tuple[list[Verdict], list[int]]:
        """A verdict per article, in order, and the article_id reserved for each new one (0 for copies)."""
        wh = self.wh
        by_hash = wh.articles_by_text_hash([a.fingerprint.text_hash for a in articles])
        candidates = wh.band_candidates([(i, a.fingerprint.band_keys) for i, a in enumerate(articles)])
        # Stored by earlier runs; this run's own articles, stored batch by batch, are matched below
        # from what the judge keeps of them.
        candidates = {i: [aid for aid in ids if aid not in self._texts] for i, ids in candidates.items()}
        texts = wh.article_texts(aid for ids in candidates.values() for aid in ids)
        new_ids = wh.reserve_article_ids(len(articles))
        verdicts: list[Verdict] = []
        ids: list[int] = []
        for i, a in enumerate(articles):
            fp = a.fingerprint
            original = by_hash.get(fp.text_hash) or self._hash.get(fp.text_hash)
            verdict = Verdict(True, original, "exact", 1.0) if original else None
            if verdict is None:
                local = Counter(aid for k in fp.band_keys for aid in self._bands.get(k, ()))
                pool = [aid for aid in candidates.get(i, ()) if aid in texts]
                pool += [aid for aid, _ in local.most_common(20)]
                verdict = self._near_copy(a, pool, texts)
            if verdict:
                verdicts.append(verdict)
                ids.append(0)
                continue
            aid = new_ids[i]
            verdicts.append(Verdict(False))
            ids.append(aid)
            self._hash[fp.text_hash] = aid
            self._texts[aid] = a.text  # later articles may copy this one
            if fp.shingles is not None:
                self._sets[aid] = fp.shingles
            for k in fp.band_keys:
                self._bands.setdefault(k, []).append(aid)
        return verdicts, ids

    def _near_copy(self, a: Article, pool: list[int], texts: dict[int, str]) -> Verdict | None:
        best, mine = None, None
        for aid in pool:
            mine = _shingles(a) if mine is None else mine
            if aid not in self._sets:
                self._sets[aid] = shingle_set(self._texts[aid] if aid in self._texts else texts[aid])
            ok, score = near_copy_of_sets(mine, self._sets[aid])
            if ok and (best is None or score > best[1]):
                best = (aid, score)
        return Verdict(True, best[0], "near", round(best[1], 4)) if best else None


def _shingles(a: Article):
    return a.fingerprint.shingles if a.fingerprint.shingles is not None else shingle_set(a.text)


def judge(articles: Sequence[Article], wh: Warehouse) -> tuple[list[Verdict], list[int]]:
    """`Judge.judge` for one batch on its own."""
    return Judge(wh).judge(articles)


# ---- storing a run's judged articles with their mentions and alerts ------------------------------


@dataclass
class Matching:
    matcher: WatchlistMatcher
    rules: Sequence[Rule]


def article_row(a: Article, aid: int, run_id: int, now: datetime) -> dict:
    return {
        "article_id": aid,
        "url": a.url,
        "title": a.title,
        "published_at": a.published_at,
        "feed": a.feed,
        "lang": a.lang,
        "author": a.author,
        "text": a.text,
        "text_source": a.text_source,
        "text_hash": a.fingerprint.text_hash,
        "word_count": a.word_count if a.word_count is not None else words(a.text),
        "guid": a.guid,
        "first_seen": now,
        "run_id": run_id,
    }


@dataclass
class RunRows:
    """The rows a run writes, gathered batch by batch. `write` stores what was gathered since the
    last write in ONE transaction, so an alert exists if and only if its article does (the outbox);
    the flow writes after every judged batch, while later batches are still extracted, instead of
    all at the end, when the extraction processes would wait. `now` stamps every row."""

    run_id: int
    now: datetime
    counts: RunCounts
    matching: Matching | None = None
    alert: bool = True
    articles: list[dict] = field(default_factory=list)
    bands: list[tuple[int, int]] = field(default_factory=list)
    dups: list[dict] = field(default_factory=list)
    ledger: list[LedgerRow] = field(default_factory=list)
    mentions: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    first_ids: dict[str, int] = field(default_factory=dict)  # url -> its article (or original)
    rejected: list[Rejected] = field(default_factory=list)  # entries whose page made no article
    match_s: float = 0.0

    def add_judged(
        self, articles: Sequence[Article], verdicts: Sequence[Verdict], ids: Sequence[int]
    ) -> None:
        """Rows for a judged batch: copies, or new articles with their mentions and alerts."""
        counts, now, run_id = self.counts, self.now, self.run_id
        for a, v, aid in zip(articles, verdicts, ids, strict=True):
            if v.is_copy:
                self.first_ids[a.url] = v.duplicate_of
                self.dups.append(
                    _dup(a.url, a.feed, a.title, now, v.duplicate_of, v.method, v.similarity, run_id)
                )
                self.ledger.append(
                    _ledger(
                        a.feed,
                        a.url,
                        a.guid,
                        a.title,
                        "copy",
                        f"{v.method} copy of article {v.duplicate_of}",
                        v.duplicate_of,
                    )
                )
                counts.copies += 1
                continue
            self.first_ids[a.url] = aid
            self.articles.append(article_row(a, aid, run_id, now))
            self.bands.extend((k, aid) for k in a.fingerprint.band_keys)
            self.ledger.append(
                _ledger(a.feed, a.url, a.guid, a.title, "stored", f"text from {a.text_source}", aid)
            )
            counts.articles_stored += 1
            if self.matching is not None:
                self._match(a, aid)

    def _match(self, a: Article, aid: int) -> None:
        t1 = time.perf_counter()
        found = self.matching.matcher.find(a.title, a.text)
        self.match_s += time.perf_counter() - t1
        for m in found:
            self.mentions.append(
                {
                    "article_id": aid,
                    "kind": m.kind,
                    "name": m.name,
                    "alias": m.alias,
                    "count": m.count,
                    "snippet": m.snippet,
                }
            )
        self.counts.mentions += len(found)
        if self.alert:
            for rule, _ in fired_rules(self.matching.rules, found):
                for channel in rule.channels:
                    self.alerts.append(
                        {
                            "rule": rule.name,
                            "article_id": aid,
                            "channel": channel,
                            "created_at": self.now,
                            "subject": None,
                        }
                    )

    def add_outcomes(self, intake: Intake) -> None:
        """Ledger (and copy) rows for the entries that did not become articles; after every batch
        was judged, since an entry repeating an earlier URL follows the fate of its first."""
        counts, now, run_id, rejected = self.counts, self.now, self.run_id, self.rejected
        for e, aid in intake.url_copies:
            self.dups.append(_dup(e.url, e.feed, e.title, now, aid, "url", 1.0, run_id))
            self.ledger.append(
                _ledger(e.feed, e.url, e.guid, e.title, "copy", f"url copy of article {aid}", aid)
            )
            counts.copies += 1
        rejected_by_url = {r.entry.url: r for r in rejected}
        for e, first in intake.same_run:
            aid = self.first_ids.get(first.url)
            if aid:
                self.dups.append(_dup(e.url, e.feed, e.title, now, aid, "url", 1.0, run_id))
                self.ledger.append(
                    _ledger(e.feed, e.url, e.guid, e.title, "copy", f"url copy of article {aid}", aid)
                )
                counts.copies += 1
            else:  # the first entry with this URL was rejected: so is this one, for the same reason
                r = rejected_by_url[first.url]
                self.ledger.append(_ledger(e.feed, e.url, e.guid, e.title, r.outcome, r.reason, None))
        for e in intake.no_link:
            self.ledger.append(
                _ledger(
                    e.feed,
                    entry_key(e),
                    e.guid,
                    e.title,
                    "no_link",
                    "entry has no http(s) link",
                    None,
                    url=None,
                )
            )
            counts.no_link += 1
        for r in rejected:
            self.ledger.append(
                _ledger(
                    r.entry.feed,
                    r.entry.url,
                    r.entry.guid,
                    r.entry.title,
                    r.outcome,
                    r.reason,
                    None,
                    retry=r.retry,
                )
            )
            setattr(counts, r.outcome, getattr(counts, r.outcome) + 1)

    def write(self, wh: Warehouse) -> None:
        """The rows gathered since the last write, in one transaction; then they are let go."""
        with wh.transaction():
            wh.insert_articles(self.articles, self.bands)
            wh.insert_duplicates(self.dups)
            wh.write_ledger(self.ledger, self.run_id, self.now)
            wh.insert_mentions(self.mentions)
            self.counts.alerts_created += wh.insert_alerts(self.alerts)
        for written in (self.articles, self.bands, self.dups, self.ledger, self.mentions, self.alerts):
            written.clear()


def store_batch(
    wh: Warehouse,
    run_id: int,
    articles: Sequence[Article],
    rejected: Sequence[Rejected],
    intake: Intake,
    matching: Matching | None,
    counts: RunCounts,
    *,
    alert: bool = True,
    timings: dict[str, float] | None = None,
) -> None:
    """Judge one batch, then write its articles, band keys, copies, the ledger, mentions and alerts
    in one transaction (the flow does the same batch by batch with `Judge` and `RunRows`)."""
    timings = timings if timings is not None else {}
    rows = RunRows(run_id, utcnow(), counts, matching, alert)
    t0 = time.perf_counter()
    verdicts, ids = judge(articles, wh)
    timings["judge"] = time.perf_counter() - t0
    rows.add_judged(articles, verdicts, ids)
    rows.rejected += rejected
    rows.add_outcomes(intake)
    timings["match"] = rows.match_s
    t2 = time.perf_counter()
    rows.write(wh)
    timings["write"] = time.perf_counter() - t2


def _dup(url, feed, title, now, original, method, similarity, run_id) -> dict:
    return {
        "url": url,
        "feed": feed,
        "title": title,
        "seen_at": now,
        "duplicate_of": original,
        "method": method,
        "similarity": similarity,
        "run_id": run_id,
    }


def _ledger(
    feed, key, guid, title, outcome, reason, article_id, *, url: str | None | bool = True, retry: bool = False
) -> LedgerRow:
    return LedgerRow(
        feed=feed,
        entry_key=key,
        url=key if url is True else url,
        guid=guid,
        title=title,
        outcome=outcome,
        reason=reason,
        article_id=article_id,
        retry=retry,
    )


# ---- the seed corpus ----------------------------------------------------------------------------


def seed_articles(folder: Path = SEED_DIR) -> list[Article]:
    out = []
    for name, ex in load_seeds(folder):
        text = clean_text(ex.text)
        out.append(
            Article(
                url=f"seed://{name}",
                feed="seed",
                title=ex.title or name,
                text=text,
                fingerprint=fingerprint(text),
                text_source="seed",
                published_at=ex.published_at,
                author=ex.author,
                lang=ex.lang or "en",
            )
        )
    return out


def ensure_seeds(wh: Warehouse, run_id: int, matching: Matching | None, folder: Path = SEED_DIR) -> int:
    """Store the seed corpus on first use of a warehouse. Seeds get mentions, never alerts."""
    if wh.seed_count():
        return 0
    seeds = seed_articles(folder)
    counts = RunCounts()
    store_batch(wh, run_id, seeds, [], Intake(), matching, counts, alert=False)
    return counts.articles_stored
