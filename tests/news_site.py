"""A local news site for tests (a real HTTP server on 127.0.0.1): stories published over time, a feed
that shows only its newest items, its older pages (RFC 5005 rel="next", or WordPress's ?paged=N),
robots.txt naming a sitemap index and a news sitemap, and article pages that answer conditional GETs
(ETag) and can be edited.

    site = NewsSite(feed_size=10, paging="rfc5005")
    with site:
        site.publish(10, start=now - timedelta(days=3), step=timedelta(hours=1))
        site.feed_url
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from tests.helpers_http import LocalServer, Reply, Request

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
XML = {"Content-Type": "application/xml; charset=utf-8"}
VOCAB = (
    "radar battery launcher brigade exercise corridor treaty ministry general budget statement "
    "deployment frontier satellite warning system contract parliament garrison convoy airbase "
    "harbour inspection briefing spokesman analyst doctrine tension agreement summit delegation "
    "interceptor warhead trajectory sensor command network reserve logistics procurement upgrade"
).split()


def story_text(seed: int, words: int = 150) -> str:
    """An on-topic story no other story shares: random words (no common shingles, so no false copy)."""
    rnd = random.Random(seed)
    body = [rnd.choice(VOCAB) for _ in range(words)]
    return "The missile defense programme " + " ".join(body[:70]) + ".\n\n" + " ".join(body[70:]) + "."


@dataclass
class Story:
    number: int
    title: str
    published: datetime
    text: str  # paragraphs separated by blank lines
    path: str

    def html(self) -> bytes:
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in self.text.split("\n\n"))
        return (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(self.title)}</title></head>"
            f"<body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
            f"<article><h1>{escape(self.title)}</h1>{paragraphs}</article>"
            "<footer>Subscribe to our newsletter. Cookie settings.</footer></body></html>"
        ).encode()


class NewsSite:
    """paging: "rfc5005" (atom:link rel=next), "wordpress" (?paged=N, WordPress generator) or None.
    sitemap: robots.txt names a sitemap index whose child is a news sitemap of every story."""

    def __init__(self, *, feed_size: int = 10, paging: str | None = "rfc5005", sitemap: bool = True):
        self.feed_size = feed_size
        self.paging = paging
        self.sitemap = sitemap
        self.stories: list[Story] = []
        self.server = LocalServer()
        self.feed_path = "/wp/feed/" if paging == "wordpress" else "/feed.xml"
        for page in range(1, 30):
            self.server.routes[self._page_path(page)] = lambda r, page=page: self._feed(page)
        self.server.routes["/robots.txt"] = self._robots
        self.server.routes["/sitemap_index.xml"] = self._sitemap_index
        self.server.routes["/news-sitemap.xml"] = self._news_sitemap

    def __enter__(self) -> NewsSite:
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    @property
    def feed_url(self) -> str:
        return self.server.url(self.feed_path)

    def url(self, path: str) -> str:
        return self.server.url(path)

    def hits(self, path: str) -> int:
        return len(self.server.hits(path))

    def publish(
        self, n: int, *, start: datetime, step: timedelta, title: str = "Missile defense report"
    ) -> list[Story]:
        """n new stories, the first at `start`, each `step` after the one before."""
        new = []
        for i in range(n):
            number = len(self.stories) + 1
            story = Story(
                number, f"{title} {number}", start + i * step, story_text(number), f"/story/{number}.html"
            )
            self.stories.append(story)
            self.server.routes[story.path] = lambda r, s=story: self._page(r, s)
            new.append(story)
        return new

    def add(self, story: Story) -> Story:
        """A story made by the test (e.g. off topic, or a copy of another)."""
        self.stories.append(story)
        self.server.routes[story.path] = lambda r, s=story: self._page(r, s)
        return story

    # ---- routes -------------------------------------------------------------------------------

    def _page_path(self, page: int) -> str:
        if page == 1:
            return self.feed_path
        if self.paging == "wordpress":
            return f"{self.feed_path}?paged={page}"
        return f"{self.feed_path}?page={page}"

    def _newest_first(self) -> list[Story]:
        return sorted(self.stories, key=lambda s: s.published, reverse=True)

    def _feed(self, page: int) -> Reply:
        stories = self._newest_first()
        if page > 1 and self.paging is None:
            return Reply(404, b"not found")
        items = stories[(page - 1) * self.feed_size : page * self.feed_size]
        if page > 1 and not items:
            return Reply(404, b"no such page")  # as WordPress answers past the last page
        more = len(stories) > page * self.feed_size
        head = ""
        if self.paging == "rfc5005" and more:
            head = f'<atom:link rel="next" href="{escape(self.url(self._page_path(page + 1)))}"/>'
        if self.paging == "wordpress":
            head = "<generator>https://wordpress.org/?v=6.5</generator>"
        body = "".join(
            f"<item><title>{escape(s.title)}</title><link>{escape(self.url(s.path))}</link>"
            f"<guid>{escape(self.url(s.path))}</guid><pubDate>{format_datetime(s.published)}</pubDate></item>"
            for s in items
        )
        return Reply(
            200,
            (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
                'xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Site</title>'
                f"<link>{self.url('/')}</link><description>news</description>{head}{body}</channel></rss>"
            ).encode(),
            RSS,
        )

    def _page(self, request: Request, story: Story) -> Reply:
        body = story.html()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, {**HTML, "ETag": etag})

    def _robots(self, request: Request) -> Reply:
        if not self.sitemap:
            return Reply(200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"})
        text = f"User-agent: *\nDisallow: /private/\n\nSitemap: {self.url('/sitemap_index.xml')}\n"
        return Reply(200, text.encode(), {"Content-Type": "text/plain"})

    def _sitemap_index(self, request: Request) -> Reply:
        newest = max((s.published for s in self.stories), default=None)
        lastmod = f"<lastmod>{newest.isoformat()}</lastmod>" if newest else ""
        return Reply(
            200,
            (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{self.url('/news-sitemap.xml')}</loc>{lastmod}</sitemap></sitemapindex>"
            ).encode(),
            XML,
        )

    def _news_sitemap(self, request: Request) -> Reply:
        urls = "".join(
            f"<url><loc>{escape(self.url(s.path))}</loc><news:news><news:publication><news:name>Site"
            f"</news:name><news:language>en</news:language></news:publication>"
            f"<news:publication_date>{s.published.isoformat()}</news:publication_date>"
            f"<news:title>{escape(s.title)}</news:title></news:news></url>"
            for s in self._newest_first()
        )
        return Reply(
            200,
            (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
                f"{urls}</urlset>"
            ).encode(),
            XML,
        )
