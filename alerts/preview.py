"""`newswatch rules test`: which stored stories a query (or a configured rule) matches, before it
goes live. Pure: it is handed the stories (warehouse/rules_state.py `stored_stories`, newest first,
on a read-only connection) and returns the text to print."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC

from alerts.matching import RuleMatcher
from alerts.text import one_line, safe_url, shorten
from extractors.records import StoredStory, TermMatch

SNIPPETS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class PreviewHit:
    story: StoredStory
    matches: tuple[TermMatch, ...]


@dataclass
class Preview:
    searched: int = 0  # stories read
    matched: int = 0  # stories the query matches
    hits: list[PreviewHit] = field(default_factory=list)  # the first `limit`, newest first


def preview(
    matcher: RuleMatcher, rule: str, batches: Iterable[Sequence[StoredStory]], limit: int = 20
) -> Preview:
    """Match rule `rule` of `matcher` against every story of `batches` (newest first): all of them
    are counted, the first `limit` kept with their snippets."""
    out = Preview()
    only = {rule}
    for batch in batches:
        for story in batch:
            out.searched += 1
            found = matcher.match(story.title, story.text, story.feed, story.lang, only=only, mentions=False)
            if not found.fired:
                continue
            out.matched += 1
            if len(out.hits) < limit:
                out.hits.append(PreviewHit(story, found.fired[0].matches))
    return out


def render_preview(result: Preview, what: str, period: str) -> str:
    """Plain text: a summary line, then per story its first-seen time, feed, title, link and the
    snippets with the terms each shows (no markup)."""
    noun = "story" if result.matched == 1 else "stories"
    lines = [
        f"{result.matched} {noun} of {result.searched} first seen {period} match {one_line(what)}"
        + (f" (newest {len(result.hits)} shown)" if result.matched > len(result.hits) else "")
    ]
    for hit in result.hits:
        story = hit.story
        seen = story.first_seen.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if story.first_seen else "?"
        title = shorten(one_line(story.title or "").strip(), 200) or "(untitled)"
        lines += ["", f"{seen}  {one_line(story.feed)}  {title}"]
        lines.append(f"   {safe_url(story.url) or '(link withheld: not an http(s) link)'}")
        title_end = len(story.title or "")
        in_title = list(dict.fromkeys(m.term for m in hit.matches if m.offset < title_end))
        if in_title:
            lines.append(f"   In the title: {one_line(', '.join(in_title))}")
        quotes: dict[str, list[str]] = {}
        for m in hit.matches:
            if m.offset >= title_end:
                labels = quotes.setdefault(m.snippet, [])
                if m.term not in labels:
                    labels.append(m.term)
        for snippet, labels in list(quotes.items())[:SNIPPETS_SHOWN]:
            lines.append(f"   {one_line(', '.join(labels))}: {one_line(snippet)}")
    return "\n".join(lines) + "\n"
