"""A feed's own request settings (the user_agent, headers and cookies of its [[feeds]] entry): sent
with its polls, and with the fetches of its pages on the same site, never with a page on another
site it links to (an aggregator's consent cookie is not for the sites it lists)."""

from __future__ import annotations

from collections.abc import Iterable

from tld import get_fld  # the public suffix list: "bbc.co.uk" is a site, "co.uk" is not

from extractors.http import RequestOverrides
from extractors.records import FeedEntry
from extractors.urls import host_of
from flows.settings import Settings
from warehouse.store import FeedState


class FeedRequests:
    """The configured feeds' own request settings, by feed name (feeds without any are left out)."""

    def __init__(self, s: Settings):
        self._by_feed: dict[str, tuple[str, RequestOverrides]] = {
            f.name: (f.url, own) for f in s.feeds if (own := f.request_overrides()) is not None
        }

    def poll_jobs(self, due: Iterable[FeedState]) -> list[tuple]:
        """What poll_shard takes: (name, url, etag, last_modified, RequestOverrides or None)."""
        return [
            (st.name, st.url, st.etag, st.last_modified, self._by_feed.get(st.name, (None, None))[1])
            for st in due
        ]

    def for_pages(self, entries: Iterable[FeedEntry]) -> dict[str, RequestOverrides] | None:
        """The request settings for those of `entries`' pages that are on their feed's site."""
        if not self._by_feed:
            return None
        found = {}
        for entry in entries:
            feed = self._by_feed.get(entry.feed)
            if feed and entry.url and same_site(entry.url, feed[0]):
                found[entry.url] = feed[1]
        return found or None


def same_site(url: str, other: str) -> bool:
    """Whether two URLs are on the same site: the same host, or hosts under the same registrable
    domain ("www.example.com" and "feeds.example.com"; not "a.github.io" and "b.github.io")."""
    host, other_host = host_of(url), host_of(other)
    if not host or not other_host:
        return False
    if host == other_host:
        return True
    site = get_fld(host, fix_protocol=True, fail_silently=True)
    return site is not None and site == get_fld(other_host, fix_protocol=True, fail_silently=True)
