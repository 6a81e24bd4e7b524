"""Page extraction (trafilatura behind extract_page) and the worker pool (extract_many)."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime

import pytest
from lxml.html import fromstring

from extractors.consensus import most_agreed, paragraph_chars
from extractors.extract import extract_page, extract_page_or_raise, extract_with_fingerprint
from extractors.parallel import ExtractorPool, extract_many
from extractors.records import Extracted

PARAGRAPHS = [
    "The Missile Defense Agency said on Tuesday that a test of the ground-based interceptor "
    "over the Pacific Ocean had destroyed its target, the first success after two failures.",
    "Officials told reporters that the interceptor was launched from Vandenberg Air Force Base "
    "in California and hit a mock warhead fired from the Kwajalein Atoll in the Marshall Islands.",
    "The agency plans two more tests next year before it decides whether to buy additional "
    "interceptors for the sites in Alaska and California, a spokesman said.",
]

ARTICLE_PAGE = f"""<!DOCTYPE html>
<html lang="en-US">
<head>
  <meta charset="utf-8">
  <title>Interceptor hits target in Pacific test | Defense Daily</title>
  <meta property="og:title" content="Interceptor hits target in Pacific test">
  <meta name="author" content="Jane Reporter">
  <meta property="article:published_time" content="2024-05-14T09:30:00+00:00">
</head>
<body>
  <header><nav><ul>
    <li><a href="/">Home</a></li><li><a href="/world">World</a></li>
    <li><a href="/subscribe">Subscribe to our newsletter today</a></li>
  </ul></nav></header>
  <main><article>
    <h1>Interceptor hits target in Pacific test</h1>
    <p class="byline">By Jane Reporter</p>
    {"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}
    <div class="share">Share Tweet Email Print</div>
  </article></main>
  <aside><h3>Most read</h3><ul><li><a href="/a">Celebrity chef opens a new restaurant downtown</a></li></ul></aside>
  <footer><p>Copyright 2024 Defense Daily. All rights reserved.</p>
    <p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a></p></footer>
</body></html>"""

EMPTY_ARTICLE_PAGE = (
    "<html><head><title>Nothing</title></head><body><nav><a href='/'>Home</a></nav></body></html>"
)


def test_article_page_gives_text_without_chrome_and_metadata():
    got = extract_page(ARTICLE_PAGE, "https://defense.example/2024/05/interceptor-test")
    assert got is not None
    assert got.title == "Interceptor hits target in Pacific test"
    assert got.author == "Jane Reporter"
    assert got.published_at == datetime(2024, 5, 14, tzinfo=UTC)
    assert got.lang == "en"
    assert got.text.split("\n\n") == PARAGRAPHS  # paragraphs only: no title, byline, share bar
    for chrome in ("Home", "Subscribe", "Celebrity chef", "Copyright", "Privacy", "Share Tweet"):
        assert chrome not in got.text


def test_fields_the_feed_gives_are_not_read_and_the_text_is_the_same():
    url = "https://defense.example/2024/05/interceptor-test"
    full = extract_page(ARTICLE_PAGE, url)
    got = extract_page(ARTICLE_PAGE, url, known={"title", "published_at"})
    assert got is not None and got.text == full.text
    assert (got.title, got.published_at) == (None, None)
    assert (got.author, got.lang) == ("Jane Reporter", "en")


@pytest.mark.parametrize("known", [{"headline"}, "title"])
def test_an_unknown_field_to_skip_is_an_error_naming_the_fields(known):
    with pytest.raises(
        ValueError, match="known: expected field names among author, lang, published_at, title"
    ):
        extract_page(ARTICLE_PAGE, None, known=known)


def test_a_short_text_found_only_by_a_second_pass_keeps_the_page_metadata():
    """Metadata is read apart from the text: a page whose story is two short lines in a bare <div>
    (below what trafilatura's precise pass takes) keeps its headline, date and author."""
    story = "<div>Interceptor test succeeds over the Pacific, officials say.<br>More tests follow next year in Alaska.</div>"
    page = ARTICLE_PAGE.replace("".join(f"<p>{p}</p>" for p in PARAGRAPHS), story)
    got = extract_page(page, None)
    assert got is not None and "Interceptor test succeeds over the Pacific" in got.text
    assert (got.title, got.author, got.published_at) == (
        "Interceptor hits target in Pacific test",
        "Jane Reporter",
        datetime(2024, 5, 14, tzinfo=UTC),
    )


def test_the_text_most_agreed_with_is_kept_and_empty_texts_do_not_outvote_a_story():
    story, cut = "\n".join(PARAGRAPHS), PARAGRAPHS[0]
    with_chrome = story + "\nShare Tweet Email Print this article with your friends today"
    assert most_agreed({"trafilatura": cut, "justext": story, "readability": with_chrome}) == "justext"
    # two extractors that found nothing do not outvote the one that found the story
    assert most_agreed({"trafilatura": story, "justext": "", "readability": " \n"}) == "trafilatura"
    assert most_agreed({"trafilatura": "", "justext": story, "readability": ""}) == "justext"
    # no two agree: the first; nothing found anywhere: the first
    assert (
        most_agreed(dict(zip(("trafilatura", "justext", "readability"), PARAGRAPHS, strict=True)))
        == "trafilatura"
    )
    assert most_agreed({"trafilatura": "", "justext": ""}) == "trafilatura"


def test_only_long_paragraphs_count_as_story_like_text():
    long = "  The interceptor was launched from Vandenberg Air Force Base in California and hit\n a mock warhead over the Pacific.  "
    page = f"<html><body><p>Photo: Reuters</p><p>{long}</p><div>{'Home World ' * 20}</div></body></html>"
    assert paragraph_chars(fromstring(page)) == len(" ".join(long.split())) >= 100


def test_the_worker_entry_point_takes_positional_arguments_and_adds_the_fingerprint():
    body = ARTICLE_PAGE.encode("utf-8")
    got = extract_with_fingerprint(body, "https://defense.example/a", "text/html; charset=utf-8")
    assert got is not None and got.fingerprint is not None and got.fingerprint.shingle_count > 0
    assert got.text == extract_page(ARTICLE_PAGE, "https://defense.example/a").text


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n ",
        "<html></html>",
        EMPTY_ARTICLE_PAGE,
        "just some words, not html",
        "<<<>>><!-- <p> </div></div></div>",
        "\x00\x01\x02\x03 binary \xff\xfe",
        "<html><body>" + "<div>" * 5000 + "deep" + "</div>" * 5000 + "</body></html>",
        "<?xml version='1.0'?><rss><channel><item>x</item></channel></rss>",
    ],
    ids=["empty", "blank", "bare-html", "no-article", "plain-text", "broken-tags", "binary", "deep", "xml"],
)
def test_junk_gives_none_and_never_raises(html):
    assert extract_page(html, None) is None


# Test-only page functions for the pool: module-level so the workers can import them by name.
def slow_or_crashing_extract(html: str, url: str | None) -> Extracted | None:
    """A page "SLOW" never finishes in time, "PAUSE" takes 0.3 s, "CRASH" kills its worker, "FAIL"
    raises."""
    if html == "PAUSE":
        time.sleep(0.3)
        return None
    if html == "SLOW":
        time.sleep(60)
    if html == "CRASH":
        os._exit(3)
    if html == "FAIL":
        raise ValueError("broken page")
    return extract_page_or_raise(html, url)


GOOD = ("good", ARTICLE_PAGE, "https://defense.example/a")
EMPTY = ("empty", EMPTY_ARTICLE_PAGE, "https://defense.example/b")


@pytest.mark.parametrize("workers", [0, 2])
def test_extract_many_reports_each_page(workers):
    results = extract_many([GOOD, EMPTY, ("blank", "", None)], workers=workers)
    assert set(results) == {"good", "empty", "blank"}
    assert isinstance(results["good"], Extracted)
    assert results["good"].title == "Interceptor hits target in Pacific test"
    assert results["empty"] == "empty"
    assert results["blank"] == "empty"


def test_pool_kills_a_page_past_its_deadline_and_goes_on():
    pages = [("slow", "SLOW", None), GOOD, ("crash", "CRASH", None), ("fail", "FAIL", None), EMPTY]
    with ExtractorPool(2, deadline_s=1.5, extract_fn=slow_or_crashing_extract) as pool:
        results = pool.extract(pages)
        assert results["slow"] == "timeout after 1.5s"
        assert results["crash"] == "worker died (exit code 3)"
        assert results["fail"] == "ValueError: broken page"
        assert isinstance(results["good"], Extracted)
        assert results["empty"] == "empty"
        # the replaced workers serve the next batch of the same pool
        again = pool.extract([GOOD, ("good2", ARTICLE_PAGE, None)])
        assert all(isinstance(v, Extracted) for v in again.values())
        assert set(again) == {"good", "good2"}


def test_pool_rejects_zero_workers():
    with pytest.raises(ValueError):
        ExtractorPool(0)


def test_pool_is_fed_from_several_threads_at_once():
    """Concurrent batches (the flow's tasks) share one pool; each gets exactly its own results."""
    from concurrent.futures import ThreadPoolExecutor

    def batch(n: int) -> dict:
        return pool.extract([(f"{n}-{i}", ARTICLE_PAGE, None) for i in range(4)] + [(f"{n}-e", "", None)])

    with ExtractorPool(2) as pool, ThreadPoolExecutor(3) as ex:
        outs = list(ex.map(batch, range(3)))
    for n, out in enumerate(outs):
        assert set(out) == {f"{n}-{i}" for i in range(4)} | {f"{n}-e"}
        assert all(isinstance(out[f"{n}-{i}"], Extracted) for i in range(4))
        assert out[f"{n}-e"] == "empty"


def test_pages_queued_while_every_worker_is_full_are_all_extracted():
    """A page submitted while each worker already holds QUEUE_DEPTH pages does not wake the
    dispatcher; it must still be handed out when a worker answers (no page left waiting)."""
    from extractors.parallel import QUEUE_DEPTH

    with ExtractorPool(1, extract_fn=slow_or_crashing_extract) as pool:
        first = pool.submit(("pause", "PAUSE", None))
        later = [pool.submit((f"p{i}", ARTICLE_PAGE, None)) for i in range(3 * QUEUE_DEPTH)]
        assert not first.done()  # all of `later` was submitted while the worker was busy
        assert first.result(timeout=20) == "empty"
        results = [future.result(timeout=20) for future in later]
    assert all(isinstance(r, Extracted) for r in results)


def test_queueing_a_page_never_waits_for_a_worker_that_does_not_read():
    """The dispatcher sends pages without holding the pool's lock: while a send waits on a worker
    that reads nothing (stopped here; in a run, waiting for its GIL), fetching threads still queue
    pages at once, and every page is extracted once the worker reads again."""
    big = ARTICLE_PAGE.replace("</body>", "<!--" + "x" * 2_000_000 + "--></body>")  # > socket buffer
    with ExtractorPool(1, deadline_s=60) as pool:
        assert isinstance(pool.extract([GOOD])["good"], Extracted)  # the worker is up
        worker = pool._workers[0].process
        os.kill(worker.pid, signal.SIGSTOP)
        later = []
        try:
            stuck = pool.submit(("big", big, None))  # its send cannot complete while stopped
            time.sleep(0.5)
            queueing = threading.Thread(
                target=lambda: later.append(pool.submit(("later", ARTICLE_PAGE, None)))
            )
            queueing.start()
            queueing.join(1.0)
            queued_at_once = not queueing.is_alive()
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        queueing.join(30)
        assert queued_at_once
        assert isinstance(stuck.result(timeout=30), Extracted)
        assert isinstance(later[0].result(timeout=30), Extracted)


def test_extract_takes_the_body_as_fetched():
    """Bytes are decoded in the worker by the Content-Type charset (here windows-1251)."""
    page = ARTICLE_PAGE.replace("Jane Reporter", "Иван Петров").replace('<meta charset="utf-8">', "")
    body = page.encode("cp1251")
    with ExtractorPool(1) as pool:
        got = pool.extract([("ru", body, "https://defense.example/ru", "text/html; charset=windows-1251")])[
            "ru"
        ]
    assert isinstance(got, Extracted) and got.author == "Иван Петров"


def test_closing_the_pool_fails_pages_still_queued():
    pool = ExtractorPool(1, deadline_s=30, extract_fn=slow_or_crashing_extract)
    slow, queued = pool.submit(("slow", "SLOW", None)), pool.submit(("next", ARTICLE_PAGE, None))
    time.sleep(0.5)
    pool.close()
    for future in (slow, queued):
        with pytest.raises(RuntimeError, match="closed"):
            future.result(timeout=10)


def test_submitting_to_a_closed_pool_fails_at_once():
    pool = ExtractorPool(1)
    assert isinstance(pool.extract([GOOD])["good"], Extracted)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(GOOD)
    never_started = ExtractorPool(1)
    never_started.close()
    with pytest.raises(RuntimeError, match="closed"):
        never_started.submit(GOOD)


def test_a_worker_that_died_while_idle_is_replaced_and_its_page_still_extracted():
    with ExtractorPool(1) as pool:
        assert isinstance(pool.extract([GOOD])["good"], Extracted)  # the worker is up and idle
        pool._workers[0].process.kill()  # killed between batches (out of memory, an operator)
        pool._workers[0].process.join(5)
        again = pool.extract([GOOD, EMPTY])
    assert isinstance(again["good"], Extracted) and again["empty"] == "empty"
