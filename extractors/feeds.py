"""Feed parsing: RSS 0.9x/1.0/2.0 and Atom bytes -> FeedEntry records.

feedparser is the parser; everything it returns is converted here and nothing downstream sees
its dicts. Two defences against entity expansion are installed once, at import:
- defusedxml's expat reader is feedparser's preferred SAX parser, so the strict parser refuses
  entity declarations instead of expanding them;
- entity declarations are dropped before parsing. feedparser otherwise hands "safe" entities to
  its loose parser, which expands them without limit whenever the strict parser failed for any
  other reason (measured here: 44 KB of malformed XML became a 160 MB description).
Two more bounds keep one hostile item from costing the feed's good ones:
- numeric character references to code points that cannot exist (surrogates, beyond U+10FFFF,
  NUL) become U+FFFD before parsing; feedparser's loose parser raised on them, losing the feed;
- the text feedparser collects for one element is cut to a length fitting that element
  (`FIELD_CAPS`) before feedparser works on it: its author handling is quadratic (a 16 KB author
  cost 1.1 s of CPU here) and a 32 KB one held the worker past its deadline.
"""

from __future__ import annotations

import calendar
import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser

import defusedxml.expatreader  # noqa: F401  (imported so a missing defusedxml fails here, loudly)
import feedparser
import feedparser.api
import feedparser.mixin
from defusedxml.common import DefusedXmlException

from extractors.errors import FeedParseError
from extractors.paging import paging_from_links
from extractors.records import FeedEntry, FeedPaging
from extractors.urls import canonical_url

# Entity declarations anywhere in the document (quoted values may contain ">").
_ENTITY_DECLARATION = re.compile(rb"""<!ENTITY\b(?:[^>"']|"[^"]*"|'[^']*')*>""")
_DOCTYPE = re.compile(rb"""<!DOCTYPE\b(?:[^>\["']|"[^"]*"|'[^']*')*(?:\[.*?\]\s*)?>""", re.DOTALL)
_ROOT_START = re.compile(rb"<[A-Za-z_:]")
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
# A numeric character reference, decimal or hex; the ";" is optional for the loose parser too.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));?")
_REPLACEMENT_REF = b"&#xFFFD;"

# Characters feedparser may collect for one element, by feedparser's element name: the text
# elements keep a whole article, links and ids a long URL, names a long name (feedparser searches
# them for an e-mail address in quadratic time: 1,024 characters cost 8 ms, 256 under 1 ms), every
# other field (title, category, dates, ...) a generous line.
FIELD_CAPS = {
    **dict.fromkeys(("content", "description", "summary", "subtitle", "rights", "info"), 1_000_000),
    **dict.fromkeys(("link", "id", "href", "url", "newlocation", "source"), 8192),
    **dict.fromkeys(("author", "name", "email", "contributor", "publisher", "credit"), 256),
}
DEFAULT_FIELD_CAP = 1024


def _install_safe_parsing() -> None:
    api = feedparser.api
    if getattr(api, "_newswatch_safe", False):
        return
    if not hasattr(api, "PREFERRED_XML_PARSERS") or not hasattr(api, "replace_doctype"):
        raise ImportError("feedparser changed: cannot install the entity-expansion defences")
    api.PREFERRED_XML_PARSERS = ["defusedxml.expatreader"]
    original = api.replace_doctype

    def replace_doctype_without_entities(data: bytes):
        version, data, _safe_entities = original(data)
        return version, strip_dtd(data), {}  # the loose parser gets no entity table

    api.replace_doctype = replace_doctype_without_entities

    mixin = feedparser.mixin._FeedParserMixin
    if not hasattr(mixin, "pop") or not hasattr(mixin, "push"):
        raise ImportError("feedparser changed: cannot install the field-length bounds")
    original_pop = mixin.pop

    def pop_bounded(self, element, strip_whitespace=1):
        stack = self.elementstack
        if stack and stack[-1][0] == element:  # the element's text is about to be used
            _bound_pieces(stack[-1][2], FIELD_CAPS.get(element, DEFAULT_FIELD_CAP))
        return original_pop(self, element, strip_whitespace)

    mixin.pop = pop_bounded
    api._newswatch_safe = True


def _bound_pieces(pieces: list, cap: int) -> None:
    """Cut the text pieces feedparser collected for one element to `cap` characters, in place."""
    if sum(map(len, pieces)) <= cap:
        return
    text = "".join(p.decode("utf-8", "replace") if isinstance(p, bytes) else p for p in pieces)
    pieces[:] = [text[:cap]]


def _valid_char_ref(match: re.Match) -> bytes:
    """The reference itself when it names a character XML allows, else a reference to U+FFFD."""
    hex_digits, digits = match.groups()
    number = hex_digits or digits
    if len(number.lstrip(b"0")) > 8:  # beyond any code point (and int() of thousands of digits fails)
        return _REPLACEMENT_REF
    code = int(number, 16 if hex_digits else 10)
    allowed = (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )
    return match.group(0) if allowed else _REPLACEMENT_REF


def fix_char_refs(data: bytes) -> bytes:
    """Replace numeric character references to characters XML forbids (NUL and other controls,
    surrogates, U+FFFE/U+FFFF, beyond U+10FFFF) with a reference to U+FFFD."""
    return _CHAR_REF.sub(_valid_char_ref, data) if b"&#" in data else data


def strip_dtd(data: bytes) -> bytes:
    """Remove entity declarations and the DOCTYPE: neither parser then has anything to expand or
    fetch. (The doctype only told feedparser the RSS version, which it reads before this runs.)"""
    data = _ENTITY_DECLARATION.sub(b"", data)
    root = _ROOT_START.search(data)
    end = root.start() if root else len(data)
    return _DOCTYPE.sub(b"", data[:end]) + data[end:]


_install_safe_parsing()


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    entries: tuple[FeedEntry, ...]
    warning: str | None = None  # set when the feed was partly malformed but yielded entries
    paging: FeedPaging | None = None  # where its older entries are (RFC 5005, WordPress)


# ---------------------------------------------------------------------------------------------
# HTML -> text

_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tbody thead tfoot tr td th ul".split()
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template"})
_SPACES = re.compile(r"[^\S\n]+")


class _TextCollector(HTMLParser):
    """Collects text: block elements end a paragraph, <br> ends a line, scripts are skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "br":
            self._current.append("\n")
        elif tag in _BLOCK_TAGS:
            self.flush()

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag == "br":
            self._current.append("\n")
        elif tag in _BLOCK_TAGS:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:  # newlines in the source are spaces in HTML; only <br> breaks a line
            self._current.append(data.replace("\r", " ").replace("\n", " "))

    def flush(self) -> None:
        lines = "".join(self._current).split("\n")
        self._current = []
        text = "\n".join(line for line in (" ".join(part.split()) for part in lines) if line)
        if text:
            self.paragraphs.append(text)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment; paragraphs separated by a blank line."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    collector.flush()
    return "\n\n".join(collector.paragraphs)


def plain_to_text(text: str) -> str:
    """Normalise plain text: paragraphs (split on blank lines) with collapsed spaces."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    cleaned = (
        "\n".join(" ".join(line.split()) for line in p.split("\n") if line.strip()) for p in paragraphs
    )
    return "\n\n".join(p for p in cleaned if p)


def _detail_text(value: str | None, detail: dict | None) -> str:
    if not value:
        return ""
    kind = (detail or {}).get("type") or "text/html"
    if kind == "text/plain":
        return plain_to_text(value)
    return html_to_text(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# Entries


def _published(entry: dict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if not parsed:
            continue
        try:  # feedparser's struct_time is UTC
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            continue
    return None


def _http_url(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def _entry(raw: dict, feed: str, base_url: str | None) -> FeedEntry:
    link = raw.get("link") if isinstance(raw.get("link"), str) else None
    if raw.get("guidislink"):  # feedparser copied the guid into link: the feed gave no link
        link = None
    guid = raw.get("id") if isinstance(raw.get("id"), str) else None
    url = canonical_url(link, base_url) if link else None
    raw_url = link
    if url is None and _http_url(guid):
        url = canonical_url(guid)
        raw_url = raw_url or guid
    title = _one_line(_detail_text(raw.get("title"), raw.get("title_detail")))
    candidates = [_detail_text(raw.get("summary"), raw.get("summary_detail"))]
    for content in raw.get("content") or []:
        candidates.append(_detail_text(content.get("value"), content))
    author = raw.get("author")
    author = _one_line(html.unescape(author)) if isinstance(author, str) else ""
    return FeedEntry(
        feed=feed,
        url=url,
        guid=guid or None,
        title=title,
        content=max(candidates, key=len),
        published_at=_published(raw),
        author=author or None,
        raw_url=raw_url,
    )


def _response_headers(base_url: str | None, content_type: str | None) -> dict[str, str]:
    # Always an XML media type, so that encodings follow RFC 7303 (BOM, then the declared charset,
    # then the XML declaration, then UTF-8) rather than RFC 3023's "text/xml means US-ASCII".
    headers = {"content-type": "application/xml"}
    match = _CHARSET.search(content_type or "")
    if match:
        headers["content-type"] += f"; charset={match.group(1)}"
    if base_url:
        headers["content-location"] = base_url
    return headers


def parse_feed(
    data: bytes, feed: str, *, base_url: str | None = None, content_type: str | None = None
) -> ParsedFeed:
    """Parse feed bytes into entries (entries without an http(s) link are kept with url=None).

    Raises FeedParseError when no entry has an http(s) link and the document is malformed or
    not a feed at all. A well-formed feed without items gives zero entries.
    """
    if not data or not data.strip():
        raise FeedParseError(f"feed {feed!r}: empty document")
    try:
        # A stream, never bytes or str: feedparser opens a bytes/str value as a path if it can.
        # No sanitising or href resolving of embedded HTML: only its text is kept (`html_to_text`,
        # which skips scripts), and links are resolved by `canonical_url`. Parsing the 2,120 files
        # of ../shared/corpora took 1.18 s instead of 1.81 s; entries differ only in the suite's
        # hostile-markup cases, where the script text the sanitiser leaked is now left out.
        result = feedparser.parse(
            io.BytesIO(fix_char_refs(data)),
            response_headers=_response_headers(base_url, content_type),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except DefusedXmlException as exc:
        raise FeedParseError(f"feed {feed!r}: refused unsafe XML ({type(exc).__name__})") from None
    base = base_url or None
    entries = tuple(_entry(raw, feed, base) for raw in result.get("entries", []))
    usable = any(entry.url for entry in entries)
    problem = _problem(result)
    if not usable and (problem or not result.get("version")):
        reason = problem or "not a feed (no RSS/Atom root element)"
        raise FeedParseError(f"feed {feed!r}: no usable entry; {reason}")
    return ParsedFeed(entries=entries, warning=problem, paging=_paging(result.get("feed") or {}))


def _paging(meta: dict) -> FeedPaging | None:
    """The feed-level links to older entries (feedparser resolved them against the feed's URL)."""
    links = meta.get("links") or []
    pairs = [(link.get("rel"), link.get("href")) for link in links if isinstance(link, dict)]
    generator = meta.get("generator")
    return paging_from_links(
        ((r, h) for r, h in pairs if isinstance(r, str) and isinstance(h, str)),
        generator if isinstance(generator, str) else None,
    )


def _problem(result: dict) -> str | None:
    if not result.get("bozo"):
        return None
    exc = result.get("bozo_exception")
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
    return text[:500]
