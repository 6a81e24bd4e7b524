"""Print alerts: a channel that needs no secret, for trying newswatch out and for demos.

By default a compact digest: a headline, then one line per story (its rules, title, outlet and
link), so a run that finds hundreds of stories prints as many lines, not blocks of snippets. With
`format = "full"` the channel prints the email's plain text (every actor, keyword and snippet).
Whatever the format, no control character from the web reaches the terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from alerts.config import ConsoleChannel
from alerts.errors import DeliveryError
from alerts.render import render_console
from alerts.text import one_line, safe_url, shorten, terminal_safe
from extractors.records import Alert

TITLE_LIMIT = 140


def console_text(channel: ConsoleChannel, alerts: Sequence[Alert], heading: str | None = None) -> str:
    """The full text (`format = "full"`), else a compact digest of the stories; operational notices
    and archive matches, which are short, in full either way."""
    if channel.format == "full":
        return render_console(alerts, heading)
    stories = [a for a in alerts if a.story is not None]
    others = [a for a in alerts if a.story is None]
    parts = ([compact_digest(stories, heading)] if stories else []) + (
        [render_console(others, heading)] if others else []
    )
    return "\n".join(parts)


def compact_digest(alerts: Sequence[Alert], heading: str | None = None) -> str:
    """'newswatch: N new stories (rules)' (or `heading`), then '  [rules] title — outlet — link' per
    story."""
    stories: dict[object, tuple[Alert, dict[str, None]]] = {}
    for alert in alerts:  # a story several rules fired for is one line, with every rule
        stories.setdefault(alert.story.article_id or ("alert", alert.alert_id), (alert, {}))[1][
            alert.rule
        ] = None
    all_rules = dict.fromkeys(rule for _, rules in stories.values() for rule in rules)
    noun = "story" if len(stories) == 1 else "stories"
    lines = [
        _plain(heading, 300)
        if heading
        else f"newswatch: {len(stories)} new {noun} ({_plain(', '.join(all_rules), 200)})"
    ]
    for alert, rules in stories.values():
        story = alert.story
        title = _plain(story.title, TITLE_LIMIT) or "(untitled)"
        link = safe_url(story.url) or ("(link withheld: not an http(s) link)" if story.url else "")
        line = f"  [{_plain(', '.join(rules), 100)}] {title} — {_plain(story.feed, 60)}"
        lines.append(f"{line} — {link}" if link else line)
    return "\n".join(lines) + "\n"


def _plain(text: str, limit: int) -> str:
    return shorten(one_line(text or "").strip(), limit)


def send_console(channel: ConsoleChannel, text: str) -> None:
    stream: TextIO = channel.stream or sys.stdout
    text = terminal_safe(text)  # titles and snippets come from the web
    try:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()
    except (OSError, ValueError) as error:  # a closed stream or a broken pipe
        raise DeliveryError(f"console channel {channel.name!r}: {type(error).__name__}: {error}") from None
