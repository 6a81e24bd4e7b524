import pytest

from extractors.urls import canonical_url, host_of

CASES = [
    # (url, base, canonical)
    ("http://example.com", None, "http://example.com/"),
    ("  https://Example.COM/Path?q=1  ", None, "https://example.com/Path?q=1"),
    ("HTTP://EXAMPLE.com:80/a", None, "http://example.com/a"),
    ("https://example.com:443/a", None, "https://example.com/a"),
    ("https://example.com:8443/a", None, "https://example.com:8443/a"),
    ("http://example.com:443/a", None, "http://example.com:443/a"),
    ("https://example.com/a#section-2", None, "https://example.com/a"),
    ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", None, "https://example.com/a?id=7"),
    (
        "https://example.com/a?b=2&fbclid=XYZ&a=1&gclid=1&UTM_Campaign=x",
        None,
        "https://example.com/a?b=2&a=1",
    ),
    (
        "https://example.com/a?dclid=1&msclkid=2&yclid=3&mc_cid=4&mc_eid=5&_ga=6&igshid=7",
        None,
        "https://example.com/a",
    ),
    ("https://example.com/a?ref_src=twsrc&x=", None, "https://example.com/a?x="),
    (
        "https://www.heise.de/meldung/x-4205274.html?wt_mc=rss.ho.beitrag.rdf",
        None,
        "https://www.heise.de/meldung/x-4205274.html",
    ),
    ("https://example.com/a?q=a%20b&utm_x=1", None, "https://example.com/a?q=a%20b"),
    ("https://example.com/a?&&k=v&", None, "https://example.com/a?k=v"),
    ("https://user:secret@example.com/a", None, "https://example.com/a"),
    ("https://example.com/a b", None, "https://example.com/a%20b"),
    ("https://example.com./a", None, "https://example.com/a"),
    ("http://bücher.example/straße", None, "http://xn--bcher-kva.example/stra%C3%9Fe"),
    # IDNA2008 (UTS 46): ß and ς are letters of their own, not "ss" and "σ" as in IDNA2003
    ("http://faß.de/", None, "http://xn--fa-hia.de/"),
    ("http://FAß.DE./x", None, "http://xn--fa-hia.de/x"),
    ("http://βόλος.gr/", None, "http://xn--nxasmm1c.gr/"),
    # ASCII hosts are kept as they were (keys already stored stay the same), punycode included
    ("http://xn--fa-hia.de/", None, "http://xn--fa-hia.de/"),
    ("http://fass.de/", None, "http://fass.de/"),
    ("http://i❤.ws/", None, "http://xn--i-7iq.ws/"),  # IDNA2008 refuses symbols: IDNA2003 as before
    ("http://[2001:DB8::1]:8080/x", None, "http://[2001:db8::1]:8080/x"),
    ("http://192.0.2.1/", None, "http://192.0.2.1/"),
    # relative links resolved against the base
    ("/news/1.html", "https://example.com/feed.xml", "https://example.com/news/1.html"),
    ("2.html?utm_source=x", "https://example.com/news/", "https://example.com/news/2.html"),
    ("../up.html", "https://example.com/a/b/feed", "https://example.com/a/up.html"),
    ("//cdn.example.org/x", "https://example.com/", "https://cdn.example.org/x"),
    ("https://other.org/y", "https://example.com/", "https://other.org/y"),
    # not http(s), no host, junk: None
    (None, None, None),
    ("", None, None),
    ("   ", None, None),
    ("/relative/only", None, None),
    ("//cdn.example.org/x", None, None),
    ("mailto:someone@example.com", None, None),
    ("ftp://example.com/file", None, None),
    ("javascript:alert(1)", "https://example.com/", None),
    ("http://", None, None),
    ("http:///path", None, None),
    ("http://example.com:99999/", None, None),
    ("http://example.com:port/", None, None),
    ("http://[::1/", None, None),
    ("tag:example.com,2024:1", None, None),
]


@pytest.mark.parametrize(("url", "base", "expected"), CASES)
def test_canonical_url(url, base, expected):
    assert canonical_url(url, base) == expected


@pytest.mark.parametrize(("url", "_base", "expected"), [c for c in CASES if c[2]])
def test_canonical_url_is_idempotent(url, _base, expected):
    assert canonical_url(expected) == expected


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://News.Example.COM/a", "news.example.com"),
        ("http://user:pw@host.example:8080/", "host.example"),
        ("not a url", ""),
        (None, ""),
        ("http://[::1", ""),
    ],
)
def test_host_of(url, host):
    assert host_of(url) == host
