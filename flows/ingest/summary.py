"""What a run prints: a short summary a person reads at a glance (no tracebacks, no Prefect noise).

On a terminal: a few lines of counts, the failed feeds and at most STORIES_SHOWN new stories
(`verbose`: all of them). Off a terminal (cron, a log file, a pipe): one line per run, with its
counts, status and duration, so a log holds one line a run. Titles, feed errors and other text
from the web have their control characters removed before they reach a terminal or a log.
"""

from __future__ import annotations

import sys

from alerts.text import one_line, shorten

STORIES_SHOWN = 30
FAILED_SHOWN = 30
FAILED_IN_LINE = 5  # feeds named in the one-line summary


def _web(text: object, limit: int = 200) -> str:
    return shorten(one_line(str(text or "")).strip(), limit)


def print_run(result, out=None, *, verbose: bool = False, duration: float | None = None) -> None:
    out = out or sys.stdout
    if not _isatty(out):
        out.write(run_line(result, duration) + "\n")
        out.flush()
        return
    c = result.counts
    w = out.write
    took = f" in {duration:.1f} s" if duration is not None else ""
    w(f"run {result.run_id}: {result.status.replace('_', ' ')}{took}  (warehouse {result.db_path})\n")
    w(
        f"  feeds    {c['feeds_due']} due: {c['feeds_polled'] - c['feeds_unchanged']} new content, "
        f"{c['feeds_unchanged']} unchanged (304), {c['feeds_failed']} failed\n"
    )
    failed = [p for p in result.polls if p["outcome"] == "failed"]
    if c.get("outage"):
        w(
            f"  OUTAGE   all {len(failed)} feeds failed without an answer: is the network down? "
            "(feeds are not marked broken for it)\n"
        )
        w(f"    first error: {_web(failed[0]['error'])}\n")
        failed = []
    for p in failed[:FAILED_SHOWN]:
        status = f"HTTP {p['status']}" if p["status"] else "no answer"
        w(f"    failed  {_web(p['feed'], 64)}: {status}: {_web(p['error'])}\n")
    if len(failed) > FAILED_SHOWN:
        w(f"    ... and {len(failed) - FAILED_SHOWN} more failed feeds (newswatch feeds)\n")
    for p in result.polls:  # a feed answering with a permanent redirect: the config should follow
        if p.get("moved_to"):
            w(
                f"    moved   {_web(p['feed'], 64)}: moved to {_web(p['moved_to'], 500)} (update its url in the config)\n"
            )
    w(
        f"  entries  {c['entries_new']} new: {c['articles_stored']} stored, {c['copies']} copies, "
        f"{c['off_topic']} off-topic, {c['no_link']} without link, {c['fetch_failed']} fetch failed, "
        f"{c['extract_empty']} empty\n"
    )
    if c.get("gaps") or c.get("revisions"):
        w(
            f"  coverage {c.get('gaps', 0)} feed(s) overflowed, {c.get('backfilled', 0)} entries backfilled, "
            f"{c.get('revisions', 0)} stories revised\n"
        )
    w(f"  alerts   {c['alerts_created']} queued, {c['alerts_sent']} sent, {c['alerts_pending']} pending\n")
    total = result.new_total
    shown = result.new_articles[:STORIES_SHOWN]
    if verbose and total > len(shown):
        shown = _all_new_stories(result) or result.new_articles
    for a in shown:
        w(f"    + [{a['article_id']}] {_web(a['feed'], 64)}: {_web(a['title'])}\n")
    if total > len(shown):
        w(f"    ... and {total - len(shown)} more (newswatch run --verbose lists all)\n")
    out.flush()


def _all_new_stories(result) -> list[dict]:
    """Every story the run stored, from the published warehouse (the run's result holds the first
    STORIES_SHOWN: its size must not grow with the run); [] when it cannot be read."""
    from warehouse.readonly import QueryRefused, connect
    from warehouse.store import run_articles

    try:
        con = connect(result.db_path)
    except QueryRefused:
        return []
    try:
        return run_articles(con, result.run_id, None)[0]
    finally:
        con.close()


def run_line(result, duration: float | None = None) -> str:
    """The whole run on one line, for logs: status, duration, counts and the feeds that failed."""
    c = result.counts
    status = result.status.replace("_", " ")
    if c.get("outage"):
        status += ", OUTAGE (no feed answered: is the network down?)"
    took = f" in {duration:.1f}s" if duration is not None else ""
    failed = [p for p in result.polls if p["outcome"] == "failed"]
    named = ", ".join(
        f"{_web(p['feed'], 64)}: {'HTTP ' + str(p['status']) if p['status'] else 'no answer'}"
        for p in failed[:FAILED_IN_LINE]
    )
    if len(failed) > FAILED_IN_LINE:
        named += f" and {len(failed) - FAILED_IN_LINE} more"
    moved = [p for p in result.polls if p.get("moved_to")]
    moves = ", ".join(f"{_web(p['feed'], 64)} to {_web(p['moved_to'], 300)}" for p in moved[:FAILED_IN_LINE])
    return (
        f"newswatch run {result.run_id}: {status}{took}; "
        f"feeds {c['feeds_due']} due, {c['feeds_polled']} polled, {c['feeds_unchanged']} unchanged, "
        f"{c['feeds_failed']} failed{f' ({named})' if named else ''}{f', moved: {moves}' if moves else ''}; "
        f"entries {c['entries_new']} new, {c['articles_stored']} stored, {c['copies']} copies, "
        f"{c['off_topic']} off-topic, {c['fetch_failed']} fetch failed, {c['extract_empty']} empty, "
        f"{c['no_link']} without link; alerts {c['alerts_sent']} sent, {c['alerts_pending']} pending; "
        f"warehouse {result.db_path}"
    )


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
