"""Decoding an HTML body to text the way browsers do: BOM, declared charset, then UTF-8."""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
# Labels browsers decode as windows-1252 (its superset), per the WHATWG encoding standard.
_AS_CP1252 = {"iso-8859-1", "latin-1", "latin1", "iso8859-1", "l1", "us-ascii", "ascii", "cp819"}


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A document cannot truthfully declare UTF-16 in ASCII-compatible bytes; BOMs are handled first.
    return "utf-8" if name.startswith("utf-16") or name.startswith("utf-32") else name


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML body: BOM, then the header charset, then <meta> in the first 4 KB, then UTF-8,
    else cp1252 with replacement (never fails)."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    candidates = []
    if content_type:
        match = _HEADER_CHARSET.search(content_type)
        candidates.append(_codec(match.group(1)) if match else None)
    match = _META_CHARSET.search(body[:4096])
    candidates.append(_codec(match.group(1).decode("ascii")) if match else None)
    candidates.append("utf-8")
    for codec in candidates:
        if codec:
            try:
                return body.decode(codec)
            except UnicodeDecodeError:
                continue
    return body.decode("cp1252", errors="replace")
