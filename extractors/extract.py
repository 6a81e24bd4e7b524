"""Article extraction from a page's HTML, converted to `records.Extracted`.

The text comes from `consensus.article_text` (trafilatura's recall setting, checked against
readability, jusText and trafilatura's other settings where the page says it may be cut short or
carry chrome); the headline, authors, date and language from `metadata.page_metadata`, read apart
from the text so that they are never lost because a pass found no text. Measured against
trafilatura's own settings on two benchmarks by `python -m bench.extraction_quality`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import replace

from trafilatura.utils import load_html

from extractors.charset import decode_html
from extractors.clean import clean_text
from extractors.consensus import article_text
from extractors.fingerprint import fingerprint
from extractors.metadata import FIELDS, page_metadata
from extractors.records import Extracted

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")

# Below this many words after cleaning there is no article to speak of.
MIN_WORDS = 10


def extract_page(
    html: str | bytes,
    url: str | None = None,
    content_type: str | None = None,
    *,
    known: Collection[str] = (),
) -> Extracted | None:
    """Title, clean text, author, date and language of an article page; None if it has no article.

    `html` may be the body as fetched (bytes): it is then decoded here, by the BOM, the charset of
    `content_type`, a <meta> declaration, else UTF-8 (so the decoding runs in extraction workers).

    `known` names metadata fields the caller already has ("title", "author", "published_at",
    "lang"; the feed entry's): they are not looked for in the page and come back None. Skipping
    "published_at" saves most of the metadata's cost.

    The text is already cleaned (`clean.clean_text`, which is idempotent). Never raises:
    library errors on junk HTML are logged and give None.
    """
    _check_known(known)  # a caller's mistake, not a page's: raised, not taken for "no article"
    try:
        return extract_page_or_raise(html, url, content_type, known=known)
    except Exception as exc:  # lxml/trafilatura raise many types on junk input
        log.debug("extraction failed for %s: %s", url, exc)
        return None


def extract_page_or_raise(
    html: str | bytes,
    url: str | None = None,
    content_type: str | None = None,
    *,
    known: Collection[str] = (),
) -> Extracted | None:
    """Like `extract_page`, but library errors propagate (the worker pool reports their text)."""
    _check_known(known)
    if isinstance(html, bytes):
        html = decode_html(html, content_type)
    if not html or not html.strip():
        return None
    tree = load_html(html)
    if tree is None:
        return None
    meta = page_metadata(tree, url, skip=known)
    text = clean_text(_drop_leading_title(article_text(tree, url), _headlines(tree)))
    word_count = len(text.split())
    if word_count < MIN_WORDS:
        return None
    return Extracted(
        title=meta.title,
        text=text,
        word_count=word_count,
        author=meta.author,
        published_at=meta.published_at,
        lang=meta.lang,
    )


def extract_with_fingerprint(
    html: str | bytes,
    url: str | None = None,
    content_type: str | None = None,
    known: Collection[str] = (),
) -> Extracted | None:
    """`extract_page_or_raise`, with the text's fingerprint: the ingest's extraction workers compute
    it next to the text, instead of the flow process, whose one core also fetches for all of them.
    Its arguments are positional (`known` too), as the workers' jobs carry them."""
    extracted = extract_page_or_raise(html, url, content_type, known=known)
    return None if extracted is None else replace(extracted, fingerprint=fingerprint(extracted.text))


def _check_known(known: Collection[str]) -> None:
    if isinstance(known, str) or set(known) - FIELDS:
        raise ValueError(f"known: expected field names among {', '.join(sorted(FIELDS))}, got {known!r}")


def _drop_leading_title(text: str, headlines: list[str]) -> str:
    """The headline is a field: a first line repeating it is dropped (a changed headline must not
    make a copy look different). A first line that is the <title> less the site's name counts too.
    Words are compared, not punctuation (a straight and a curly apostrophe are the same)."""
    first, _, rest = text.lstrip("\n").partition("\n")
    key = _words(first)
    if not rest or not key:
        return text
    for headline in headlines:
        whole = _words(headline)
        if key == whole or (len(key) > 15 and key in whole):
            return rest
    return text


def _headlines(tree) -> list[str]:
    """The page's <h1>s, <title> and og:title: read here, whatever metadata the caller skipped, so
    that the text does not depend on it."""
    found = [el.text_content() for el in tree.xpath("(//h1)[position() <= 2] | //head/title")]
    found += tree.xpath('//meta[@property="og:title"]/@content')
    return [t for t in found if t and t.strip()]


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))
