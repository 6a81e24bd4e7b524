"""Decoding an HTML body to text the way browsers do: BOM, declared charset, then UTF-8; and,
where browsers would guess, a guess that reads Cyrillic and other single-byte pages right."""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
# Labels browsers decode as windows-1252 (its superset), per the WHATWG encoding standard.
_AS_CP1252 = {"iso-8859-1", "latin-1", "latin1", "iso8859-1", "l1", "us-ascii", "ascii", "cp819"}
_ASCII_BYTES = bytes(range(128))
# Bytes a guess is made from: enough text for a sure answer, bounded time on a huge page.
_GUESS_BYTES = 256 * 1024


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
    """Decode an HTML body: BOM, then the header charset, then <meta> in the first 4 KB, then UTF-8;
    then UTF-8 with replacement when the bytes are overwhelmingly UTF-8 (one stray byte must not
    turn a page into mojibake), else the single-byte encoding the text reads best in (never fails)."""
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
    as_utf8 = body.decode("utf-8", errors="replace")
    if mostly_utf8(body, as_utf8):
        return as_utf8
    return body.decode(guess_single_byte(body), errors="replace")


def mostly_utf8(body: bytes, as_utf8: str) -> bool:
    """Whether `body` (decoded as `as_utf8` with errors replaced) is UTF-8 with a few bad bytes:
    at least four valid non-ASCII characters for each invalid sequence. (Text in a single-byte
    encoding hardly ever holds valid UTF-8 sequences: of 892 real pages re-encoded in windows-1252,
    one had more than one valid sequence per invalid one (it quoted mojibake, "ï¿½"); in
    windows-1251 and KOI8-R, at most one valid per 700 invalid.)"""
    high = len(body.translate(None, _ASCII_BYTES))
    if not high:
        return True
    invalid = as_utf8.count("\ufffd") - body.count("\ufffd".encode())
    non_ascii = len(as_utf8) - (len(body) - high)  # ASCII bytes decode one to one
    return invalid * 4 <= non_ascii - invalid


def guess_single_byte(body: bytes) -> str:
    """The encoding of undeclared, non-UTF-8 text. Windows-1252 (what browsers assume) when the
    words with non-ASCII bytes read as a Latin-script language in it; else charset_normalizer's
    guess among the encodings browsers support (windows-1251, KOI8-R, windows-1250, Greek, ...),
    made from those words only (on a mostly English page, a menu in Russian is all there is to
    go by); else windows-1252."""
    sample = b" ".join(_HIGH_WORDS.findall(body, 0, _GUESS_BYTES))
    if _reads_as_latin(sample.decode("cp1252", errors="replace")):
        return "cp1252"
    import charset_normalizer  # only for the rare page that needs it (~0.1 s to load its tables)

    best = charset_normalizer.from_bytes(sample, cp_isolation=list(_LEGACY_ENCODINGS)).best()
    return best.encoding if best is not None else "cp1252"


# Words (between spaces, markup and entity delimiters) holding a byte above ASCII.
# Anchored at a word's start (a regex that may start anywhere is quadratic in a long word).
_HIGH_WORDS = re.compile(rb"(?<![^\s<>\"'=&;])[^\s<>\"'=&;]*[\x80-\xff][^\s<>\"'=&;]*")
# Non-ASCII letters, and runs of three or more of them, in a windows-1252 decoding.
_ACCENTED = re.compile(r"[^\W\d_a-zA-Z]")
_ACCENTED_RUN = re.compile(r"[^\W\d_a-zA-Z]{3,}")
# The legacy encodings of the WHATWG Encoding Standard (what browsers decode), by Python name.
_LEGACY_ENCODINGS = (
    "cp866 iso8859_2 iso8859_3 iso8859_4 iso8859_5 iso8859_6 iso8859_7 iso8859_8 iso8859_10 "
    "iso8859_13 iso8859_14 iso8859_15 iso8859_16 koi8_r koi8_u mac_roman mac_cyrillic cp874 cp1250 "
    "cp1251 cp1252 cp1253 cp1254 cp1255 cp1256 cp1257 cp1258 gb18030 big5 euc_jp iso2022_jp "
    "shift_jis euc_kr"
).split()


def _reads_as_latin(text: str) -> bool:
    """Whether the accented letters of a windows-1252 decoding sit inside words of ASCII letters,
    as in French or German ("réunion", "Größe"), rather than in runs of three or more, as
    Cyrillic or Greek bytes decoded so do ("Ïðîòèâî")."""
    accented = len(_ACCENTED.findall(text))
    in_runs = sum(map(len, _ACCENTED_RUN.findall(text)))
    return in_runs * 10 <= accented
