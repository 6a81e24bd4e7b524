"""A generated news site for the benchmarks, written as static files and served from its own process.

Pages are built from the real pages of the extraction benchmark (`../shared/benchmarks/extraction`):
each real page is a template whose article paragraphs become slots, filled with paragraphs of
sentences drawn at random from all the gold article bodies, so every page has real page chrome
(and a realistic extraction cost) but a text of its own; templates whose extraction does not give
back the text put in (or adds much of the real page's own text) are left out. Every page mentions missile defense (on
topic) and carries a unique marker sentence, so a benchmark can check that each stored article got
its own page's text. A share of pages are true copies of earlier ones under another page's chrome:
half with the same text (exact copies), half with one paragraph cut (near copies).

Feeds are RSS 2.0 files with `{{BASE}}` links, served by `bench.static_server` (light: it shares the
cores with what is measured) on several loopback addresses (127.0.0.2, 127.0.0.3, ...): politeness
limits are per host, and each feed's pages live on the feed's host. The server runs in a child
process so its CPU is measured apart:

    python -m bench.site serve ROOT PORT HOST [HOST ...]
"""

from __future__ import annotations

import gzip
import html
import json
import random
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from bench._shared import EXTRACTION_BENCHMARK, extraction_benchmark_available

ROOT = Path(__file__).resolve().parents[1]
MIN_SLOTS = 3  # a template needs at least this many article paragraphs
MAX_SLOTS = 12
MAX_LEFTOVER = 0.2  # share of a template's extracted text that is not the text put in
MIN_RECALL = 0.8  # share of the text put in that extraction must give back
TOPIC_SENTENCE = "Officials said the missile defense review would shape the next budget."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SLOT = "@@SLOT{}@@"
_SLOT_SPLIT = re.compile(r"@@SLOT\d+@@")
_META_CHARSET = re.compile(r"<meta[^>]+charset[^>]*>", re.I)
_WORD = re.compile(r"\w+")


def shared_available() -> bool:
    return extraction_benchmark_available()


@dataclass(frozen=True)
class Template:
    """A real page cut at its article paragraphs: len(parts) - 1 slots."""

    key: str
    parts: tuple[str, ...]

    @property
    def slots(self) -> int:
        return len(self.parts) - 1

    def render(self, paragraphs: list[str]) -> str:
        """The page with the slots filled (extra slots are left empty, extra paragraphs go in the last)."""
        filled = [html.escape(p) for p in paragraphs[: self.slots]]
        if len(paragraphs) > self.slots:
            filled[-1] += "</p><p>" + "</p><p>".join(html.escape(p) for p in paragraphs[self.slots :])
        filled += [""] * (self.slots - len(filled))
        out = [self.parts[0]]
        for text, part in zip(filled, self.parts[1:], strict=True):
            out += [text, part]
        return "".join(out)


def _norm(text: str) -> str:
    return " ".join(text.split())


def load_templates() -> list[Template]:
    """Templates from the benchmark pages whose article paragraphs can be found in the HTML."""
    import lxml.html

    truth = json.loads((EXTRACTION_BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    templates = []
    for key in sorted(truth):
        with gzip.open(EXTRACTION_BENCHMARK / "html" / f"{key}.html.gz", "rt", encoding="utf-8") as f:
            doc = lxml.html.document_fromstring(f.read())
        gold = _norm(truth[key].get("articleBody", ""))
        slots = 0
        for p in list(doc.iter("p")):
            text = _norm(p.text_content())
            if len(text) < 40 or text[:60] not in gold:
                continue
            if slots >= MAX_SLOTS:
                p.getparent().remove(p)  # lxml removes its tail with it
                continue
            for child in list(p):
                p.remove(child)
            p.text = _SLOT.format(slots)
            slots += 1
        if slots < MIN_SLOTS:
            continue
        page = _META_CHARSET.sub("", lxml.html.tostring(doc, encoding="unicode"))  # served as UTF-8
        templates.append(Template(key, tuple(_SLOT_SPLIT.split(page))))
    return templates


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + 5]) for i in range(max(1, len(words) - 4))}


def usable_templates(templates: list[Template], pool: list[str], seed: int = 3) -> list[Template]:
    """The templates whose extracted text is the text put in: at least MIN_RECALL of it comes out, and
    at most MAX_LEFTOVER of what comes out is the real page's own leftover text (shared by every page
    made from the template, it would make those pages look like copies of each other)."""
    from extractors.extract import extract_page

    rng = random.Random(seed)
    kept = []
    for i, template in enumerate(templates):
        paragraphs = _paragraphs(rng, pool, max(template.slots, 4))
        paragraphs[0] = f"{paragraphs[0]} {TOPIC_SENTENCE} {marker_for(i)}"
        extracted = extract_page(template.render(paragraphs), "http://bench.example/check")
        if extracted is None or marker_code(i) not in extracted.text:
            continue
        out, put_in = _shingles(extracted.text), _shingles(" ".join(paragraphs))
        if len(out - put_in) <= MAX_LEFTOVER * len(out) and len(out & put_in) >= MIN_RECALL * len(put_in):
            kept.append(template)
    return kept


def sentence_pool() -> list[str]:
    """Sentences of every gold article body, of a length that reads like news prose."""
    truth = json.loads((EXTRACTION_BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    pool = []
    for key in sorted(truth):
        for para in truth[key].get("articleBody", "").split("\n"):
            pool += [s for s in _SENTENCE_END.split(_norm(para)) if 40 <= len(s) <= 300]
    return pool


@dataclass(frozen=True)
class SitePage:
    path: str  # URL path, e.g. /articles/p00012.html
    feed: int  # index of the feed that links it
    title: str
    source: int  # whose text it has: its own index, or its original's for a copy
    copy_of: int | None = None  # index of the original page
    near: bool = False  # a copy with a paragraph cut
    summary: str = ""  # the feed item's description

    @property
    def code(self) -> str:
        """The code of the marker sentence in the page's text (a copy carries its original's)."""
        return marker_code(self.source)


@dataclass
class Site:
    root: Path
    hosts: list[str]
    feed_paths: list[str]
    pages: list[SitePage] = field(default_factory=list)
    templates: int = 0  # real pages used as templates
    linked: int = 0  # the feeds link the first `linked` pages (see write_feeds)

    def feed_host(self, feed: int) -> str:
        return self.hosts[feed % len(self.hosts)]

    def feed_urls(self, port: int) -> list[tuple[str, str]]:
        """(feed name, URL) of every feed, in config order."""
        return [
            (f"feed-{j:04d}", f"http://{self.feed_host(j)}:{port}{path}")
            for j, path in enumerate(self.feed_paths)
        ]

    def page_url(self, index: int, port: int) -> str:
        page = self.pages[index]
        return f"http://{self.feed_host(page.feed)}:{port}{page.path}"

    @property
    def copies(self) -> int:
        return sum(p.copy_of is not None for p in self.pages)


MARKER_CODE = re.compile(r"QX\d{5}Z")


def marker_code(index: int) -> str:
    return f"QX{index:05d}Z"


def marker_for(index: int) -> str:
    return f"Dispatch reference {marker_code(index)} was filed with this report."


def _paragraphs(rng: random.Random, pool: list[str], count: int) -> list[str]:
    return [" ".join(rng.sample(pool, rng.randint(2, 4))) for _ in range(count)]


def build_site(
    root: Path,
    *,
    pages: int,
    feeds: int,
    hosts: list[str],
    copy_share: float = 0.1,
    seed: int = 1,
    templates: list[Template] | None = None,
    pool: list[str] | None = None,
    linked: int | None = None,
) -> Site:
    """Write `pages` article pages and `feeds` RSS feeds under root; page i is linked by feed i % feeds.
    The feeds link only the first `linked` pages (default: all); `write_feeds` links more later."""
    rng = random.Random(seed)
    pool = pool if pool is not None else sentence_pool()
    templates = templates if templates is not None else usable_templates(load_templates(), pool)
    (root / "articles").mkdir(parents=True, exist_ok=True)
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    site = Site(root, hosts, [f"/feeds/f{j:04d}.xml" for j in range(feeds)], templates=len(templates))
    texts: list[list[str]] = []
    for i in range(pages):
        template = templates[i % len(templates)]
        original = None
        if i >= 10 and rng.random() < copy_share:
            original = rng.randrange(0, i)
            while site.pages[original].copy_of is not None:
                original = site.pages[original].copy_of
        if original is None:
            paras = _paragraphs(rng, pool, max(template.slots, 4))
            paras[0] = f"{paras[0]} {TOPIC_SENTENCE} {marker_for(i)}"
            near = False
        else:
            paras = list(texts[original])
            near = rng.random() < 0.5 and len(paras) > 4
            if near:
                del paras[rng.randrange(1, len(paras))]  # the first paragraph holds the marker
        texts.append(paras)
        title = f"Missile defense report {i}: " + " ".join(paras[0].split()[:8])
        page = SitePage(
            path=f"/articles/p{i:05d}.html",
            feed=i % feeds,
            title=title,
            source=original if original is not None else i,
            copy_of=original,
            near=near,
            summary=paras[0].split(". ")[0][:200],
        )
        site.pages.append(page)
        (root / page.path.lstrip("/")).write_text(template.render(paras), encoding="utf-8")
    write_feeds(site, pages if linked is None else linked)
    return site


def write_feeds(site: Site, linked: int) -> list[int]:
    """(Re)write the feeds so that they link the first `linked` pages; only feeds whose items change
    are written (an unchanged feed keeps its validators, so it still answers 304). Returns the
    indexes of the feeds written."""
    before = site.linked
    site.linked = linked
    by_feed: dict[int, list[int]] = {}
    for i, page in enumerate(site.pages[:linked]):
        by_feed.setdefault(page.feed, []).append(i)
    changed = {p.feed for p in site.pages[min(before, linked) : max(before, linked)]} if before else None
    start = datetime(2026, 3, 1, tzinfo=UTC)
    written = []
    for j, path in enumerate(site.feed_paths):
        if changed is not None and j not in changed:
            continue
        items = [_rss_item(site.pages[i], start + timedelta(minutes=i)) for i in by_feed.get(j, [])]
        (site.root / path.lstrip("/")).write_text(_rss(f"feed {j}", items), encoding="utf-8")
        written.append(j)
    return written


def _rss_item(page: SitePage, published: datetime) -> str:
    summary = page.summary
    return (
        "<item>"
        f"<title>{html.escape(page.title)}</title>"
        f"<link>{{{{BASE}}}}{page.path}</link>"
        f'<guid isPermaLink="false">{page.path}</guid>'
        f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
        f"<description>{html.escape(summary)}</description>"
        "</item>"
    )


def _rss(title: str, items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>{{{{BASE}}}}/</link><description>bench</description>"
        + "".join(items)
        + "</channel></rss>\n"
    )


def write_config(
    path: Path,
    site: Site,
    port: int,
    db: Path,
    *,
    per_host: int = 4,
    max_workers: int = 16,
    page_batch: int | None = None,
    poll_batch: int | None = None,
    extract_workers: int | None = None,
) -> Path:
    """A newswatch config for the site: every feed, loopback hosts allowed, a small watchlist."""
    feeds = "".join(f'\n[[feeds]]\nname = "{name}"\nurl = "{url}"\n' for name, url in site.feed_urls(port))
    path.write_text(
        f"""[warehouse]
path = "{db}"

[fetch]
allow_private_hosts = true
per_host = {per_host}
max_workers = {max_workers}

[runner]
{"" if page_batch is None else f"page_batch = {page_batch}"}
{"" if poll_batch is None else f"poll_batch = {poll_batch}"}
{"" if extract_workers is None else f"[extract]{chr(10)}workers = {extract_workers}{chr(10)}"}
[watchlist]
keywords = ["missile defense", "NATO", "Pentagon", "Congress"]

[[watchlist.actors]]
name = "Donald Trump"
aliases = ["Trump"]
{feeds}""",
        encoding="utf-8",
    )
    return path


def loopback_hosts(count: int) -> list[str]:
    """127.0.0.2, 127.0.0.3, ...: distinct hosts for per-host politeness (all loopback on Linux)."""
    return [f"127.0.0.{2 + k}" for k in range(count)]


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SiteServer:
    """The site served by `python -m bench.site serve` in a child process (its CPU is its own)."""

    def __init__(self, root: Path, hosts: list[str]):
        self.root, self.hosts = root, hosts
        self.port = 0
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> SiteServer:
        for _ in range(5):  # the port is chosen before the child binds it: retry on a race
            self.port = free_port(self.hosts[0])
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.site", "serve", str(self.root), str(self.port), *self.hosts],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            if self.process.stdout.readline().strip() == "ready":
                return self
            self.process.wait(10)
        raise RuntimeError("the site server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def reload(self) -> None:
        """Serve the files as they are now on disk (after write_feeds); returns once they are."""
        assert self.process is not None and self.process.stdout is not None
        self.process.send_signal(signal.SIGHUP)
        if self.process.stdout.readline().strip() != "reloaded":
            raise RuntimeError("the site server did not reload")


def serve(root: Path, port: int, hosts: list[str]) -> None:
    """Serve root on every host until SIGTERM or the parent dies; prints "ready" once listening."""
    import asyncio

    from bench import static_server

    asyncio.run(static_server.serve(root, port, hosts))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
    else:
        sys.exit("usage: python -m bench.site serve ROOT PORT HOST [HOST ...]")
