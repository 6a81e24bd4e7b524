"""Alert messages: plain text, email (text + HTML), Slack Block Kit. Pure functions.

Several alerts for one channel go out as ONE digest: alerts for the same story (several rules fired)
are shown once, with every rule. Titles, outlets and snippets come from the open web and are treated
as hostile: folded to one line (no CR/LF, U+2028/2029, NEL or other controls, so nothing can end an
email header or move a terminal cursor), HTML-escaped, and Slack-escaped (& < >) so that text like
`<!channel>` shows as text and notifies no one. Links are http(s) only.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerts.text import one_line, safe_url, shorten
from extractors.records import Alert, AlertStory, Mention

APP = "newswatch"
TITLE_LIMIT = 300
SUBJECT_LIMIT = 180
SNIPPETS_PER_STORY = 3
COPY_FEEDS_SHOWN = 10
SLACK_SECTION_LIMIT = 3000  # Block Kit: a section's text
SLACK_BLOCK_LIMIT = 50  # Block Kit: blocks per message
SLACK_URL_LIMIT = 1000  # longer links are shown unlinked, so one story always fits its section


@dataclass(frozen=True, slots=True)
class _Story:
    """One story of a digest, with every rule that fired for it and all their mentions."""

    story: AlertStory
    rules: tuple[str, ...]
    mentions: tuple[Mention, ...]

    @property
    def title(self) -> str:
        return shorten(one_line(self.story.title).strip(), TITLE_LIMIT) or "(untitled)"

    @property
    def feed(self) -> str:
        return shorten(one_line(self.story.feed).strip(), 100) or "unknown outlet"

    @property
    def url(self) -> str | None:
        return safe_url(self.story.url)

    @property
    def published(self) -> str:
        return _format_date(self.story.published_at)

    def named(self, kind: str) -> str:
        """'Valery Gerasimov (3), ...' for the actors or keywords that matched, '' when none."""
        return ", ".join(
            f"{shorten(one_line(m.name), 100)} ({m.count})" for m in self.mentions if m.kind == kind
        )

    def snippets(self) -> list[tuple[str, str, str]]:
        """(before, match, after) of the first few distinct snippets, each part on one line."""
        parts, seen = [], set()
        for mention in self.mentions:
            if mention.snippet in seen:
                continue
            seen.add(mention.snippet)
            start = min(max(mention.start, 0), len(mention.snippet))
            end = min(max(mention.end, start), len(mention.snippet))
            text = mention.snippet
            parts.append((one_line(text[:start]), one_line(text[start:end]), one_line(text[end:])))
            if len(parts) == SNIPPETS_PER_STORY:
                break
        return parts

    @property
    def copies(self) -> str:
        """'none', '3', or '3 (Reuters, AP)'."""
        feeds = [one_line(feed).strip() for feed in self.story.copy_feeds]
        count = max(self.story.copies, len(feeds))
        if not count:
            return "none"
        if not feeds:
            return str(count)
        shown = ", ".join(shorten(feed, 60) for feed in feeds[:COPY_FEEDS_SHOWN])
        more = f" and {len(feeds) - COPY_FEEDS_SHOWN} more" if len(feeds) > COPY_FEEDS_SHOWN else ""
        return f"{count} ({shown}{more})"


def _format_date(when: datetime | None) -> str:
    if when is None:
        return "date unknown"
    if when.tzinfo is None:  # the records promise UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _stories(alerts: Sequence[Alert]) -> list[_Story]:
    grouped: dict[int, tuple[AlertStory, dict[str, None], dict[tuple[str, str], Mention]]] = {}
    for alert in alerts:
        story, rules, mentions = grouped.setdefault(alert.story.article_id, (alert.story, {}, {}))
        rules[alert.rule] = None
        for mention in alert.story.mentions:
            mentions.setdefault((mention.kind, mention.name), mention)
    return [
        _Story(story, tuple(rules), tuple(mentions.values())) for story, rules, mentions in grouped.values()
    ]


def _rule_names(stories: Sequence[_Story]) -> str:
    rules = dict.fromkeys(rule for story in stories for rule in story.rules)
    return ", ".join(one_line(rule).strip() for rule in rules)


def _headline(stories: Sequence[_Story]) -> str:
    count = len(stories)
    noun = "story" if count == 1 else "stories"
    return one_line(f"{APP}: {count} new {noun} ({_rule_names(stories)})")


def subject_for(alerts: Sequence[Alert]) -> str:
    """One line, whatever the titles hold: '[newswatch] rule: title' or '[newswatch] N new stories (rules)'."""
    stories = _stories(alerts)
    if len(stories) == 1:
        subject = f"[{APP}] {_rule_names(stories)}: {stories[0].title}"
    else:
        subject = f"[{APP}] {len(stories)} new stories ({_rule_names(stories)})"
    return shorten(one_line(subject).strip(), SUBJECT_LIMIT)


# -- plain text (email text part, console) -----------------------------------------------------


def render_text(alerts: Sequence[Alert]) -> str:
    stories = _stories(alerts)
    lines = [_headline(stories), ""]
    for number, story in enumerate(stories, 1):
        lines.append(f"{number}. {story.title}")
        lines.append(f"   Outlet: {story.feed} | Published: {story.published}")
        lines.append(f"   Link: {story.url or '(withheld: not an http(s) link)'}")
        lines.append(f"   Rules: {', '.join(one_line(rule) for rule in story.rules)}")
        for kind, label in (("actor", "Actors"), ("keyword", "Keywords")):
            if named := story.named(kind):
                lines.append(f"   {label}: {named}")
        for before, match, after in story.snippets():
            lines.append(f"   > {before}**{match}**{after}")
        lines.append(f"   Copies seen: {story.copies}")
        lines.append("")
    return "\n".join(lines)


def render_console(alerts: Sequence[Alert]) -> str:
    return render_text(alerts)


# -- email --------------------------------------------------------------------------------------


def _html_story(story: _Story) -> str:
    esc = html.escape  # quote=True by default: safe inside attribute values too
    title = esc(story.title)
    if story.url:
        heading = f'<a href="{esc(story.url)}">{title}</a>'
        link = f'<a href="{esc(story.url)}" style="color:#555">{esc(shorten(story.url, 120))}</a>'
    else:
        heading, link = title, "link withheld: not an http(s) link"
    parts = [
        '<div style="margin:0 0 1.6em 0">',
        f'<h3 style="margin:0 0 .3em 0">{heading}</h3>',
        f'<p style="margin:0;color:#555">{esc(story.feed)} · {esc(story.published)} · '
        f"rules: {esc(', '.join(story.rules))}</p>",
        f'<p style="margin:0;font-size:small">{link}</p>',
    ]
    for kind, label in (("actor", "Actors"), ("keyword", "Keywords")):
        if named := story.named(kind):
            parts.append(f'<p style="margin:.4em 0 0 0"><b>{label}:</b> {esc(named)}</p>')
    for before, match, after in story.snippets():
        parts.append(
            '<blockquote style="margin:.5em 0;padding-left:.8em;border-left:3px solid #ccc">'
            f"{esc(before)}<mark>{esc(match)}</mark>{esc(after)}</blockquote>"
        )
    parts.append(f'<p style="margin:0;color:#555">Copies seen: {esc(story.copies)}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def render_html(alerts: Sequence[Alert]) -> str:
    stories = _stories(alerts)
    body = "\n".join(_html_story(story) for story in stories)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family:sans-serif;line-height:1.4">\n'
        f"<h2>{html.escape(_headline(stories))}</h2>\n{body}\n</body></html>\n"
    )


def render_email(alerts: Sequence[Alert], *, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """A multipart/alternative message (plain text, then HTML) for the whole list of alerts.
    Raises ValueError for an empty list or a malformed sender/recipient (configuration errors)."""
    if not alerts:
        raise ValueError("no alerts to render")
    message = EmailMessage()
    message["Subject"] = subject_for(alerts)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to us
    # A domain of our own: without one make_msgid asks the resolver for this host's FQDN.
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or APP)
    message.set_content(render_text(alerts), cte="quoted-printable")  # readable in the raw source too
    message.add_alternative(render_html(alerts), subtype="html")
    return message


# -- Slack --------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's three control characters; with them escaped, `<!channel>` is just text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str | None, label: str) -> str:
    """`<url|label>` for a safe http(s) URL, else the escaped label alone."""
    safe = safe_url(url)
    # "|" would end the URL part, "<" ">" the link; percent-encoding them keeps the URL equivalent.
    if safe:
        safe = slack_escape(safe.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E"))
    label = slack_escape(label).replace("|", "¦")
    if not safe or len(safe) > SLACK_URL_LIMIT:
        return label
    return f"<{safe}|{label}>"


def _slack_story(story: _Story) -> str:
    esc = slack_escape
    lines = [
        f"*{slack_link(story.url, story.title)}*",
        f"{esc(story.feed)} · {esc(story.published)} · rules: {esc(', '.join(story.rules))}",
    ]
    for kind, label in (("actor", "Actors"), ("keyword", "Keywords")):
        if named := story.named(kind):
            lines.append(f"*{label}:* {esc(named)}")
    for before, match, after in story.snippets():
        lines.append(f">{esc(before)}*{esc(match)}*{esc(after)}")
    lines.append(f"Copies seen: {esc(story.copies)}")
    # Whole lines only, so an escape (&amp;) or a link is never cut in half.
    text = lines[0]
    for line in lines[1:]:
        if len(text) + 1 + len(line) > SLACK_SECTION_LIMIT - 2:
            return text + "\n…"
        text += "\n" + line
    return text


def render_slack(alerts: Sequence[Alert]) -> tuple[str, list[dict]]:
    """(fallback text, Block Kit blocks) within Block Kit's limits; stories past the block limit
    are summarised as "and N more"."""
    stories = _stories(alerts)
    headline = _headline(stories)
    # The header is plain_text (no escaping there), so it holds only our own words; rule names,
    # which come from the config, are shown escaped in each story's section.
    noun = "story" if len(stories) == 1 else "stories"
    header = f"{APP}: {len(stories)} new {noun}"
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": header}}]
    room = (SLACK_BLOCK_LIMIT - 2) // 2  # header, "and N more"; a section and a divider per story
    shown = stories if len(stories) <= room + 1 else stories[:room]
    for story in shown:
        # verbatim: Slack must not auto-link names or parse mentions in what we send.
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _slack_story(story), "verbatim": True}}
        )
        blocks.append({"type": "divider"})
    if len(shown) < len(stories):
        more = len(stories) - len(shown)
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"… and {more} more", "verbatim": True}],
            }
        )
    elif blocks[-1]["type"] == "divider":
        blocks.pop()
    titles = "; ".join(story.title for story in stories)
    fallback = slack_escape(shorten(f"{headline}: {titles}", SLACK_SECTION_LIMIT // 5))
    return fallback, blocks
