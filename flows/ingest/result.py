"""What a run returns, and its summary published to Prefect's UI as artifacts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from extractors.records import FeedPoll


@dataclass
class RunResult:
    run_id: int
    status: str  # completed | no_feed_polled | interrupted | timed_out
    counts: dict
    polls: list[dict]  # per feed polled: name, outcome, status, error, entries
    new_articles: list[dict]  # the first STORIES_SHOWN stories stored (summary.py): bounded
    new_total: int  # stories stored: the rest are read from the warehouse when asked for
    db_path: str
    timings: dict  # seconds: wall time per phase, and summed task time for fetch / extract
    note: str | None = None  # why a run did not complete (interrupted, timed out, nothing polled)


def poll_summary(p: FeedPoll) -> dict:
    return {
        "feed": p.feed,
        "outcome": p.outcome,
        "status": p.status,
        "error": p.error,
        "entries": len(p.entries),
        "moved_to": p.moved_to,
    }


class Stopwatch:
    """Wall seconds per stage of a run: `lap(name)` adds the time since the previous lap to `name`."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._last
        self._last = now

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.timings.items()}


def _more_sql(result: RunResult) -> str:
    return f'"SELECT title, feed, url FROM articles WHERE run_id = {result.run_id} ORDER BY article_id"'


def publish_artifacts(result: RunResult) -> None:
    """A markdown summary and a table of the first new articles (with the query that lists them
    all), shown on the flow run in Prefect's UI. Both stay small whatever the size of the run:
    Prefect's server refuses events over 1.5 MB, and an artifact goes out as one."""
    c = result.counts
    failed = [p for p in result.polls if p["outcome"] == "failed"]
    md = "\n".join(
        [
            f"# newswatch run {result.run_id}: {result.status.replace('_', ' ')}",
            "",
            "| | |",
            "|---|---|",
            f"| feeds polled | {c['feeds_polled']} of {c['feeds_due']} due |",
            f"| feeds unchanged (304) | {c['feeds_unchanged']} |",
            f"| feeds failed | {c['feeds_failed']} |",
            f"| new articles | {c['articles_stored']} |",
            f"| copies | {c['copies']} |",
            f"| off-topic | {c['off_topic']} |",
            f"| without link / fetch failed / empty | {c['no_link']} / {c['fetch_failed']} / {c['extract_empty']} |",
            f"| alerts sent / pending | {c['alerts_sent']} / {c['alerts_pending']} |",
            "",
            *(f"- failed: **{p['feed']}** ({p['status'] or 'no answer'}): {p['error']}" for p in failed),
        ]
    )
    try:
        create_markdown_artifact(markdown=md, key="ingest-summary", description="newswatch run summary")
        table = [{"title": a["title"], "feed": a["feed"], "link": a["url"]} for a in result.new_articles]
        if (more := result.new_total - len(result.new_articles)) > 0:
            table.append(
                {"title": f"... and {more} more", "feed": "", "link": f"newswatch sql {_more_sql(result)}"}
            )
        create_table_artifact(
            table=table or [{"title": "(no new articles)", "feed": "", "link": ""}],
            key="new-articles",
            description="articles stored by this run",
        )
    except Exception as e:  # an artifact is a convenience: never fail the run for it
        get_run_logger().warning("could not publish artifacts: %s", e)
