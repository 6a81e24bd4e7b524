"""A feed's own request settings go with its polls and its pages on the same site only."""

from __future__ import annotations

import pytest

from extractors.http import RequestOverrides
from extractors.records import FeedEntry
from flows.ingest.feed_requests import FeedRequests, same_site
from flows.settings import Settings


@pytest.mark.parametrize(
    ("url", "other", "same"),
    [
        ("https://www.example.com/a", "https://feeds.example.com/rss", True),
        ("https://example.com/a", "https://example.com:8443/rss", True),
        ("https://news.bbc.co.uk/a", "https://feeds.bbc.co.uk/rss", True),
        ("https://evil.co.uk/a", "https://bbc.co.uk/rss", False),  # co.uk is a public suffix
        ("https://a.github.io/x", "https://b.github.io/rss", False),  # so is github.io
        ("https://example.org/a", "https://example.com/rss", False),
        ("http://127.0.0.1:8001/a", "http://127.0.0.1:8000/rss", True),  # an address: the same host
        ("http://10.0.0.1/a", "http://10.0.0.2/rss", False),
    ],
)
def test_same_site(url, other, same):
    assert same_site(url, other) is same


def entry(feed: str, url: str) -> FeedEntry:
    return FeedEntry(feed=feed, url=url, guid=None, title="t", content="", published_at=None)


def test_overrides_go_to_the_feeds_polls_and_its_own_pages():
    settings = Settings.model_validate(
        {
            "feeds": [
                {"name": "wire", "url": "https://feeds.wire-news.com/rss", "cookies": {"consent": "yes"}},
                {"name": "plain", "url": "https://plain.example/rss"},
            ]
        }
    )
    own = RequestOverrides(cookies=(("consent", "yes"),))
    requests = FeedRequests(settings)
    pages = requests.for_pages(
        [
            entry("wire", "https://www.wire-news.com/story"),
            entry("wire", "https://elsewhere.example/linked"),  # an aggregated link: not its site
            entry("plain", "https://plain.example/story"),
        ]
    )
    assert pages == {"https://www.wire-news.com/story": own}
    assert (
        FeedRequests(Settings.model_validate({"feeds": [settings.feeds[1].model_dump()]})).for_pages(
            [entry("plain", "https://plain.example/story")]
        )
        is None
    )
