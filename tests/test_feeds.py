"""extractors.feeds: small feeds and what must come out of them, side by side."""

from datetime import UTC, datetime

import pytest

from extractors.errors import FeedParseError
from extractors.feeds import html_to_text, parse_feed
from extractors.http import Fetcher, FetchSettings, poll_feed
from tests.helpers_http import LocalServer, Reply, Request


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


RSS_091 = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old</title><link>http://old.example.com/</link>
<description>d</description><language>en</language>
<item><title>Arrow 3 test</title><link>http://old.example.com/a?utm_source=rss</link>
<description>The &lt;b&gt;test&lt;/b&gt; succeeded.</description></item>
</channel></rss>"""

RSS_10_RDF = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://rdf.example.de/"><title>RDF</title><link>https://rdf.example.de/</link>
<description>d</description></channel>
<item rdf:about="https://rdf.example.de/meldung/1"><title>Raketenabwehr: Gr\xc3\xb6\xc3\x9fere Reichweite</title>
<link>https://rdf.example.de/meldung/1.html?wt_mc=rss.ho.beitrag.rdf</link>
<description>Mehr &amp; besser.</description><dc:date>2018-10-28T13:49:01+01:00</dc:date>
<dc:creator>Redaktion</dc:creator></item>
</rdf:RDF>"""

RSS_20 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>c</title>
<link>https://example.com/</link><description>d</description>
<item><title>Patriot &amp;amp; THAAD: &lt;i&gt;update&lt;/i&gt;</title>
<link>https://Example.com/n/1?utm_source=rss&amp;id=3#top</link><guid isPermaLink="false">n-1</guid>
<pubDate>Tue, 05 Mar 2024 14:30:00 +0100</pubDate><author>desk@example.com (News Desk)</author>
<description>Short &lt;b&gt;summary&lt;/b&gt;.</description>
<content:encoded><![CDATA[<p>First   paragraph with <a href="/x">a link</a>.</p>
<p>Second<br/>line &amp; more.</p><script>alert(1)</script>]]></content:encoded></item>
<item><title>No link at all</title><guid>urn:uuid:1234</guid><description>x</description>
<pubDate>not a date</pubDate></item>
<item><title>Guid is the link</title><guid>https://example.com/g/2#frag</guid>
<pubDate>Mon, 32 Foo 2024 99:99:99 GMT</pubDate></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example.org/blog/">
<title>a</title><id>urn:x</id><updated>2024-01-01T00:00:00Z</updated>
<entry><title type="text">A &lt; B</title><link rel="alternate" href="posts/1.html?fbclid=abc"/>
<link rel="enclosure" href="https://cdn.example.org/1.mp3"/><id>tag:x,2024:1</id>
<updated>2024-02-03T04:05:06-05:00</updated><author><name>Ann Author</name></author>
<summary type="html">&lt;p&gt;One&lt;/p&gt;&lt;p&gt;Two&lt;/p&gt;</summary></entry>
<entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">X <b>bold</b></div></title>
<link href="https://atom.example.org/2"/><id>tag:x,2024:2</id><published>2024-02-01T00:00:00Z</published>
<updated>2024-02-05T00:00:00Z</updated>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Para 1</p><p>Para 2</p></div></content>
</entry></feed>"""

CYRILLIC_TITLE = "Противоракетная оборона: испытание"
RSS_1251 = (
    '<?xml version="1.0" encoding="windows-1251"?><rss version="2.0"><channel><title>ru</title>'
    f"<item><title>{CYRILLIC_TITLE}</title><link>http://ru.example/1</link>"
    "<description>Текст &lt;br&gt; новости</description>"
    "<pubDate>Wed, 21 Mar 2018 10:27:32 +0300</pubDate></item></channel></rss>"
).encode("windows-1251")

LATIN1_UNDECLARED = (
    '<rss version="2.0"><channel><title>fr</title><item><title>Défense antimissile : réunion</title>'
    "<link>https://fr.example/1</link></item></channel></rss>"
).encode("latin-1")

RELATIVE = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>r</title>
<item><title>Rel</title><link>/news/7.html?utm_medium=feed&amp;page=2</link></item>
<item><title>Rel2</title><link>story.html</link></item></channel></rss>"""

PARTLY_MALFORMED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>c</title>
<item><title>Good one</title><link>https://example.com/ok</link><pubDate>Tue, 05 Mar 2024 10:00:00 GMT</pubDate></item>
<item><title>Bare ampersand & broken</title><link>https://example.com/ok2</link></item>
<item><title>Cut off"""

EMPTY_FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>quiet</title>
<link>https://example.com/</link><description>nothing yet</description></channel></rss>"""

# (id, bytes, parse_feed kwargs, expected entries: (url, title, content, published_at))
FEEDS = [
    (
        "rss-0.91",
        RSS_091,
        {},
        [("http://old.example.com/a", "Arrow 3 test", "The test succeeded.", None)],
    ),
    (
        "rss-1.0-rdf",
        RSS_10_RDF,
        {},
        [
            (
                "https://rdf.example.de/meldung/1.html",
                "Raketenabwehr: Größere Reichweite",
                "Mehr & besser.",
                utc(2018, 10, 28, 12, 49, 1),
            )
        ],
    ),
    (
        "rss-2.0",
        RSS_20,
        {},
        [
            (
                "https://example.com/n/1?id=3",
                "Patriot & THAAD: update",
                "First paragraph with a link.\n\nSecond\nline & more.",
                utc(2024, 3, 5, 13, 30),
            ),
            (None, "No link at all", "x", None),  # kept: the pipeline records it as no_link
            ("https://example.com/g/2", "Guid is the link", "", None),  # malformed date -> None
        ],
    ),
    (
        "atom",
        ATOM,
        {},
        [
            ("https://atom.example.org/blog/posts/1.html", "A < B", "One\n\nTwo", utc(2024, 2, 3, 9, 5, 6)),
            ("https://atom.example.org/2", "X bold", "Para 1\n\nPara 2", utc(2024, 2, 1)),
        ],
    ),
    (
        "windows-1251",
        RSS_1251,
        {},
        [("http://ru.example/1", CYRILLIC_TITLE, "Текст\nновости", utc(2018, 3, 21, 7, 27, 32))],
    ),
    (
        "windows-1251-declared-by-http",
        RSS_1251.replace(b' encoding="windows-1251"', b""),
        {"content_type": "text/xml; charset=windows-1251"},
        [("http://ru.example/1", CYRILLIC_TITLE, "Текст\nновости", utc(2018, 3, 21, 7, 27, 32))],
    ),
    (
        "latin-1-undeclared",
        LATIN1_UNDECLARED,
        {},
        [("https://fr.example/1", "Défense antimissile : réunion", "", None)],
    ),
    (
        "relative-links",
        RELATIVE,
        {"base_url": "https://base.example.com/feeds/main.xml"},
        [
            ("https://base.example.com/news/7.html?page=2", "Rel", "", None),
            ("https://base.example.com/feeds/story.html", "Rel2", "", None),
        ],
    ),
    (
        "partly-malformed",
        PARTLY_MALFORMED,
        {},
        [
            ("https://example.com/ok", "Good one", "", utc(2024, 3, 5, 10)),
            ("https://example.com/ok2", "Bare ampersand & broken", "", None),
            (None, "", "", None),
        ],
    ),
    ("valid-empty", EMPTY_FEED, {}, []),
]


@pytest.mark.parametrize(("data", "kwargs", "expected"), [f[1:] for f in FEEDS], ids=[f[0] for f in FEEDS])
def test_parse_feed_entries(data, kwargs, expected):
    parsed = parse_feed(data, "f", **kwargs)
    got = [(e.url, e.title, e.content, e.published_at) for e in parsed.entries]
    assert got == expected
    assert all(e.feed == "f" for e in parsed.entries)
    assert all(e.published_at is None or e.published_at.tzinfo is UTC for e in parsed.entries)


@pytest.mark.parametrize(
    ("data", "warned"),
    [
        (RSS_20, False),
        (ATOM, False),
        (EMPTY_FEED, False),
        (PARTLY_MALFORMED, True),
        (LATIN1_UNDECLARED, True),
    ],
)
def test_warning_only_for_imperfect_feeds(data, warned):
    assert (parse_feed(data, "f").warning is not None) is warned


def test_rss2_entry_metadata():
    first, no_link, guid_link = parse_feed(RSS_20, "f").entries
    assert (first.guid, first.author) == ("n-1", "desk@example.com (News Desk)")
    assert first.raw_url == "https://Example.com/n/1?utm_source=rss&id=3#top"
    assert (no_link.guid, no_link.raw_url) == ("urn:uuid:1234", None)
    assert (guid_link.guid, guid_link.raw_url) == (
        "https://example.com/g/2#frag",
        "https://example.com/g/2#frag",
    )


def test_atom_entry_metadata():
    first, _second = parse_feed(ATOM, "f").entries
    assert (first.guid, first.author) == ("tag:x,2024:1", "Ann Author")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"\x00\x01\x02garbage\xff\xfe",
        b"just some text, not xml",
        b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Welcome</p></body></html>",
        b'{"version": "https://jsonfeed.org/version/1", "items": []}',
        b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>x",  # no usable entry
    ],
    ids=["empty", "blank", "binary", "text", "html", "json", "truncated"],
)
def test_not_a_feed_raises(data):
    with pytest.raises(FeedParseError):
        parse_feed(data, "f")


def test_bytes_that_name_a_file_are_not_opened(tmp_path):
    # feedparser opens a bytes/str argument as a path when it can; parse_feed must not.
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS_20)
    with pytest.raises(FeedParseError):
        parse_feed(str(path).encode(), "f")


def entity_bomb(prefix: str) -> bytes:
    value = "A" * 20_000
    refs = "&a;" * 8_000
    return (
        f'<?xml version="1.0"?>\n{prefix}<!DOCTYPE rss [\n<!ENTITY a "{value}">\n]>\n'
        '<rss version="2.0"><channel><title>t</title><item><title>bomb &a;&a;</title>'
        f"<link>https://example.com/1</link><description>{refs}</description></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    "prefix",
    ["", "junk before the doctype\n"],  # the second makes feedparser fall back to its loose parser
    ids=["strict-parser", "loose-parser"],
)
def test_entity_bomb_stays_small(prefix):
    data = entity_bomb(prefix)
    assert len(data) < 50_000  # would expand to 160 MB
    parsed = parse_feed(data, "f")
    (entry,) = parsed.entries
    assert entry.url == "https://example.com/1"
    assert len(entry.content) + len(entry.title) < len(data)
    assert "AAAA" not in entry.content + entry.title


def one_bad_item(item: str, *, loose: bool = False) -> bytes:
    """A feed of a good item, then `item`, then another good item (`loose`: a stray entity makes
    feedparser use its loose parser)."""
    good = "<item><title>good {0}</title><link>https://example.com/{0}</link></item>"
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>t{'&undefined;' if loose else ''}</title>"
        f"{good.format(1)}{item}{good.format(2)}</channel></rss>"
    ).encode()


@pytest.mark.parametrize("loose", [False, True], ids=["strict-parser", "loose-parser"])
@pytest.mark.parametrize(
    ("item", "title"),
    [
        ("<item><title>bad &#xD800; ref</title><link>https://example.com/b</link></item>", "bad \ufffd ref"),
        (
            "<item><title>bad &#x110000; ref</title><link>https://example.com/b</link></item>",
            "bad \ufffd ref",
        ),
        (
            "<item><title>bad &#55296;&#0; ref</title><link>https://example.com/b</link></item>",
            "bad \ufffd\ufffd ref",
        ),
        (
            f"<item><title>bad &#{'9' * 5000}; ref</title><link>https://example.com/b</link></item>",
            "bad \ufffd ref",
        ),
        ("<item><title>bad &#xDC00 ref</title><link>https://example.com/b</link></item>", "bad \ufffd ref"),
        (
            "<item><title>fine &#x1F680;&#65;</title><link>https://example.com/b</link></item>",
            "fine \U0001f680A",
        ),
    ],
)
def test_a_bad_character_reference_costs_one_character_not_the_feed(item, title, loose):
    parsed = parse_feed(one_bad_item(item, loose=loose), "f")
    assert [e.title for e in parsed.entries] == ["good 1", title, "good 2"]


@pytest.mark.parametrize("loose", [False, True], ids=["strict-parser", "loose-parser"])
@pytest.mark.parametrize("element", ["author", "dc:creator", "title", "category", "guid"])
def test_an_oversized_field_is_cut_and_the_feed_keeps_its_items(element, loose):
    """feedparser's author handling is quadratic (a 32 KB author held a worker for seconds): the
    text it is given per field is bounded, so the item costs milliseconds and keeps its link."""
    huge = "a" * 64_000
    item = f"<item><title>big</title><link>https://example.com/b</link><{element}>{huge}</{element}></item>"
    parsed = parse_feed(one_bad_item(item, loose=loose), "f")
    assert [e.url for e in parsed.entries] == [f"https://example.com/{n}" for n in ("1", "b", "2")]
    big = parsed.entries[1]
    assert len(big.author or "") <= 256 and len(big.title) <= 1024


def test_a_long_article_in_a_feed_is_kept_whole():
    text = "word " * 50_000  # 250 KB: text elements keep up to a million characters
    item = (
        f"<item><title>long</title><link>https://example.com/b</link><description>{text}</description></item>"
    )
    parsed = parse_feed(one_bad_item(item), "f")
    assert parsed.entries[1].content == text.strip()


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("Line<br>break", "Line\nbreak"),
        ("<div>  lots   of\n\n space </div>", "lots of space"),
        ("<ul><li>a</li><li>b</li></ul>", "a\n\nb"),
        ("x &amp; y &lt;z&gt; &nbsp;&#8212; &eacute;", "x & y <z> — é"),
        ("<style>p{}</style><p>kept</p><script>var x;</script>", "kept"),
        ("", ""),
    ],
)
def test_html_to_text(markup, text):
    assert html_to_text(markup) == text


# ---------------------------------------------------------------------------------------------
# poll_feed against a real local server (trusted=True: loopback allowed for the feed URL itself)


def feed_route(req: Request) -> Reply:
    if req.headers.get("if-none-match") == '"r2"':
        return Reply(304, headers={"ETag": '"r2"'})
    return Reply(
        200,
        RSS_20,
        {
            "Content-Type": "application/rss+xml",
            "ETag": '"r2"',
            "Last-Modified": "Tue, 05 Mar 2024 14:30:00 GMT",
        },
    )


@pytest.fixture
def fetcher():
    with Fetcher(FetchSettings(retries=0)) as f:
        yield f


def test_poll_feed_ok_then_not_modified(fetcher):
    with LocalServer({"/rss": feed_route}) as server:
        first = poll_feed("news", server.url("/rss"), fetcher)
        second = poll_feed(
            "news", server.url("/rss"), fetcher, etag=first.etag, last_modified=first.last_modified
        )
    assert (first.outcome, first.status, first.error) == ("ok", 200, None)
    assert [e.url for e in first.entries] == ["https://example.com/n/1?id=3", None, "https://example.com/g/2"]
    assert (first.etag, first.last_modified) == ('"r2"', "Tue, 05 Mar 2024 14:30:00 GMT")
    assert (second.outcome, second.status, second.entries) == ("not_modified", 304, ())
    assert (second.etag, second.last_modified) == ('"r2"', "Tue, 05 Mar 2024 14:30:00 GMT")


def test_poll_feed_resolves_relative_links_against_the_final_url(fetcher):
    with LocalServer(
        {"/feeds/main.xml": Reply(200, RELATIVE, {"Content-Type": "application/xml"})}
    ) as server:
        poll = poll_feed("rel", server.url("/feeds/main.xml"), fetcher)
    assert [e.url for e in poll.entries] == [
        server.url("/news/7.html?page=2"),
        server.url("/feeds/story.html"),
    ]


@pytest.mark.parametrize(
    ("reply", "status", "transient", "retry_after", "message"),
    [
        (Reply(404), 404, False, None, "404"),
        (Reply(503, headers={"Retry-After": "7"}), 503, True, 7.0, "503"),
        (Reply(200, b"<html><body>Moved to our new site</body></html>"), 200, False, None, "FeedParseError"),
        (Reply(200, b"\x1f\x8b", {"Content-Encoding": "br"}), 200, False, None, "Content-Encoding"),
    ],
    ids=["404", "503", "html", "brotli"],
)
def test_poll_feed_failures_never_raise(fetcher, reply, status, transient, retry_after, message):
    with LocalServer({"/rss": reply}) as server:
        poll = poll_feed("news", server.url("/rss"), fetcher, etag='"old"', last_modified="yesterday")
    assert (poll.outcome, poll.status, poll.transient, poll.retry_after) == (
        "failed",
        status,
        transient,
        retry_after,
    )
    assert message in poll.error
    assert (poll.etag, poll.last_modified) == ('"old"', "yesterday")  # validators kept for next time
    assert poll.entries == ()


def test_poll_feed_unreachable_is_transient(fetcher):
    with LocalServer() as server:
        url = server.url("/rss")
    poll = poll_feed("news", url, fetcher)
    assert (poll.outcome, poll.status, poll.transient) == ("failed", None, True)


def test_poll_feed_partly_malformed_is_ok_with_warning(fetcher):
    with LocalServer({"/rss": Reply(200, PARTLY_MALFORMED, {"Content-Type": "text/xml"})}) as server:
        poll = poll_feed("news", server.url("/rss"), fetcher)
    assert poll.outcome == "ok"
    assert poll.error and "SAXParseException" in poll.error
    assert len(poll.entries) == 3
