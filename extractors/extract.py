"""Article extraction from a page's HTML with trafilatura, converted to `records.Extracted`.

Settings were chosen by measuring on the article-extraction benchmark (`python -m
bench.extraction_quality`): a precision-oriented pass without trafilatura's own fallback
extractors, and, only when that pass yields a short text (about 8% of pages), a recall-oriented
second pass whose text is kept when it is longer. That scored higher than trafilatura's defaults
and costs less (the fallback extractors are what make the default slow).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, datetime

from trafilatura import bare_extraction

from extractors.charset import decode_html
from extractors.clean import clean_text, line_key
from extractors.fingerprint import fingerprint
from extractors.records import Extracted

log = logging.getLogger(__name__)

# Below this many words the precise pass has probably cut the story: try the recall pass.
FALLBACK_MIN_WORDS = 120
# Below this many words after cleaning there is no article to speak of.
MIN_WORDS = 10

_COMMON = dict(fast=True, include_comments=False, include_tables=True, include_images=False)
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?", re.I)


def extract_page(
    html: str | bytes, url: str | None = None, content_type: str | None = None
) -> Extracted | None:
    """Title, clean text, author, date and language of an article page; None if it has no article.

    `html` may be the body as fetched (bytes): it is then decoded here, by the BOM, the charset of
    `content_type`, a <meta> declaration, else UTF-8 (so the decoding runs in extraction workers).

    The text is already cleaned (`clean.clean_text`, which is idempotent). Never raises:
    trafilatura errors on junk HTML are logged and give None.
    """
    try:
        return extract_page_or_raise(html, url, content_type)
    except Exception as exc:  # trafilatura/lxml raise many types on junk input
        log.debug("extraction failed for %s: %s", url, exc)
        return None


def extract_page_or_raise(
    html: str | bytes, url: str | None = None, content_type: str | None = None
) -> Extracted | None:
    """Like `extract_page`, but library errors propagate (the worker pool reports their text)."""
    if isinstance(html, bytes):
        html = decode_html(html, content_type)
    if not html or not html.strip():
        return None
    doc = bare_extraction(html, url=url, favor_precision=True, with_metadata=True, **_COMMON)
    text = (doc.text or "") if doc is not None else ""
    if len(text.split()) < FALLBACK_MIN_WORDS:
        recall = bare_extraction(html, url=url, favor_recall=True, with_metadata=False, **_COMMON)
        if recall is not None and len((recall.text or "").split()) > len(text.split()):
            text = recall.text or ""
    title = _clean_field(doc.title) if doc is not None else None
    text = _drop_leading_title(clean_text(text), title)
    word_count = len(text.split())
    if word_count < MIN_WORDS:
        return None
    return Extracted(
        title=title,
        text=text,
        word_count=word_count,
        author=_clean_field(doc.author) if doc is not None else None,
        published_at=_parse_date(doc.date) if doc is not None else None,
        lang=(doc.language if doc is not None and doc.language else None) or _html_lang(html),
    )


def extract_with_fingerprint(
    html: str | bytes, url: str | None = None, content_type: str | None = None
) -> Extracted | None:
    """`extract_page_or_raise`, with the text's fingerprint: the ingest's extraction workers compute
    it next to the text, instead of the flow process, whose one core also fetches for all of them."""
    extracted = extract_page_or_raise(html, url, content_type)
    return None if extracted is None else replace(extracted, fingerprint=fingerprint(extracted.text))


def _drop_leading_title(text: str, title: str | None) -> str:
    """The headline is a field: a first paragraph repeating it is dropped (a changed headline
    must not make a copy look different)."""
    if not title:
        return text
    first, _, rest = text.partition("\n\n")
    return rest if line_key(first) == line_key(title) and rest else text


def _clean_field(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value or None


def _parse_date(value: str | None) -> datetime | None:
    """trafilatura gives 'YYYY-MM-DD' (or ISO with time): an aware UTC datetime, midnight if no time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _html_lang(html: str) -> str | None:
    m = _HTML_LANG.search(html[:5000])
    return m.group(1).lower() if m else None
