"""`newswatch why URL`: "why don't I see this story?", answered from the ledger (read-only, no Prefect).

Seen or not, when, in which feed, with what outcome and reason; the article it became (its
mentions, alerts, revisions) or the article it copies; for a URL never seen, the feeds of its site
and whether they overflowed (a gap) in the last days, and whether backfill filled the gap.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from flows.errors import EXIT_FAILED, EXIT_OK, UsageError


def cmd_why(args) -> int:
    from extractors.urls import canonical_url
    from flows.cli.commands import _db_for_reading
    from warehouse.lookups import explain_url
    from warehouse.readonly import QueryRefused, connect

    url = canonical_url(args.url)
    if url is None:
        raise UsageError(f"not an http(s) URL: {args.url!r}")
    try:
        con = connect(_db_for_reading(args))
    except QueryRefused as e:
        print(f"newswatch why: {e}", file=sys.stderr)
        return EXIT_FAILED
    try:
        answer = explain_url(con, url, days=args.days)
    finally:
        con.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(answer, default=_json_value, ensure_ascii=False, indent=1) + "\n")
    else:
        sys.stdout.write("\n".join(explain_lines(answer)) + "\n")
    return EXIT_OK


def _json_value(v):
    return v.isoformat() if isinstance(v, datetime) else str(v)


def _when(v: datetime | None) -> str:
    return v.strftime("%Y-%m-%d %H:%M UTC") if v else "unknown"


def _one_line(text: str | None, width: int = 90) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"


def explain_lines(answer: dict) -> list[str]:
    """The answer as lines a person reads."""
    lines = [answer["url"]]
    articles = answer["articles"]
    for e in answer["entries"]:
        seen = f"seen in feed {e['feed']} on {_when(e['first_seen'])}"
        if e["published_at"]:
            seen += f" (dated {_when(e['published_at'])})"
        if e["last_seen"] and e["last_seen"] != e["first_seen"]:
            seen += f", last on {_when(e['last_seen'])} ({e['attempts']} attempts)"
        lines.append(f"  {seen}")
        lines.append(f"    outcome   {e['outcome']}: {e['reason'] or ''}".rstrip())
        if e["retry"]:
            lines.append("    retry     a transient failure: it is tried again on the next run")
        article = articles.get(e["article_id"])
        if e["outcome"] == "copy" and article:
            lines.append(f"    copy of   article {article['article_id']} {_article(article)}")
        elif article:
            lines += _article_lines(article)
    if not answer["entries"]:
        for article in articles.values():  # stored without a ledger row (the seed corpus)
            lines.append("  not in any feed's ledger, but stored:")
            lines += _article_lines(article)
        lines += _never_seen(answer) if not articles else []
    return lines


def _article(a: dict) -> str:
    return f'"{_one_line(a["title"], 70)}" in feed {a["feed"]}, {a["url"]}'


def _article_lines(a: dict) -> list[str]:
    out = [f"    article   {a['article_id']} {_article(a)}"]
    if a["copies"]:
        out.append(f"    copies    {a['copies']} seen elsewhere")
    if a["mentions"]:
        names = ", ".join(f"{m['name']} ({m['kind']})" for m in a["mentions"])
        out.append(f"    mentions  {_one_line(names)}")
    for al in a["alerts"]:
        what = f"{al['rule']} -> {al['channel']}: {al['status']}"
        if al["subject"]:
            what += f" ({al['subject']})"
        out.append(f"    alert     {_one_line(what)}")
    if not a["alerts"] and a["mentions"]:
        out.append("    alert     none (no rule fired, or stored without alerting)")
    for r in a["revisions"]:
        out.append(f"    revised   {_when(r['revised_at'])}: {_one_line(r['change'], 80)}")
    return out


def _never_seen(answer: dict) -> list[str]:
    lines = ["  never seen: no polled feed listed this URL, nor did any backfill find it"]
    feeds = answer.get("site_feeds") or []
    if not feeds:
        return lines + ["  no configured feed covers this site"]
    names = ", ".join(f"{f['name']} (last polled {_when(f['last_polled_at'])})" for f in feeds)
    lines.append(f"  feeds of this site: {names}")
    gaps = answer.get("gaps") or []
    days = answer.get("gap_days")
    if not gaps:
        lines.append(
            f"  no gap in the last {days} days: these feeds never moved past an entry unseen, so the "
            "story was not in them when they were polled (another section, or older than the feed)"
        )
    for g in gaps:
        state = "filled" if g["filled"] else f"NOT filled ({g['note'] or 'no older pages or sitemap'})"
        lines.append(
            f"  gap in {g['feed']}, detected {_when(g['detected_at'])}: the feed moved on past entries "
            f"dated between {_when(g['window_start'])} and {_when(g['window_end'])}; "
            f"backfill found {g['found']} ({g['new_entries']} new) via {g['sources'] or 'nothing'}: {state}"
        )
    return lines
