"""`newswatch feeds add|remove|import|export`, `check-feed` and `--version`, as a user runs them: the
real command in a process, a real config file edited and read back by the settings loader, a real
local HTTP server for check-feed."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

from flows.settings import load_settings
from tests.conftest import DEMO_SITE, ROOT
from tests.e2e import NEWSWATCH
from tests.helpers_http import LocalServer, Reply

CONFIG = ROOT / "newswatch.toml"


def nw(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(NEWSWATCH), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def feed_names(path: Path) -> list[str]:
    return [f.name for f in load_settings(path, check_secrets=False).feeds]


@pytest.fixture
def config(tmp_path) -> Path:
    """A copy of the shipped config: commented sections, fourteen feeds, then the watchlist."""
    path = tmp_path / "newswatch.toml"
    path.write_text(CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    return path


# ---- add and remove ------------------------------------------------------------------------------


def test_add_appends_a_feed_and_keeps_every_comment_and_the_order(config):
    before_text = config.read_text(encoding="utf-8")
    before = feed_names(config)
    done = nw("feeds", "add", "example-news", "https://news.example.org/rss", cwd=config.parent)
    assert done.returncode == 0, done.stderr
    assert "added feed example-news" in done.stdout
    after_text = config.read_text(encoding="utf-8")
    assert feed_names(config) == [*before, "example-news"]
    assert comments(after_text) == comments(before_text)
    # the section comment that followed the last feed still comes right before [watchlist]
    watch = after_text.index("\n[watchlist]")
    assert after_text.rindex("[[feeds]]", 0, watch) < after_text.rindex("# ---- watchlist", 0, watch)
    # nothing but the new table was added
    assert (
        after_text.replace(
            '[[feeds]]\nname = "example-news"\nurl = "https://news.example.org/rss"\n\n', "", 1
        )
        == before_text
    )


def test_remove_takes_out_one_feed_and_no_comment(config):
    before_text = config.read_text(encoding="utf-8")
    names = feed_names(config)
    for name in (names[0], names[5], names[-1]):  # first, middle, last (followed by a section comment)
        done = nw("feeds", "remove", name, "--config", str(config), cwd=config.parent)
        assert done.returncode == 0, done.stderr
        assert name not in feed_names(config)
    assert feed_names(config) == [n for n in names if n not in (names[0], names[5], names[-1])]
    after_text = config.read_text(encoding="utf-8")
    assert comments(after_text) == comments(before_text)
    assert "\n\n\n" not in after_text  # no blank lines piling up where a feed was


def test_a_config_option_before_the_subcommand_is_used(config, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = nw("feeds", "--config", str(config), "add", "one-more", "https://one.example/rss", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert "one-more" in feed_names(config)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["add", "Bad Name", "https://a.example/rss"],
            "feed name 'Bad Name': expected a short lowercase name",
        ),
        (["add", "seed", "https://a.example/rss"], "not 'seed'"),
        (["add", "new", "ftp://a.example/rss"], "expected an http(s) URL"),
        (["add", "new", "https://a.example/\x1b[2Jrss"], "expected an http(s) URL"),
        (["add", "tass", "https://other.example/rss"], "a feed named 'tass' is already configured"),
        (["add", "tass-again", "https://tass.com/rss/v2.xml"], "already configured as feed 'tass'"),
        (["remove", "no-such-feed"], "no feed named 'no-such-feed'"),
    ],
)
def test_a_refused_edit_changes_nothing_and_says_why_in_one_line(config, args, message):
    before = config.read_bytes()
    done = nw("feeds", *args, cwd=config.parent)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "\x1b" not in done.stderr
    assert config.read_bytes() == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["newswatch.toml"]  # no temporary file left


def test_an_edit_of_an_invalid_config_is_refused_before_writing(config):
    config.write_text(config.read_text(encoding="utf-8") + "\n[fetch2]\nx = 1\n", encoding="utf-8")
    before = config.read_bytes()
    done = nw("feeds", "add", "new", "https://new.example/rss", cwd=config.parent)
    assert done.returncode == 2
    assert "fetch2: unknown key" in done.stderr and "unchanged" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert config.read_bytes() == before


def test_missing_config_is_a_usage_error(tmp_path):
    done = nw("feeds", "add", "a", "https://a.example/rss", cwd=tmp_path)
    assert done.returncode == 2 and "config file not found" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_symlinked_config_is_edited_where_it_lives(config, tmp_path):
    link = tmp_path / "link.toml"
    link.symlink_to(config)
    assert (
        nw(
            "feeds", "add", "linked", "https://linked.example/rss", "--config", str(link), cwd=tmp_path
        ).returncode
        == 0
    )
    assert link.is_symlink()
    assert "linked" in feed_names(config)


def test_concurrent_edits_are_all_kept(config):
    """Eight `feeds add` at once: each edit waits for the previous one (none is lost)."""
    results = []

    def add(i: int) -> None:
        results.append(nw("feeds", "add", f"parallel-{i}", f"https://p{i}.example/rss", cwd=config.parent))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    assert sorted(n for n in feed_names(config) if n.startswith("parallel-")) == [
        f"parallel-{i}" for i in range(8)
    ]


# ---- OPML ----------------------------------------------------------------------------------------

OPML = """<?xml version="1.0" encoding="utf-8"?>
<opml version="1.0"><head><title>Reader export</title></head><body>
  <outline text="Defense" title="Defense">
    <outline type="rss" text="Breaking Défense" title="Breaking Défense" xmlUrl="https://breakingdefense.com/feed/"/>
    <outline type="rss" text="Arms Control Wonk" xmlUrl="https://www.armscontrolwonk.com/feed/"/>
    <outline type="rss" text="" xmlUrl="https://feeds.example.net/missiles.xml"/>
    <outline type="rss" title="Seed" text="Seed" xmlUrl="https://seed.example/rss"/>
  </outline>
  <outline type="rss" text="Bad" xmlUrl="javascript:alert(1)"/>
  <outline type="rss" text="Arms Control Wonk" xmlUrl="https://www.armscontrolwonk.com/other/"/>
</body></opml>
"""


def test_import_adds_the_feeds_not_yet_configured_with_names_from_their_titles(config):
    opml = config.parent / "subs.opml"
    opml.write_text(OPML, encoding="utf-8")
    before = feed_names(config)
    done = nw("feeds", "import", str(opml), cwd=config.parent)
    assert done.returncode == 0, done.stderr
    added = feed_names(config)[len(before) :]
    # breakingdefense.com/feed/ is already configured; the javascript: link is refused
    assert added == ["arms-control-wonk", "feeds.example.net", "seed-feed", "arms-control-wonk-2"]
    assert "already configured as breaking-defense" in done.stdout
    assert "not an http(s) URL" in done.stdout
    assert "added 4 feed(s)" in done.stdout
    # importing again adds nothing and changes nothing
    text = config.read_bytes()
    again = nw("feeds", "import", str(opml), cwd=config.parent)
    assert again.returncode == 0 and "added 0 feed(s)" in again.stdout
    assert config.read_bytes() == text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not xml at all", "not valid XML"),
        (b"<rss version='2.0'><channel/></rss>", "not an OPML file"),
        (b"<opml version='2.0'><body><outline text='folder'/></body></opml>", "no feed in it"),
        (  # an entity bomb is refused, not expanded
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<opml><body><outline xmlUrl='https://a.example/&lol2;'/></body></opml>",
            "not valid XML",
        ),
    ],
)
def test_import_of_a_bad_file_is_a_usage_error_and_changes_nothing(config, content, message):
    opml = config.parent / "bad.opml"
    opml.write_bytes(content)
    before = config.read_bytes()
    done = nw("feeds", "import", str(opml), cwd=config.parent)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert config.read_bytes() == before


def test_export_then_import_into_an_empty_config_gives_the_same_feeds(config, tmp_path):
    out = tmp_path / "feeds.opml"
    done = nw("feeds", "export", "--opml", str(out), cwd=config.parent)
    assert done.returncode == 0, done.stderr
    empty = tmp_path / "empty" / "newswatch.toml"
    empty.parent.mkdir()
    empty.write_text("# nothing yet\n", encoding="utf-8")
    assert nw("feeds", "import", str(out), cwd=empty.parent).returncode == 0
    original = load_settings(config, check_secrets=False).feeds
    imported = load_settings(empty, check_secrets=False).feeds
    assert [(f.name, f.url) for f in imported] == [(f.name, f.url) for f in original]
    assert empty.read_text(encoding="utf-8").startswith("# nothing yet\n")


def test_export_to_standard_output(config):
    done = nw("feeds", "export", "--opml", "-", cwd=config.parent)
    assert done.returncode == 0
    assert done.stdout.startswith("<?xml") and done.stdout.count("<outline ") == len(feed_names(config))


# ---- the health table is still `newswatch feeds` -------------------------------------------------


def test_feeds_alone_still_shows_the_health_table(tmp_path):
    from tests.warehouse_factory import build_sample_warehouse

    db = tmp_path / "w.duckdb"
    build_sample_warehouse(db, days=3)
    done = nw("feeds", "--db", str(db), "--format", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("name,enabled,last_outcome")


def test_version():
    from importlib.metadata import version

    done = nw("--version", cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == f"newswatch {version('newswatch')}"


# ---- check-feed ----------------------------------------------------------------------------------

ARTICLE = (DEMO_SITE / "articles/meridian/2026/03/mda-sm3-pacific-intercept.html").read_bytes()


def rss(items: list[tuple[str, str | None]]) -> bytes:
    body = "".join(
        f"<item><title>{title}</title>"
        + (f"<link>{link}</link>" if link else "")
        + "<pubDate>Sat, 14 Mar 2026 11:05:00 GMT</pubDate></item>"
        for title, link in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


@pytest.fixture
def site():
    with LocalServer() as server:
        server.routes["/article.html"] = Reply(
            body=ARTICLE, headers={"Content-Type": "text/html; charset=utf-8"}
        )
        server.routes["/feed.xml"] = Reply(
            body=rss(
                [
                    ("SM-3 intercept over the Pacific", server.url("/article.html")),
                    ("Second \x1b]0;owned\x07story &#x9b;31m", server.url("/second.html")),
                    ("Third story", None),
                ]
            ),
            headers={"Content-Type": "application/rss+xml"},
        )
        server.routes["/empty.xml"] = Reply(body=rss([("No link here", None)]))
        yield server


def private_config(tmp_path: Path) -> Path:
    path = tmp_path / "check.toml"
    path.write_text("[fetch]\nallow_private_hosts = true\n", encoding="utf-8")
    return path


def test_check_feed_shows_entries_and_what_extraction_gives_for_the_first_item(site, tmp_path):
    cfg = private_config(tmp_path)
    done = nw("check-feed", site.url("/feed.xml"), "--config", str(cfg), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "HTTP 200 · 3 entries" in out
    assert "SM-3 intercept over the Pacific" in out and "Third story" in out and "(no link)" in out
    assert "2026-03-14 11:05" in out
    first = out.split("first item", 1)[1]
    assert "HTTP 200 · text/html" in first
    words = int(re.search(r"words\s+(\d+)", first).group(1))
    assert words > 100
    assert re.search(r"title\s+\S", first) and re.search(r"date\s+\S", first) and "text\n" in first
    assert "a run     would keep it: on topic" in first
    # web text reaches the terminal without control characters
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", out)
    # it wrote nothing: no warehouse, no file beside the config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["check.toml"]
    assert [r.path for r in site.requests] == ["/feed.xml", "/article.html"]


def test_check_feed_refuses_a_loopback_feed_unless_the_config_allows_it(site, tmp_path):
    done = nw("check-feed", site.url("/feed.xml"), cwd=tmp_path)  # no config here: the defaults
    assert done.returncode == 1
    assert "allow_private_hosts = true" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert site.requests == []


def test_check_feed_uses_newswatch_toml_of_the_working_directory(site, tmp_path):
    (tmp_path / "newswatch.toml").write_text("[fetch]\nallow_private_hosts = true\n", encoding="utf-8")
    done = nw("check-feed", site.url("/empty.xml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "No link here" in done.stdout and "no item has a link" in done.stdout


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [("/missing.xml", 1, "HTTP 404"), ("/article.html", 1, "no usable entry")],
)
def test_check_feed_failures_are_one_line(site, tmp_path, path, code, message):
    done = nw("check-feed", site.url(path), "--config", str(private_config(tmp_path)), cwd=tmp_path)
    assert done.returncode == code
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_check_feed_bad_url_is_a_usage_error(tmp_path):
    done = nw("check-feed", "not-a-url", cwd=tmp_path)
    assert done.returncode == 2 and "expected an http(s) URL" in done.stderr


def test_fast_start_does_not_import_the_extractors_or_prefect():
    code = "import sys, flows.cli.main; print(sorted(m for m in ('trafilatura', 'prefect', 'tomlkit', 'feedparser') if m in sys.modules))"
    done = subprocess.run(
        [str(NEWSWATCH.parent / "python"), "-c", code], capture_output=True, text=True, env={**os.environ}
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_feed_with_a_sub_table_keeps_it_and_the_comment_after_it():
    """Edits on the document itself: a [[feeds]] entry followed by its own [feeds.headers] table."""
    import tomlkit

    from flows.config_edit import add_feed, remove_feed

    text = (
        '[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n[feeds.headers]\nX-Key = "1"\n\n'
        '# ---- the watchlist\n[watchlist]\nkeywords = ["x"]\n'
    )
    doc = tomlkit.parse(text)
    add_feed(doc, "b", "https://b.example/rss")
    added = tomlkit.dumps(doc)
    assert added == (
        '[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n[feeds.headers]\nX-Key = "1"\n\n'
        '[[feeds]]\nname = "b"\nurl = "https://b.example/rss"\n\n'
        '# ---- the watchlist\n[watchlist]\nkeywords = ["x"]\n'
    )
    remove_feed(doc, "b")
    assert tomlkit.dumps(doc) == text
