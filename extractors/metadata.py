"""A page's own metadata (headline, authors, publication date, language), read apart from its text.

Read from the parsed page independently of the text extraction, so a page whose text no pass
could find still keeps its headline, date and authors. Fields the caller already has (the feed
gave them) can be skipped: the date search is most of the cost (`bench.extraction_quality`
prints it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.metadata import examine_meta, extract_author, extract_meta_json, extract_title
from trafilatura.settings import set_date_params
from trafilatura.utils import trim

log = logging.getLogger(__name__)

FIELDS = frozenset({"title", "author", "published_at", "lang"})

_HTML_LANG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*$")
_KEY = re.compile(r"\w+")
_TITLE_PARTS = re.compile(r"\s+[|–—-]\s+")


@dataclass(frozen=True, slots=True)
class PageMetadata:
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    lang: str | None = None


def page_metadata(tree: HtmlElement, url: str | None = None, *, skip: Collection[str] = ()) -> PageMetadata:
    """Headline, authors, publication date and declared language of a parsed page.

    `skip` names fields (of `FIELDS`) not to look for: they come back None. Never raises: a field
    that cannot be read is None.
    """
    unknown = set(skip) - FIELDS
    if unknown:
        raise ValueError(f"unknown metadata field(s) to skip: {', '.join(sorted(unknown))}")
    title = author = published = None
    if not {"title", "author"} <= set(skip):
        title, author = _title_and_author(tree, skip)
    if "published_at" not in skip:
        published = _published_at(tree, url)
    lang = None if "lang" in skip else _declared_lang(tree)
    return PageMetadata(title=title, author=author, published_at=published, lang=lang)


def _title_and_author(tree: HtmlElement, skip: Collection[str]) -> tuple[str | None, str | None]:
    """As trafilatura reads them (meta tags, then JSON-LD, then the page), except that the
    headline is the page's own (`_headline`)."""
    try:
        meta = examine_meta(tree)
        if meta.author and " " not in meta.author:
            meta.author = None  # a one-word "author" is a site or a handle
        try:
            meta = extract_meta_json(tree, meta)
        except Exception as exc:  # trafilatura's JSON-LD reader raises on odd documents
            log.debug("JSON-LD metadata unreadable: %s", exc)
        title = author = None
        if "title" not in skip:
            title = _headline(tree, meta.title or extract_title(tree))
        if "author" not in skip:
            author = meta.author or extract_author(tree)
        return _field(title), _field(author)
    except Exception as exc:
        log.debug("page metadata unreadable: %s", exc)
        return None, None


def _headline(tree: HtmlElement, title: str | None) -> str | None:
    """The page's one <h1> when it has one (the headline as shown; metadata titles are often
    written for search engines and carry the site's name), else the metadata title, less a
    " | Site" or " - Site" part."""
    h1s = [h for h in (trim(el.text_content()) for el in tree.iterfind(".//h1")) if 2 <= len(h.split()) <= 40]
    if len(h1s) == 1:
        return h1s[0]
    if not title:
        return h1s[0] if h1s else None
    tkey = _key(title)
    for h1 in h1s[:3]:
        if len(_key(h1)) >= 12 and tkey.startswith(_key(h1)):
            return h1
    parts = _TITLE_PARTS.split(title)
    return max(parts, key=len) if len(parts) > 1 else title


def _published_at(tree: HtmlElement, url: str | None) -> datetime | None:
    try:
        found = find_date(tree, url=url, **set_date_params(True))
    except Exception as exc:
        log.debug("date search failed: %s", exc)
        return None
    return parse_date(found)


def parse_date(value: str | None) -> datetime | None:
    """'YYYY-MM-DD' (or ISO with time): an aware UTC datetime, midnight if no time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _declared_lang(tree: HtmlElement) -> str | None:
    root = tree.getroottree().getroot()
    m = _HTML_LANG.match(root.get("lang") or root.get("xml:lang") or "")
    if m:
        return m.group(1).lower()
    for content in tree.xpath('//meta[@http-equiv="content-language" or @property="og:locale"]/@content'):
        if m := _HTML_LANG.match(content.split(",")[0]):
            return m.group(1).lower()
    return None


def _field(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value or None


def _key(text: str) -> str:
    return " ".join(_KEY.findall(text.casefold()))
