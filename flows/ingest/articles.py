"""From a fetched page (or the feed's own text) to an article, or a rejection with its reason."""

from __future__ import annotations

from dataclasses import dataclass

from extractors.clean import clean_text
from extractors.fingerprint import fingerprint
from extractors.http import TRANSIENT_STATUSES
from extractors.records import Article, Extracted, FeedEntry, Page
from flows.ingest.topic import Topic


def words(text: str) -> int:
    return len(text.split())


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
    topic: Topic,
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
    lang = ex.lang if ex else None
    if not topic.is_on_topic(title, text, entry.feed, lang):
        return Rejected(entry, "off_topic", topic.rejection)
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
        lang=lang,
        guid=entry.guid,
        word_count=count,
        etag=page.etag if source == "page" else None,
        last_modified=page.last_modified if source == "page" else None,
    )


def _word_count(extracted: Extracted) -> int:
    return extracted.word_count if extracted.word_count is not None else words(extracted.text)


def _transient(page: Page) -> bool:
    """A failure worth another fetch on a later run: not one the fetcher knows will recur (a
    refused address, a body over the cap, a bomb, an endless body, a bad certificate)."""
    return not page.permanent and (page.status is None or page.status in TRANSIENT_STATUSES)
