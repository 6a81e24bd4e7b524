"""The rows a run writes (articles, copies, ledger, mentions, alerts), gathered and stored batch by batch."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerts.config import Rule
from alerts.matching import RuleMatcher
from alerts.outbox import matched_rows
from alerts.retro import mention_rows
from extractors.records import Article, Verdict
from flows.ingest.articles import Rejected, words
from flows.ingest.intake import Intake, entry_key
from flows.ingest.judge import judge
from warehouse.revisions import insert_checks
from warehouse.store import LedgerRow, Warehouse


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    gaps: int = 0  # polls that overflowed (every entry new, older ones possibly missed)
    backfilled: int = 0  # new entries found by filling gaps
    revisions: int = 0  # stored stories whose text changed materially

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Matching:
    matcher: RuleMatcher  # the watchlist and the rules, compiled together

    @property
    def rules(self) -> Sequence[Rule]:
        return self.matcher.rules


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
    match_s: float = 0.0
    checks: list[tuple] = field(default_factory=list)  # (article_id, etag, last_modified) of stored pages
    quiet_urls: set[str] = field(default_factory=set)  # stored without alerting (old backfilled stories)

    def add_judged(
        self, articles: Sequence[Article], verdicts: Sequence[Verdict], ids: Sequence[int]
    ) -> None:
        """Rows for a judged batch: copies, or new articles with their mentions and alerts."""
        counts, now, run_id = self.counts, self.now, self.run_id
        for a, v, aid in zip(articles, verdicts, ids, strict=True):
            if v.is_copy:
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
            self.articles.append(article_row(a, aid, run_id, now))
            self.bands.extend((k, aid) for k in a.fingerprint.band_keys)
            if a.text_source == "page":
                self.checks.append((aid, a.etag, a.last_modified))
            self.ledger.append(
                _ledger(a.feed, a.url, a.guid, a.title, "stored", f"text from {a.text_source}", aid)
            )
            counts.articles_stored += 1
            if self.matching is not None:
                self._match(a, aid)

    def _match(self, a: Article, aid: int) -> None:
        """Mentions and the rules that fire, in one pass; an alert per rule and channel, with what
        the rule matched (the snippets its message quotes)."""
        t1 = time.perf_counter()
        found = self.matching.matcher.match(a.title, a.text, a.feed, a.lang, snippets=self.alert)
        self.match_s += time.perf_counter() - t1
        self.mentions += [{**row, "run_id": self.run_id} for row in mention_rows(aid, found.mentions)]
        self.counts.mentions += len(found.mentions)
        if self.alert and a.url not in self.quiet_urls:
            for fired in found.fired:
                matched = matched_rows(fired.matches)
                for channel in fired.rule.channels:
                    self.alerts.append(
                        {
                            "rule": fired.rule.name,
                            "article_id": aid,
                            "channel": channel,
                            "created_at": self.now,
                            "subject": None,
                            "kind": "story",
                            "run_id": self.run_id,
                            "matched": matched,
                        }
                    )

    def add_rejected(self, rejected: Sequence[Rejected]) -> None:
        """Ledger rows for entries whose page made no article (written with their batch)."""
        for r in rejected:
            e = r.entry
            self.ledger.append(
                _ledger(e.feed, e.url, e.guid, e.title, r.outcome, r.reason, None, retry=r.retry)
            )
            setattr(self.counts, r.outcome, getattr(self.counts, r.outcome) + 1)

    def add_outcomes(self, intake: Intake, wh: Warehouse) -> None:
        """Ledger (and copy) rows for the entries that were not fetched; after every batch was judged
        (and, in the flow, written), since an entry repeating an earlier URL of the run follows the
        fate of its first (read back from the ledger: the run keeps no map of its URLs' fates)."""
        counts, now, run_id = self.counts, self.now, self.run_id
        for e, aid in intake.url_copies:
            self.dups.append(_dup(e.url, e.feed, e.title, now, aid, "url", 1.0, run_id))
            self.ledger.append(
                _ledger(e.feed, e.url, e.guid, e.title, "copy", f"url copy of article {aid}", aid)
            )
            counts.copies += 1
        # the first entries' fates: in the rows not written yet, else in the ledger
        pending = {(r.feed, r.entry_key): (r.outcome, r.reason, r.article_id) for r in self.ledger}
        firsts = {(first.feed, first.url) for _, first in intake.same_run}
        fates = {**wh.ledger_fates([k for k in firsts if k not in pending]), **pending}
        for e, first in intake.same_run:
            fate = fates.get((first.feed, first.url))
            if fate is None:  # its first was never judged (cannot happen in a completed run)
                continue
            outcome, reason, aid = fate
            if aid:  # stored, or a copy of an article: this entry is a copy of that article
                self.dups.append(_dup(e.url, e.feed, e.title, now, aid, "url", 1.0, run_id))
                self.ledger.append(
                    _ledger(e.feed, e.url, e.guid, e.title, "copy", f"url copy of article {aid}", aid)
                )
                counts.copies += 1
            else:  # the first entry with this URL was rejected: so is this one, for the same reason
                self.ledger.append(_ledger(e.feed, e.url, e.guid, e.title, outcome, reason, None))
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

    def write(self, wh: Warehouse) -> None:
        """The rows gathered since the last write, in one transaction; then they are let go."""
        with wh.transaction():
            wh.insert_articles(self.articles, self.bands)
            wh.insert_duplicates(self.dups)
            wh.write_ledger(self.ledger, self.run_id, self.now)
            wh.insert_mentions(self.mentions)
            self.counts.alerts_created += wh.insert_alerts(self.alerts)
            insert_checks(wh, self.checks)
        for written in (
            self.articles,
            self.bands,
            self.dups,
            self.ledger,
            self.mentions,
            self.alerts,
            self.checks,
        ):
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
    rows.add_rejected(rejected)
    rows.add_outcomes(intake, wh)
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
