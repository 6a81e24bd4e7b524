"""The topic filter the config asks for: its terms, its query, or both (then both must match)."""

from __future__ import annotations

from alerts.matching import QueryFilter
from extractors.topic import DEFAULT_TERMS, TopicFilter
from flows.settings import Settings


class Topic:
    """`[topic] terms` (with `min_hits`), `[topic] query`, or both. With a query alone the default
    terms do not apply: the query says what is on topic."""

    def __init__(self, terms: TopicFilter | None, query: QueryFilter | None):
        self.terms, self.query = terms, query

    def is_on_topic(self, title: str, text: str, feed: str | None = None, lang: str | None = None) -> bool:
        if self.terms is not None and not self.terms.is_on_topic(title, text):
            return False
        return self.query is None or self.query.is_on_topic(title, text, feed, lang)

    @property
    def rejection(self) -> str:
        """Why an article that is not on topic was left out (the ledger's reason)."""
        parts = []
        if self.terms is not None:
            parts.append(f"fewer than {self.terms.min_hits} topic term(s) in title and text")
        if self.query is not None:
            parts.append("the topic query does not match")
        return " or ".join(parts)


def build_topic(s: Settings) -> Topic:
    query = QueryFilter(s.topic.query, s.alert_watchlist()) if s.topic.query is not None else None
    terms = None
    if s.topic.terms is not None or query is None:
        terms = TopicFilter(s.topic.terms or DEFAULT_TERMS, s.topic.min_hits)
    return Topic(terms, query)
