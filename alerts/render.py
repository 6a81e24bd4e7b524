"""Alert messages: plain text, email (text + HTML), Slack Block Kit. Pure functions.

A message holds stories (several alerts for one channel go out as ONE digest; a story that several
rules fired for is shown once, with every rule), operational notices (a feed failing, an outage:
worded as what happened, not as a story), or a rule's archive matches (old stories a new or
changed rule matches: a count and the first few titles). See alerts/batching.py for what goes
into one message.

Each story quotes what matched, in the order it appears in the story, one snippet per paragraph
region (the title is never glued to the text). The plain text (email text part, console) carries
no markup: each quote is labelled with the terms it holds instead of highlighting them; HTML
marks them with <mark>, Slack with *bold*.

Titles, outlets, snippets and error texts come from the open web and are treated as hostile:
folded to one line (no CR/LF, U+2028/2029, NEL or other controls, so nothing can end an email
header or move a terminal cursor), HTML-escaped, and Slack-escaped (& < >) so that text like
`<!channel>` shows as text and notifies no one. Links are http(s) only.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from alerts.text import one_line, safe_url, shorten
from extractors.records import Alert, AlertStory, ArchiveMatches, Mention

APP = "newswatch"
TITLE_LIMIT = 300
SUBJECT_LIMIT = 180
SNIPPETS_PER_STORY = 3
COPY_FEEDS_SHOWN = 10
ARCHIVE_TITLES_SHOWN = 5
SLACK_SECTION_LIMIT = 3000  # Block Kit: a section's text
SLACK_BLOCK_LIMIT = 50  # Block Kit: blocks per message
SLACK_URL_LIMIT = 1000  # longer links are shown unlinked, so one story always fits its section
# How operational notices are introduced, by the rule name the flow gives them.
NOTICE_LABELS = {
    "feed-health": "Feed failing",
    "feed-silence": "Feed silent",
    "outage": "Network outage",
    "serve-health": "Scheduled runs",
}


@dataclass(frozen=True, slots=True)
class _Quote:
    """One snippet of a story with the matches inside it, on one line."""

    text: str
    spans: tuple[tuple[int, int], ...]  # highlighted parts, sorted
    labels: tuple[str, ...]  # the terms it shows

    def pieces(self) -> list[tuple[str, bool]]:
        """(text, highlighted) pieces, each on one line."""
        out, at = [], 0
        for start, end in self.spans:
            start, end = max(start, at), max(end, start)
            out.append((one_line(self.text[at:start]), False))
            out.append((one_line(self.text[start:end]), True))
            at = end
        out.append((one_line(self.text[at:]), False))
        return [piece for piece in out if piece[0]]


@dataclass(frozen=True, slots=True)
class _Story:
    """One story of a digest, with every rule that fired for it and all their mentions."""

    story: AlertStory
    rules: tuple[str, ...]
    mentions: tuple[Mention, ...]
    matched: tuple

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

    def _matches(self) -> list[tuple[str, str, int, int, int | None]]:
        """(label, snippet, start, end, offset) of what the rules matched, else of the mentions."""
        if self.matched:
            return [(m.term, m.snippet, m.start, m.end, m.offset) for m in self.matched]
        return [(m.name, m.snippet, m.start, m.end, m.offset) for m in self.mentions]

    def in_title(self) -> list[str]:
        """The terms found only in the title (quoting it again would repeat the heading)."""
        title_end = len(self.story.title)
        labels = dict.fromkeys(
            one_line(label)
            for label, _, _, _, offset in self._matches()
            if offset is not None and offset < title_end
        )
        return list(labels)

    def quotes(self) -> list[_Quote]:
        """The first few snippets from the text, in document order; matches sharing a snippet are
        shown in it together."""
        title_end = len(self.story.title)
        ordered = sorted(
            (m for m in self._matches() if m[4] is None or m[4] >= title_end),
            key=lambda m: (m[4] is None, m[4] or 0),
        )
        grouped: dict[str, tuple[list, list]] = {}
        for label, snippet, start, end, _ in ordered:
            if not snippet:
                continue
            spans, labels = grouped.setdefault(snippet, ([], []))
            start = min(max(start, 0), len(snippet))
            spans.append((start, min(max(end, start), len(snippet))))
            if label not in labels:
                labels.append(label)
        quotes = []
        for snippet, (spans, labels) in list(grouped.items())[:SNIPPETS_PER_STORY]:
            merged: list[tuple[int, int]] = []
            for start, end in sorted(set(spans)):
                if merged and start < merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
                else:
                    merged.append((start, end))
            quotes.append(_Quote(snippet, tuple(merged), tuple(one_line(label) for label in labels)))
        return quotes

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


@dataclass(frozen=True, slots=True)
class _Notice:
    label: str
    text: str
    when: str


@dataclass(frozen=True, slots=True)
class _Message:
    """What one message holds, sorted by kind."""

    notices: list[_Notice]
    stories: list[_Story]
    archive: list[ArchiveMatches]
    heading: str | None  # a digest's rule and period

    def headline(self) -> str:
        parts = []
        if self.stories:
            count = len(self.stories)
            noun = "story" if count == 1 else "stories"
            if self.heading:
                parts.append(f"{self.heading}: {count} {noun}")
            else:
                parts.append(f"{count} new {noun} ({_rule_names(self.stories)})")
        if self.notices:
            count = len(self.notices)
            parts.append("operational notice" if count == 1 else f"{count} operational notices")
        if self.archive:
            listed = ", ".join(f"{one_line(a.rule)} ({a.count})" for a in self.archive)
            parts.append(f"archive matches of new or changed rules: {listed}")
        return one_line(f"{APP}: {'; '.join(parts) or 'nothing to report'}")

    def subject(self) -> str:
        if len(self.stories) == 1 and not self.notices and not self.archive and not self.heading:
            subject = f"[{APP}] {_rule_names(self.stories)}: {self.stories[0].title}"
        elif len(self.notices) == 1 and not self.stories and not self.archive:
            notice = self.notices[0]
            subject = f"[{APP}] {notice.label}: {notice.text}"
        else:
            subject = "[" + APP + "] " + self.headline().removeprefix(f"{APP}: ")
        return shorten(one_line(subject).strip(), SUBJECT_LIMIT)

    def header(self) -> str:
        """A short headline of our own words only (Slack's plain_text header is not escaped)."""
        parts = []
        if self.stories:
            count = len(self.stories)
            noun = "story" if count == 1 else "stories"
            parts.append(
                f"{'digest: ' if self.heading else ''}{count} {'' if self.heading else 'new '}{noun}"
            )
        if self.notices:
            parts.append(
                "operational notice" if len(self.notices) == 1 else f"{len(self.notices)} operational notices"
            )
        if self.archive:
            parts.append("archive matches")
        return f"{APP}: {', '.join(parts)}"


def _format_date(when: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    if when is None:
        return "date unknown"
    if when.tzinfo is None:  # the records promise UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime(fmt)


def _message(alerts: Sequence[Alert], heading: str | None = None) -> _Message:
    notices: dict[str, _Notice] = {}
    grouped: dict[int, tuple[AlertStory, dict[str, None], dict[tuple[str, str], Mention], dict]] = {}
    archive: dict[str, ArchiveMatches] = {}
    for alert in alerts:
        if alert.notice is not None:
            label = NOTICE_LABELS.get(alert.rule, alert.rule)
            text = shorten(one_line(alert.notice).strip(), 500)
            notices.setdefault(text, _Notice(one_line(label), text, _format_date(alert.created_at)))
        elif alert.archive is not None:
            archive.setdefault(alert.archive.rule, alert.archive)
        elif alert.story is not None:
            story, rules, mentions, matched = grouped.setdefault(
                alert.story.article_id, (alert.story, {}, {}, {})
            )
            rules[alert.rule] = None
            for mention in alert.story.mentions:
                mentions.setdefault((mention.kind, mention.name), mention)
            for match in alert.story.matched:
                matched.setdefault((match.offset, match.term), match)
    stories = [
        _Story(story, tuple(rules), tuple(mentions.values()), tuple(matched.values()))
        for story, rules, mentions, matched in grouped.values()
    ]
    return _Message(list(notices.values()), stories, list(archive.values()), heading)


def _rule_names(stories: Sequence[_Story]) -> str:
    rules = dict.fromkeys(rule for story in stories for rule in story.rules)
    return ", ".join(one_line(rule).strip() for rule in rules)


def subject_for(alerts: Sequence[Alert], heading: str | None = None) -> str:
    """One line, whatever the titles hold: '[newswatch] rule: title', '[newswatch] N new stories
    (rules)', '[newswatch] Feed failing: ...', '[newswatch] archive matches ...'."""
    return _message(alerts, heading).subject()


def _archive_more(archive: ArchiveMatches) -> int:
    return max(archive.count - len(archive.stories[:ARCHIVE_TITLES_SHOWN]), 0)


# -- plain text (email text part, console) -----------------------------------------------------


def render_text(alerts: Sequence[Alert], heading: str | None = None) -> str:
    message = _message(alerts, heading)
    lines = [message.headline(), ""]
    for notice in message.notices:
        lines.append(f"{notice.label}: {notice.text}")
        lines.append(f"   Raised: {notice.when}")
        lines.append("")
    for number, story in enumerate(message.stories, 1):
        lines.append(f"{number}. {story.title}")
        lines.append(f"   Outlet: {story.feed} | Published: {story.published}")
        lines.append(f"   Link: {story.url or '(withheld: not an http(s) link)'}")
        lines.append(f"   Rules: {', '.join(one_line(rule) for rule in story.rules)}")
        for kind, label in (("actor", "Actors"), ("keyword", "Keywords")):
            if named := story.named(kind):
                lines.append(f"   {label}: {named}")
        if in_title := story.in_title():
            lines.append(f"   In the title: {', '.join(in_title)}")
        for quote in story.quotes():
            lines.append(f"   {', '.join(quote.labels)}: {''.join(text for text, _ in quote.pieces())}")
        lines.append(f"   Copies seen: {story.copies}")
        lines.append("")
    for archive in message.archive:
        noun = "story" if archive.count == 1 else "stories"
        lines.append(
            f"Rule {one_line(archive.rule)}: {archive.count} {noun} stored before it was added or changed match it"
        )
        for story in archive.stories[:ARCHIVE_TITLES_SHOWN]:
            item = _Story(story, (), (), ())
            lines.append(f"   - {item.title} ({item.feed}, {_format_date(story.published_at, '%Y-%m-%d')})")
            lines.append(f"     {item.url or '(link withheld: not an http(s) link)'}")
        if more := _archive_more(archive):
            lines.append(f"   … and {more} more: newswatch rules test --rule {one_line(archive.rule)}")
        lines.append("")
    return "\n".join(lines)


def render_console(alerts: Sequence[Alert], heading: str | None = None) -> str:
    return render_text(alerts, heading)


# -- email --------------------------------------------------------------------------------------


def _marked(quote: _Quote, escape: Callable[[str], str], mark: Callable[[str], str]) -> str:
    return "".join(
        mark(escape(text)) if highlighted else escape(text) for text, highlighted in quote.pieces()
    )


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
    if in_title := story.in_title():
        parts.append(f'<p style="margin:.4em 0 0 0"><b>In the title:</b> {esc(", ".join(in_title))}</p>')
    for quote in story.quotes():
        parts.append(
            '<blockquote style="margin:.5em 0;padding-left:.8em;border-left:3px solid #ccc">'
            f"{_marked(quote, esc, lambda t: f'<mark>{t}</mark>')}</blockquote>"
        )
    parts.append(f'<p style="margin:0;color:#555">Copies seen: {esc(story.copies)}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def _html_archive(archive: ArchiveMatches) -> str:
    esc = html.escape
    noun = "story" if archive.count == 1 else "stories"
    items = []
    for story in archive.stories[:ARCHIVE_TITLES_SHOWN]:
        item = _Story(story, (), (), ())
        title = f'<a href="{esc(item.url)}">{esc(item.title)}</a>' if item.url else esc(item.title)
        items.append(f"<li>{title} ({esc(item.feed)}, {_format_date(story.published_at, '%Y-%m-%d')})</li>")
    more = _archive_more(archive)
    tail = (
        f"<p>… and {more} more: <code>newswatch rules test --rule {esc(archive.rule)}</code></p>"
        if more
        else ""
    )
    return (
        f"<h3>Rule {esc(archive.rule)}: {archive.count} {noun} stored before it was added or changed match it</h3>"
        f"\n<ul>{''.join(items)}</ul>{tail}"
    )


def render_html(alerts: Sequence[Alert], heading: str | None = None) -> str:
    esc = html.escape
    message = _message(alerts, heading)
    body = [f"<p><b>{esc(n.label)}:</b> {esc(n.text)}<br>Raised: {esc(n.when)}</p>" for n in message.notices]
    body += [_html_story(story) for story in message.stories]
    body += [_html_archive(archive) for archive in message.archive]
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family:sans-serif;line-height:1.4">\n'
        f"<h2>{esc(message.headline())}</h2>\n{chr(10).join(body)}\n</body></html>\n"
    )


def render_email(
    alerts: Sequence[Alert], *, sender: str, recipients: Sequence[str], heading: str | None = None
) -> EmailMessage:
    """A multipart/alternative message (plain text, then HTML) for the whole list of alerts.
    Raises ValueError for an empty list or a malformed sender/recipient (configuration errors)."""
    if not alerts:
        raise ValueError("no alerts to render")
    message = EmailMessage()
    message["Subject"] = subject_for(alerts, heading)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to us
    # A domain of our own: without one make_msgid asks the resolver for this host's FQDN.
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or APP)
    message.set_content(
        render_text(alerts, heading), cte="quoted-printable"
    )  # readable in the raw source too
    message.add_alternative(render_html(alerts, heading), subtype="html")
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


def _whole_lines(lines: list[str]) -> str:
    """Lines up to the section limit; whole lines only, so an escape (&amp;) or a link is never cut."""
    text = lines[0]
    for line in lines[1:]:
        if len(text) + 1 + len(line) > SLACK_SECTION_LIMIT - 2:
            return text + "\n…"
        text += "\n" + line
    return text


def _slack_story(story: _Story) -> str:
    esc = slack_escape
    lines = [
        f"*{slack_link(story.url, story.title)}*",
        f"{esc(story.feed)} · {esc(story.published)} · rules: {esc(', '.join(story.rules))}",
    ]
    for kind, label in (("actor", "Actors"), ("keyword", "Keywords")):
        if named := story.named(kind):
            lines.append(f"*{label}:* {esc(named)}")
    if in_title := story.in_title():
        lines.append(f"*In the title:* {esc(', '.join(in_title))}")
    for quote in story.quotes():
        lines.append(">" + _marked(quote, esc, lambda t: f"*{t}*"))
    lines.append(f"Copies seen: {esc(story.copies)}")
    return _whole_lines(lines)


def _slack_notice(notice: _Notice) -> str:
    return _whole_lines(
        [f"*{slack_escape(notice.label)}:* {slack_escape(notice.text)}", f"Raised: {notice.when}"]
    )


def _slack_archive(archive: ArchiveMatches) -> str:
    esc = slack_escape
    noun = "story" if archive.count == 1 else "stories"
    lines = [
        f"*Rule {esc(one_line(archive.rule))}:* {archive.count} {noun} stored before it was added or changed match it"
    ]
    for story in archive.stories[:ARCHIVE_TITLES_SHOWN]:
        item = _Story(story, (), (), ())
        lines.append(
            f"• {slack_link(item.url, item.title)} ({esc(item.feed)}, {_format_date(story.published_at, '%Y-%m-%d')})"
        )
    if more := _archive_more(archive):
        lines.append(f"… and {more} more: `newswatch rules test --rule {esc(one_line(archive.rule))}`")
    return _whole_lines(lines)


def render_slack(alerts: Sequence[Alert], heading: str | None = None) -> tuple[str, list[dict]]:
    """(fallback text, Block Kit blocks) within Block Kit's limits; sections past the block limit
    are summarised as "and N more"."""
    message = _message(alerts, heading)
    # The header is plain_text (no escaping there), so it holds only our own words; rule names,
    # which come from the config, are shown escaped in the sections.
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": message.header()}}]
    sections = [_slack_notice(n) for n in message.notices]
    if message.heading and message.stories:
        sections.append(f"_{slack_escape(message.heading)}_")
    sections += [_slack_story(story) for story in message.stories]
    sections += [_slack_archive(archive) for archive in message.archive]
    room = (SLACK_BLOCK_LIMIT - 2) // 2  # header, "and N more"; a section and a divider each
    shown = sections if len(sections) <= room + 1 else sections[:room]
    for text in shown:
        # verbatim: Slack must not auto-link names or parse mentions in what we send.
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}})
        blocks.append({"type": "divider"})
    if len(shown) < len(sections):
        more = len(sections) - len(shown)
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"… and {more} more", "verbatim": True}],
            }
        )
    elif blocks[-1]["type"] == "divider":
        blocks.pop()
    titles = "; ".join(
        [n.text for n in message.notices]
        + [s.title for s in message.stories]
        + [a.rule for a in message.archive]
    )
    fallback = slack_escape(shorten(f"{message.headline()}: {titles}", SLACK_SECTION_LIMIT // 5))
    return fallback, blocks
