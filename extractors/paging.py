"""Where a site keeps the entries its feed no longer shows: pure parsing, bytes in, records out.

- RFC 5005 links of a feed (`rel="next"` of a paged feed, `rel="prev-archive"` of an archived one),
  and the `?paged=N` pages of WordPress feeds;
- `Sitemap:` lines of robots.txt;
- sitemaps and sitemap indexes, with the `<news:news>` entries of news sitemaps (publication date,
  title) as FeedEntry records.

XML goes through defusedxml (no DTD, no entity expansion); a gzipped sitemap is inflated under a cap.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from extractors.records import FeedEntry, FeedPaging
from extractors.urls import canonical_url, host_of

_GZIP_MAGIC = b"\x1f\x8b"


class SitemapError(ValueError):
    """A document that is not a readable sitemap (malformed, unsafe, too large once inflated)."""


def paging_from_links(links: Iterable[tuple[str, str]], generator: str | None = None) -> FeedPaging | None:
    """A feed's way to its older entries, from its feed-level (rel, absolute href) links and its
    generator; None when it shows none."""
    found: dict[str, str] = {}
    for rel, href in links:
        rel = (rel or "").strip().lower()
        if rel in ("next", "prev-archive") and href and rel not in found:
            found[rel] = href.strip()
    wordpress = "wordpress" in (generator or "").lower()
    if not found and not wordpress:
        return None
    return FeedPaging(next=found.get("next"), prev_archive=found.get("prev-archive"), wordpress=wordpress)


def paged_url(feed_url: str, page: int) -> str:
    """The WordPress convention for page `page` of a feed: its URL with ?paged=N (other
    parameters kept, an existing `paged` replaced)."""
    parts = urlsplit(feed_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "paged"]
    query.append(("paged", str(page)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def site_root(url: str) -> str:
    """scheme://host[:port]/ of a URL."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def robots_sitemaps(data: bytes, base_url: str) -> tuple[str, ...]:
    """The absolute URLs of the `Sitemap:` lines of a robots.txt, in order, without repeats."""
    text = data.decode("utf-8", errors="replace")
    found: list[str] = []
    for line in text.splitlines():
        field, sep, value = line.partition(":")
        if not sep or field.strip().lower() != "sitemap":
            continue
        value = value.split("#", 1)[0].strip()
        if value:
            url = urljoin(base_url, value)
            if url.startswith(("http://", "https://")) and url not in found:
                found.append(url)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class SitemapDoc:
    """One sitemap document: the news entries of a urlset, or the children of an index."""

    entries: tuple[FeedEntry, ...] = ()  # urls with a <news:news> publication date
    children: tuple[tuple[str, datetime | None], ...] = ()  # (sitemap URL, lastmod) of an index
    urls: int = 0  # <url> elements in the document, news or not


def inflate(data: bytes, limit: int) -> bytes:
    """The body itself, or a gzipped one inflated (a .xml.gz sitemap) to at most `limit` bytes."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    z = zlib.decompressobj(47)
    try:
        out = z.decompress(data, limit + 1)
    except zlib.error:
        raise SitemapError("corrupt gzip sitemap") from None
    if len(out) > limit:
        raise SitemapError(f"gzip sitemap exceeds {limit} bytes inflated")
    if not z.eof:
        raise SitemapError("corrupt gzip sitemap (cut short)")
    return out


def parse_sitemap(data: bytes, feed: str, base_url: str, *, limit: int = 50_000_000) -> SitemapDoc:
    """Parse a sitemap (urlset) or a sitemap index. News entries are kept only on the sitemap's own
    host (the protocol's rule); their feed is `feed`, the feed whose gap they fill."""
    data = inflate(data, limit)
    host = host_of(base_url)
    entries: list[FeedEntry] = []
    children: list[tuple[str, datetime | None]] = []
    urls = 0
    try:
        for _event, el in iterparse(io.BytesIO(data), events=("end",)):
            tag = _local(el.tag)
            if tag == "url":
                urls += 1
                entry = _news_entry(el, feed, base_url, host)
                if entry is not None:
                    entries.append(entry)
                el.clear()
            elif tag == "sitemap":
                loc = _child_text(el, "loc")
                if loc:
                    url = urljoin(base_url, loc)
                    if url.startswith(("http://", "https://")):
                        children.append((url, w3c_datetime(_child_text(el, "lastmod"))))
                el.clear()
    except DefusedXmlException as exc:
        raise SitemapError(f"refused unsafe XML ({type(exc).__name__})") from None
    except ParseError as exc:
        raise SitemapError(f"not a readable sitemap: {exc}") from None
    return SitemapDoc(entries=tuple(entries), children=tuple(children), urls=urls)


def _news_entry(el, feed: str, base_url: str, host: str) -> FeedEntry | None:
    loc = _child_text(el, "loc")
    news = next((c for c in el if _local(c.tag) == "news"), None)
    if not loc or news is None:
        return None
    published = w3c_datetime(_child_text(news, "publication_date"))
    url = canonical_url(urljoin(base_url, loc))
    if published is None or url is None or host_of(url) != host:
        return None
    title = " ".join((_child_text(news, "title") or "").split())
    return FeedEntry(
        feed=feed, url=url, guid=None, title=title, content="", published_at=published, raw_url=loc
    )


def w3c_datetime(value: str | None) -> datetime | None:
    """A sitemap date (W3C datetime: a date, or a date and time with a zone) as aware UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child_text(el, name: str) -> str | None:
    for child in el:
        if _local(child.tag) == name:
            return (child.text or "").strip() or None
    return None
