"""From outbox rows (as `Warehouse.pending_alerts` returns them) to Alert records."""

from __future__ import annotations

from extractors.records import Alert, AlertStory, ArchiveMatches, Mention, TermMatch


def alert_from_row(row: dict) -> Alert:
    """A story alert, an operational notice or a rule's archive matches, by the row's kind."""
    kind = row.get("kind") or ("operational" if row["article_id"] is None else "story")
    common = {
        "alert_id": row["alert_id"],
        "rule": row["rule"],
        "channel": row["channel"],
        "attempts": row.get("attempts") or 0,
        "created_at": row.get("created_at"),
    }
    if kind == "archive":
        stories = tuple(_archived_story(s) for s in row.get("archive_stories") or ())
        archive = ArchiveMatches(row["rule"], row.get("archive_count") or len(stories), stories)
        return Alert(story=None, archive=archive, **common)
    if kind == "operational" or row["article_id"] is None:
        return Alert(story=None, notice=row.get("subject") or "newswatch", **common)
    title = row.get("title") or ""
    if row.get("subject"):  # a story's alert with a subject: raised by a revision of the story
        title = f"[{row['subject']}] {title}"
    story = AlertStory(
        article_id=row["article_id"],
        title=title,
        url=row.get("url") or "",
        feed=row.get("feed") or "",
        published_at=row.get("published_at"),
        mentions=tuple(_mention(m) for m in row.get("mentions") or ()),
        copies=row.get("copies") or 0,
        copy_feeds=tuple(row.get("copy_feeds") or ()),
        matched=tuple(_term_match(m) for m in row.get("matched") or ()),
    )
    return Alert(story=story, **common)


def _archived_story(s: dict) -> AlertStory:
    return AlertStory(
        article_id=s["article_id"],
        title=s.get("title") or "",
        url=s.get("url") or "",
        feed=s.get("feed") or "",
        published_at=s.get("published_at"),
        mentions=(),
    )


def _mention(m: dict) -> Mention:
    snippet = m.get("snippet") or ""
    # where to highlight: the alias as configured, else the name (the stored row has no offsets)
    start = -1
    for form in (m["alias"], m["name"]):
        start = snippet.casefold().find(form.casefold())
        if start >= 0:
            end = start + len(form)
            break
    if start < 0:
        start = end = 0
    return Mention(
        kind=m["kind"],
        name=m["name"],
        alias=m["alias"],
        count=m["count"],
        snippet=snippet,
        start=start,
        end=end,
        offset=m.get("offset"),
    )


def _term_match(m: dict) -> TermMatch:
    return TermMatch(
        term=m["term"] or "",
        snippet=m["snippet"] or "",
        start=m["start"] or 0,
        end=m["end"] or 0,
        offset=m["offset"] or 0,
    )


def matched_rows(matches) -> list[dict]:
    """TermMatches as the outbox's `matched` column stores them."""
    return [
        {"term": m.term, "snippet": m.snippet, "start": m.start, "end": m.end, "offset": m.offset}
        for m in matches
    ]
