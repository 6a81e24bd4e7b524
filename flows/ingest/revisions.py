"""Revisions: young stories fetched again, with conditional GETs, and their changes kept.

Stories younger than `[revisions] recheck_hours` are fetched again every `recheck_minutes` with the
page's ETag / Last-Modified, so an unchanged page costs a 304. A changed page is extracted again;
when its text changed materially (`[revisions] min_changed_words` words, numbers, dates and times
aside; or a tracked actor or keyword appears that was not there), the new text becomes the
article's and the old one is kept in `article_revisions`. The watchlist and the rules are matched
on the new text: a rule that fires on it and did not on the old text alerts once (the outbox keeps
one alert per rule, story and channel), marked as an update.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from alerts.matching import ArticleMatch
from alerts.outbox import matched_rows
from alerts.retro import mention_rows
from extractors.extract import extract_with_fingerprint
from extractors.fingerprint import fingerprint
from extractors.http import FetchSettings
from extractors.parallel import extract_many
from extractors.records import Extracted
from extractors.textdiff import compare_texts
from flows.ingest.rows import Matching, RunCounts, utcnow
from flows.ingest.tasks import _fetcher, _pool, cancel_fetches
from flows.runtime.stop import STOP
from flows.settings import Settings
from warehouse.revisions import (
    Revision,
    StoredPage,
    due_rechecks,
    mention_names,
    record_checks,
    store_revision,
)
from warehouse.store import Warehouse

UPDATE = "update"  # the subject of a revision's alerts starts with it


@dataclass(frozen=True, slots=True)
class Recheck:
    """What fetching a stored story again gave."""

    article_id: int
    status: int | None  # 200, 304, or the failure's status
    etag: str | None
    last_modified: str | None
    extracted: Extracted | None = None  # for a 200 whose page still has an article
    error: str | None = None


@task(name="recheck-pages", cache_policy=NO_CACHE)
def recheck_pages(
    pages: Sequence[tuple[int, str, str | None, str | None]],
    settings: FetchSettings,
    workers: int,
    deadline: float,
) -> list[Recheck]:
    """Conditional GETs of (article_id, url, etag, last_modified), concurrently (the shared Fetcher
    keeps its per-host limit), and the changed pages extracted (on the pool when workers > 0)."""
    fetcher = _fetcher(settings)

    def get(page: tuple[int, str, str | None, str | None]):
        aid, url, etag, modified = page
        try:
            return aid, fetcher.get(url, etag=etag, last_modified=modified), None
        except Exception as exc:  # a page failing is data
            return aid, getattr(exc, "status", None), f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(min(settings.max_workers, max(1, len(pages)))) as ex:
        answers = list(ex.map(get, pages))
    # (key, body, url, content type): the key is the article's id
    jobs = [(aid, r.body, r.final_url, r.content_type) for aid, r, err in answers if err is None and r.body]
    if workers:
        pool = _pool(workers, deadline)
        futures = {job[0]: pool.submit(job, fn=extract_with_fingerprint) for job in jobs}
        extracted = {aid: f.result() for aid, f in futures.items()}
    else:
        extracted = extract_many(jobs, workers=0, deadline_s=deadline, fn=extract_with_fingerprint)
    out = []
    for aid, r, err in answers:
        if err is not None:
            out.append(Recheck(aid, r, None, None, error=err))
            continue
        got = extracted.get(aid)
        out.append(
            Recheck(aid, r.status, r.etag, r.last_modified, got if isinstance(got, Extracted) else None)
        )
    return out


def recheck_revisions(
    wh: Warehouse,
    s: Settings,
    fs: FetchSettings,
    workers: int,
    matching: Matching | None,
    run_id: int,
    counts: RunCounts,
    now: datetime | None = None,
) -> int:
    """Recheck the stories that are due; store the revisions; queue their update alerts. Returns
    how many stories were revised."""
    cfg = s.revisions
    if cfg.recheck_hours <= 0 or STOP.is_set():
        return 0
    now = now or utcnow()
    due = due_rechecks(
        wh, now, hours=cfg.recheck_hours, minutes=cfg.recheck_minutes, run_id=run_id, limit=cfg.max_per_run
    )
    if not due:
        return 0
    future = recheck_pages.submit(
        [(p.article_id, p.url, p.etag, p.last_modified) for p in due], fs, workers, s.extract.deadline_s
    )
    while not future.wrapped_future.done():  # in short steps: a request to stop is seen at once
        if STOP.is_set():
            cancel_fetches()
            return 0
        future.wait(timeout=0.5)
    try:
        answers = future.result()
    except Exception as exc:  # the run's new stories are stored: a broken recheck must not cost their alerts
        get_run_logger().warning("rechecking stories for revisions failed: %s: %s", type(exc).__name__, exc)
        return 0
    stored = {p.article_id: p for p in due}
    old_mentions = mention_names(wh, list(stored))
    revisions, alerts = [], []
    for answer in answers:
        page = stored[answer.article_id]
        before = old_mentions.get(page.article_id, set())
        found = _revision(
            page, answer.extracted, before, matching, cfg.min_changed_words, s.extract.min_words, run_id
        )
        if found is not None:
            revisions.append(found[0])
            alerts += _update_alerts(page, found[1], before, matching, now, run_id)
    checks = [
        {
            "article_id": a.article_id,
            "etag": a.etag,
            "last_modified": a.last_modified,
            "checked_at": now,
            "last_status": a.status,
            "last_error": a.error,
        }
        for a in answers
    ]
    with wh.transaction():
        record_checks(wh, checks)
        for revision in revisions:
            store_revision(wh, revision, now, run_id)
        counts.alerts_created += wh.insert_alerts(alerts)
    counts.revisions += len(revisions)
    return len(revisions)


def _revision(
    page: StoredPage,
    extracted: Extracted | None,
    old_mentions: set[tuple[str, str]],
    matching: Matching | None,
    min_changed_words: int,
    min_words: int,
    run_id: int,
) -> tuple[Revision, ArticleMatch | None] | None:
    """The revision a new extraction makes, with what the watchlist and rules find in the new text;
    None when the text did not change materially."""
    if extracted is None or (extracted.word_count or len(extracted.text.split())) < min_words:
        return None  # the page lost its article (an error page, a paywall): keep what we have
    fp = extracted.fingerprint or fingerprint(extracted.text)
    if fp.text_hash == page.text_hash:
        return None
    change = compare_texts(page.text, extracted.text)
    if change.changed == 0:
        return None
    found = (
        matching.matcher.match(page.title or "", extracted.text, page.feed, page.lang) if matching else None
    )
    mentions = found.mentions if found else []
    adds_tracked = any((m.kind, m.name) not in old_mentions for m in mentions)
    if change.changed < min_changed_words and not adds_tracked:
        return None
    revision = Revision(
        article_id=page.article_id,
        old_text=page.text,
        new_text=extracted.text,
        text_hash=fp.text_hash,
        word_count=extracted.word_count or len(extracted.text.split()),
        band_keys=fp.band_keys,
        words_added=change.words_added,
        words_removed=change.words_removed,
        similarity=change.similarity,
        change=change.summary,
        mentions=tuple({**row, "run_id": run_id} for row in mention_rows(page.article_id, mentions)),
    )
    return revision, found


def _update_alerts(
    page: StoredPage,
    found: ArticleMatch | None,
    old_mentions: set[tuple[str, str]],
    matching: Matching | None,
    now: datetime,
    run_id: int,
) -> list[dict]:
    """Alerts for the rules that fire on the new text and did not on the old one."""
    if matching is None or found is None or not found.fired:
        return []
    before = matching.matcher.match(page.title or "", page.text, page.feed, page.lang, snippets=False)
    fired_before = {f.rule.name for f in before.fired}
    added = [m.name for m in found.mentions if (m.kind, m.name) not in old_mentions]
    rows = []
    for fired in found.fired:
        if fired.rule.name in fired_before:
            continue
        what = f"now mentions {', '.join(added)}" if added else f"now matches {fired.rule.name}"
        matched = matched_rows(fired.matches)
        rows += [
            {
                "rule": fired.rule.name,
                "article_id": page.article_id,
                "channel": c,
                "created_at": now,
                "subject": f"{UPDATE}: {what}",
                "kind": "story",
                "run_id": run_id,
                "matched": matched,
            }
            for c in fired.rule.channels
        ]
    return rows
