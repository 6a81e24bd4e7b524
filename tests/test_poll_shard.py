"""The poll task: feeds fetched in threads, parsed on the extraction pool or in-process, alike."""

from __future__ import annotations

import pytest

from extractors.http import FetchSettings
from flows.ingest import tasks as ingest
from tests.helpers_http import LocalServer, Reply
from tests.test_feeds import ATOM, PARTLY_MALFORMED, RSS_20, RSS_1251

SETTINGS = FetchSettings(allow_private_hosts=True, retries=0, timeout=5.0)
ROUTES = {
    "/rss.xml": Reply(body=RSS_20, headers={"Content-Type": "application/rss+xml", "ETag": '"r1"'}),
    "/atom.xml": Reply(body=ATOM, headers={"Content-Type": "application/atom+xml"}),
    "/ru.xml": Reply(body=RSS_1251, headers={"Content-Type": "application/rss+xml; charset=windows-1251"}),
    "/bad.xml": Reply(body=PARTLY_MALFORMED),
    "/gone.xml": Reply(status=404),
    "/same.xml": Reply(status=304),
}


def _feeds(server: LocalServer) -> list[tuple[str, str, str | None, str | None]]:
    return [(path.strip("/"), server.url(path), '"old"', None) for path in ROUTES]


@pytest.fixture(autouse=True)
def _fresh_pool():
    ingest.shutdown_workers()  # the pool keeps the deadline it was made with
    yield
    ingest.shutdown_workers()


def test_feeds_parsed_on_the_pool_equal_feeds_parsed_in_process():
    with LocalServer(ROUTES) as server:
        pooled = ingest.poll_shard.fn(_feeds(server), SETTINGS, workers=2)
        local = ingest.poll_shard.fn(_feeds(server), SETTINGS, workers=0)

    def comparable(polls):
        return [(p.feed, p.outcome, p.status, p.entries, p.etag, p.error) for p in polls]

    assert comparable(pooled) == comparable(local)
    by_feed = {p.feed: p for p in pooled}
    assert [p.feed for p in pooled] == [path.strip("/") for path in ROUTES]  # order kept
    assert (
        by_feed["rss.xml"].outcome == "ok"
        and by_feed["rss.xml"].entries
        and by_feed["rss.xml"].etag == '"r1"'
    )
    assert by_feed["ru.xml"].entries and by_feed["atom.xml"].entries
    assert by_feed["bad.xml"].outcome == "ok" and by_feed["bad.xml"].error  # parsed, with a warning
    assert by_feed["gone.xml"].outcome == "failed" and by_feed["gone.xml"].status == 404
    assert by_feed["same.xml"].outcome == "not_modified" and by_feed["same.xml"].etag == '"old"'


def test_a_feed_the_pool_cannot_parse_in_time_is_a_failed_poll_keeping_its_validators():
    with LocalServer(ROUTES) as server:
        polls = ingest.poll_shard.fn(_feeds(server)[:1], SETTINGS, workers=1, deadline=1e-6)
    (poll,) = polls
    assert poll.outcome == "failed" and poll.status == 200
    assert poll.error == "feed not parsed: timeout after 1e-06s"
    assert poll.etag == '"old"'  # what was sent, so the next poll asks again
