"""Canonical URLs: one spelling per article, so the same story links to the same key."""

from __future__ import annotations

from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import idna  # IDNA2008 with UTS 46 mapping, as browsers resolve names (httpx depends on it)

# Query parameters that identify the click, campaign or share, never the document.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_conv",
        "vero_id",
        "wickedid",
        "ref_src",
        "ref_url",
        "ncid",
        "ocid",
        "cmpid",
        "smid",
        "sr_share",
        "wt_mc",
        "wt_zmc",
        "at_medium",
        "at_campaign",
        "rss_id",
    }
)
TRACKING_PREFIXES = ("utm_",)

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are when re-quoting a path or query: RFC 3986 reserved and unreserved
# characters plus "%", so existing escapes survive and only raw spaces/non-ASCII get escaped.
SAFE_PATH = "/%:@!$&'()*+,;=-._~"
SAFE_QUERY = SAFE_PATH + "?"


def is_tracking_param(name: str) -> bool:
    key = unquote(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """The canonical http(s) form of `url` (resolved against `base`), or None when it has none.

    Lower-cases scheme and host (IDNA2008 for non-ASCII hosts), drops userinfo, default ports,
    the fragment and tracking parameters; an empty path becomes "/". Never raises.
    """
    if not isinstance(url, str):
        return None
    try:
        return _canonical(url.strip(), base.strip() if isinstance(base, str) else None)
    except (ValueError, UnicodeError):
        return None


def _canonical(url: str, base: str | None) -> str | None:
    if not url:
        return None
    if base:
        url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    host = _canonical_host(parts.hostname)
    if not host:
        return None
    port = parts.port  # raises ValueError on a junk port: handled by the caller
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = quote(parts.path, safe=SAFE_PATH) or "/"
    query = _strip_tracking(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _canonical_host(hostname: str | None) -> str | None:
    if not hostname:
        return None
    host = hostname.rstrip(".").lower()
    if not host:
        return None
    if ":" in host:  # IPv6 literal
        return host
    host = ascii_host(host)
    if any(c in host for c in " \\/@?#%"):
        return None
    return host


def ascii_host(host: str) -> str:
    """The host as it is looked up, sent and stored: an ASCII name as it is (so keys stored before
    stay), a non-ASCII one in IDNA2008 form with UTS 46 mapping ("faß.de" is "xn--fa-hia.de", not
    IDNA2003's "fass.de"). Names IDNA2008 disallows (symbols, emoji) fall back to IDNA2003, as
    before. Raises ValueError (UnicodeError) when neither can encode it."""
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return host.encode("idna").decode("ascii")


def ascii_url(url: str) -> str:
    """`url` as sent on the wire: host in ASCII (`ascii_host`), spaces and non-ASCII in the path
    and query percent-encoded as UTF-8 (existing escapes kept), no fragment. Raises ValueError."""
    parts = urlsplit(url)
    netloc = parts.netloc
    host = parts.hostname
    if host and not host.isascii():
        userinfo, _, hostport = netloc.rpartition("@")
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = (f"{userinfo}@" if userinfo else "") + ascii_host(host.rstrip(".")) + port
    path = quote(parts.path, safe=SAFE_PATH)
    query = quote(parts.query, safe=SAFE_QUERY)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _strip_tracking(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = pair.split("=", 1)[0]
        if not is_tracking_param(name):
            kept.append(quote(pair, safe=SAFE_QUERY))
    return "&".join(kept)


def host_of(url: str | None) -> str:
    """The lower-cased host of `url` ("" when it has none)."""
    if not isinstance(url, str):
        return ""
    try:
        return (urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""
