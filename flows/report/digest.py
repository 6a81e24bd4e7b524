"""The report as a digest email: a plain-text summary, with the HTML page as its rich part."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flows.report.html import _when, period_note, plain
from warehouse.report_queries import ReportData

# ---- the digest email ---------------------------------------------------------------------------


def render_text(data: ReportData, *, start: datetime, end: datetime, since: str, limit: int = 15) -> str:
    """The plain-text part: counts, the newest stories, the most republished, feeds needing attention."""
    c = data.counts
    lines = [
        f"newswatch digest: {_when(start)} to {_when(end)} UTC ({period_note(since)})",
        f"{c['stories']} new stories, {c['copies']} copies seen, {c['alerts']} alerts; "
        f"{c['feeds']} feeds ({c['feeds_failing']} failing, {c['feeds_disabled']} disabled)",
        "",
    ]
    if data.new_stories:
        lines.append("New stories")
        for r in data.new_stories[:limit]:
            tags = ", ".join([*(r["actors"] or []), *(r["keywords"] or [])])
            lines.append(f"- {_when(r['first_seen'], '%m-%d')}  [{plain(r['feed'])}] {plain(r['title'])}")
            lines.append(f"  {plain(r['url'])}" + (f"  ({plain(tags)})" if tags else ""))
        if len(data.new_stories) > limit:
            lines.append(f"  ... and {c['stories'] - limit} more in the HTML report")
        lines.append("")
    if data.republished:
        lines.append("Most republished")
        for r in data.republished[:5]:
            by = ", ".join(plain(f) for f in r["republished_by"] or [])
            lines.append(
                f"- {plain(r['title'])} [{plain(r['feed'])}]: {r['copies']} copies, also published by {by}"
            )
        lines.append("")
    troubled = [r for r in data.feed_health if not r["enabled"] or r["error_streak"]]
    if troubled:
        lines.append("Feeds needing attention")
        for r in troubled:
            state = "disabled" if not r["enabled"] else f"{r['error_streak']} consecutive failures"
            lines.append(f"- {plain(r['name'])}: {state}: {plain(r['disabled_reason'] or r['last_error'])}")
        lines.append("")
    lines.append("The full report, with charts and tables, is the HTML part of this message.")
    return "\n".join(lines) + "\n"


def build_digest(
    data: ReportData,
    page: str,
    *,
    start: datetime,
    end: datetime,
    since: str,
    sender: str,
    to: tuple[str, ...] | list[str],
) -> EmailMessage:
    c = data.counts
    msg = EmailMessage()
    # The subject holds only numbers and our own words: no warehouse text reaches a header.
    msg["Subject"] = (
        f"newswatch digest {_when(start, '%Y-%m-%d')} to {_when(end, '%Y-%m-%d')}: "
        f"{c['stories']} new stories, {c['copies']} copies, {c['alerts']} alerts"
    )
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    msg.set_content(render_text(data, start=start, end=end, since=since))
    msg.add_alternative(page, subtype="html")
    return msg
