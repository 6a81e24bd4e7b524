"""What a run prints: a short summary a person reads at a glance (no tracebacks, no Prefect noise).

Feed errors and titles come from the web: every line is made terminal-safe (no escape sequence,
bell or bidi override reaches the operator's terminal)."""

from __future__ import annotations

import sys

from extractors.records import terminal_safe


def print_run(result, out=None) -> None:
    out = out or sys.stdout
    c = result.counts

    def w(line: str) -> None:
        out.write(terminal_safe(line))

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
        w(f"    first error: {_one_line(failed[0]['error'])}\n")
        failed = []
    for p in failed:
        status = f"HTTP {p['status']}" if p["status"] else "no answer"
        w(f"    failed  {p['feed']}: {status}: {_one_line(p['error'])}\n")
    for p in result.polls:
        if p.get("moved_to"):
            w(f"    moved   {p['feed']}: moved to {p['moved_to']} (update its url in the config)\n")
    w(
        f"  entries  {c['entries_new']} new: {c['articles_stored']} stored, {c['copies']} copies, "
        f"{c['off_topic']} off-topic, {c['no_link']} without link, {c['fetch_failed']} fetch failed, "
        f"{c['extract_empty']} empty\n"
    )
    w(f"  alerts   {c['alerts_created']} queued, {c['alerts_sent']} sent, {c['alerts_pending']} pending\n")
    for a in result.new_articles[:20]:
        w(f"    + [{a['article_id']}] {a['feed']}: {_one_line(a['title'])}\n")
    if len(result.new_articles) > 20:
        w(f"    ... and {len(result.new_articles) - 20} more\n")


def _one_line(text: str | None) -> str:
    """Web text on one line (a newline in a title or an error would break the summary's layout)."""
    return " ".join((text or "").split())
