"""OPML subscription lists, the format feed readers import and export: read their feeds, write ours.

An OPML file comes from elsewhere: it is parsed with defusedxml (no entity expansion, no external
entities), and the names made from its titles follow the config's rule for feed names.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_NAME = 64


class OpmlError(Exception):
    """The file is not an OPML subscription list we can read."""


@dataclass(frozen=True)
class Outline:
    title: str  # the outline's title (or text), "" when it has none
    url: str  # its xmlUrl, as written


def read_outlines(data: bytes) -> list[Outline]:
    """Every outline with an xmlUrl, at any depth (readers nest feeds in folders), in document order."""
    try:
        root = fromstring(data)
    except (ET.ParseError, DefusedXmlException) as e:
        raise OpmlError(f"not valid XML: {e}") from None
    if root.tag.lower() != "opml":
        raise OpmlError(f"not an OPML file (its root element is <{root.tag}>)")
    out = []
    for node in root.iter():
        if not isinstance(node.tag, str) or node.tag.lower() != "outline":
            continue
        attrs = {k.lower(): v for k, v in node.attrib.items()}
        url = (attrs.get("xmlurl") or "").strip()
        if url:
            out.append(Outline(" ".join((attrs.get("title") or attrs.get("text") or "").split()), url))
    return out


def feed_name(title: str, url: str, taken: set[str]) -> str:
    """A config name for a feed: its title (else its host) in lowercase ASCII, a-z 0-9 . _ -, at most
    64 characters, not 'seed', made unique against `taken` with -2, -3, ..."""
    base = _slug(title) or _slug(urlsplit(url).hostname or "") or "feed"
    if base == "seed":
        base = "seed-feed"
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[: MAX_NAME - len(suffix)].rstrip("-._") + suffix
    return name


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9._]+", "-", ascii_text)
    slug = re.sub(r"^[^a-z0-9]+", "", slug)
    return slug[:MAX_NAME].rstrip("-._")


def write_opml(feeds: list[tuple[str, str]], title: str = "newswatch feeds") -> bytes:
    """An OPML 2.0 subscription list of (name, url) pairs."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = ET.SubElement(root, "body")
    for name, url in feeds:
        ET.SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=url)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
