"""What a run prints: a short summary a person reads at a glance (no tracebacks, no Prefect noise)."""

from __future__ import annotations

import sys


def print_run(result, out=None) -> None:
    out = out or sys.stdout
    c = result.counts
    w = out.write
    w(f"run {result.run_id}: {result.status.replace('_', ' ')}  (warehouse {result.db_path})\n")
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
        w(f"    first error: {failed[0]['error']}\n")
        failed = []
    for p in failed:
        status = f"HTTP {p['status']}" if p["status"] else "no answer"
        w(f"    failed  {p['feed']}: {status}: {p['error']}\n")
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
    for a in result.new_articles[:20]:
        w(f"    + [{a['article_id']}] {a['feed']}: {a['title']}\n")
    if len(result.new_articles) > 20:
        w(f"    ... and {len(result.new_articles) - 20} more\n")
