"""Rendering: hostile titles and snippets stay text, one digest per run, Block Kit limits hold."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from alerts.render import (
    SLACK_BLOCK_LIMIT,
    SLACK_SECTION_LIMIT,
    render_console,
    render_email,
    render_slack,
    slack_link,
    subject_for,
)
from extractors.records import Alert, AlertStory, Mention, TermMatch

SENDER = "newswatch@example.org"
RECIPIENTS = ("analyst@example.org", "lead@example.org")


def make_alert(
    alert_id: int = 1,
    *,
    rule: str = "russian-military",
    title: str = "Gerasimov visits Kaliningrad",
    url: str = "https://news.example.org/a/1",
    feed: str = "Example Wire",
    snippet: str = "…said that Gerasimov had arrived…",
    match: str = "Gerasimov",
    article_id: int | None = None,
    copies: int = 2,
    copy_feeds: tuple[str, ...] = ("AP", "BBC"),
) -> Alert:
    start = snippet.find(match)
    mention = Mention("actor", "Valery Gerasimov", "Gerasimov", 3, snippet, start, start + len(match))
    keyword = Mention("keyword", "Kaliningrad", "Kaliningrad", 1, "in Kaliningrad today", 3, 14)
    story = AlertStory(
        article_id=alert_id if article_id is None else article_id,
        title=title,
        url=url,
        feed=feed,
        published_at=datetime(2025, 3, 1, 14, 5, tzinfo=UTC),
        mentions=(mention, keyword),
        copies=copies,
        copy_feeds=copy_feeds,
    )
    return Alert(alert_id=alert_id, rule=rule, channel="out", story=story)


def _parts(message) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def _wire(message):
    """The message as an SMTP server would read it back."""
    return message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)


def _slack_texts(blocks: list[dict]) -> list[str]:
    texts = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(element["text"] for element in block.get("elements", []))
    return texts


def test_one_alert_email() -> None:
    message = render_email([make_alert()], sender=SENDER, recipients=RECIPIENTS)
    assert message["Subject"] == "[newswatch] russian-military: Gerasimov visits Kaliningrad"
    assert message["To"] == "analyst@example.org, lead@example.org"
    assert message.get_content_type() == "multipart/alternative"
    parts = _parts(message)
    assert set(parts) == {"text/plain", "text/html"}
    text, page = parts["text/plain"], parts["text/html"]
    for expected in (
        "Example Wire",
        "2025-03-01 14:05 UTC",
        "https://news.example.org/a/1",
        "Copies seen: 2 (AP, BBC)",
    ):
        assert expected in text and expected in page
    assert "Actors: Valery Gerasimov (3)" in text and "Keywords: Kaliningrad (1)" in text
    # plain text: no markup; each quote is labelled with what it shows
    assert "   Valery Gerasimov: …said that Gerasimov had arrived…" in text
    assert "*" not in text
    assert "<mark>Gerasimov</mark>" in page
    assert '<a href="https://news.example.org/a/1">Gerasimov visits Kaliningrad</a>' in page


@pytest.mark.parametrize(
    "title",
    [
        "Breaking\r\nBcc: victim@example.org",
        "Breaking\nBcc: victim@example.org",
        "Breaking\u2028Bcc: victim@example.org",
        "Breaking\u2029Bcc: victim@example.org",
        "Breaking\x85Bcc: victim@example.org",
        "Breaking\x00\x1b[31m\rBcc: victim@example.org",
        "Breaking " + "very " * 80 + "long",
    ],
    ids=["crlf", "lf", "u2028", "u2029", "nel", "controls", "long"],
)
def test_subject_is_one_line(title: str) -> None:
    message = render_email([make_alert(title=title)], sender=SENDER, recipients=RECIPIENTS)
    subject = message["Subject"]
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", subject)
    assert subject.startswith("[newswatch] russian-military: Breaking")
    assert len(subject) <= 180
    back = _wire(message)
    assert back["Bcc"] is None
    assert back["Subject"] == subject
    assert "victim" not in str(back["To"])


def test_html_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    alert = make_alert(
        title=f"Title {hostile}",
        feed=f"Feed {hostile}",
        snippet=f"before {hostile} Gerasimov <img src=x onerror=alert(2)>",
        url='https://news.example.org/a?x="><script>alert(3)</script>',
    )
    page = _parts(render_email([alert], sender=SENDER, recipients=RECIPIENTS))["text/html"]
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="https://news.example.org/a?x=&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"' in page


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<b>x</b>",
        "//news.example.org/a",
        "https://",
        "",
    ],
)
def test_only_http_links(url: str) -> None:
    alert = make_alert(url=url)
    page = _parts(render_email([alert], sender=SENDER, recipients=RECIPIENTS))["text/html"]
    assert "href" not in page
    assert "link withheld" in page
    text = render_console([alert])
    assert "Link: (withheld: not an http(s) link)" in text
    _, blocks = render_slack([alert])
    assert "<" not in "".join(_slack_texts(blocks))


SLACK_HOSTILE = ["<!channel>", "<!here>", "<@U123>", "<https://evil.example|click>", "<#C123>"]


@pytest.mark.parametrize("hostile", SLACK_HOSTILE)
def test_slack_mentions_are_text(hostile: str) -> None:
    alert = make_alert(
        title=f"Title {hostile}",
        feed=f"Feed {hostile}",
        snippet=f"before {hostile} Gerasimov {hostile}",
        rule=f"rule-{hostile}",
    )
    fallback, blocks = render_slack([alert])
    everything = [fallback, *_slack_texts(blocks)]
    for text in everything:
        # The only control sequence left is our own link to the story.
        assert re.findall(r"<[^>]*>", text) in (
            [],
            ["<https://news.example.org/a/1|Title &lt;" + hostile[1:-1].replace("|", "¦") + "&gt;>"],
        )
    assert any("&lt;" + hostile[1:-1] + "&gt;" in text for text in everything)
    assert all(
        section.get("verbatim")
        for block in blocks
        for section in [block.get("text", {})]
        if section.get("type") == "mrkdwn"
    )


@pytest.mark.parametrize(
    "url, label, expected",
    [
        ("https://x.example/a", "a|b>c", "<https://x.example/a|a¦b&gt;c>"),
        ("https://x.example/a|b>c<d", "ok", "<https://x.example/a%7Cb%3Ec%3Cd|ok>"),
        ("https://x.example/?a=1&b=2", "R&D", "<https://x.example/?a=1&amp;b=2|R&amp;D>"),
        ("javascript:alert(1)", "<!channel>", "&lt;!channel&gt;"),
        (None, "no link", "no link"),
    ],
    ids=["label-breakout", "url-breakout", "ampersands", "unsafe-url", "no-url"],
)
def test_slack_link(url: str | None, label: str, expected: str) -> None:
    assert slack_link(url, label) == expected


def test_digest_of_three_is_one_message() -> None:
    alerts = [
        make_alert(1, rule="rule-a", title="First story"),
        make_alert(2, rule="rule-b", title="Second story"),
        make_alert(3, rule="rule-a", title="Third story"),
    ]
    message = render_email(alerts, sender=SENDER, recipients=RECIPIENTS)
    assert message["Subject"] == "[newswatch] 3 new stories (rule-a, rule-b)"
    fallback, blocks = render_slack(alerts)
    outputs = [*_parts(message).values(), render_console(alerts), "\n".join(_slack_texts(blocks)), fallback]
    for output in outputs:
        for title in ("First story", "Second story", "Third story"):
            assert output.count(title) == 1, (title, output)
    assert [block["type"] for block in blocks] == [
        "header",
        "section",
        "divider",
        "section",
        "divider",
        "section",
    ]


def test_story_under_two_rules_is_shown_once() -> None:
    alerts = [make_alert(1, rule="rule-a"), make_alert(2, rule="rule-b", article_id=1)]
    assert subject_for(alerts) == "[newswatch] rule-a, rule-b: Gerasimov visits Kaliningrad"
    text = render_console(alerts)
    assert text.count("Gerasimov visits Kaliningrad") == 1
    assert "Rules: rule-a, rule-b" in text


def test_slack_limits() -> None:
    huge = "&<>" * 3000
    alerts = [
        make_alert(i, title=f"Story {i} {huge}", snippet=f"{huge} Gerasimov {huge}") for i in range(1, 61)
    ]
    fallback, blocks = render_slack(alerts)
    assert len(blocks) <= SLACK_BLOCK_LIMIT
    sections = [block for block in blocks if block["type"] == "section"]
    assert len(sections) == 24
    assert all(len(text) <= SLACK_SECTION_LIMIT for text in _slack_texts(blocks))
    assert blocks[-1]["elements"][0]["text"] == "… and 36 more"
    assert len(fallback) <= 40_000
    # Cut at whole lines and whole entities: no dangling "&am" or half a link.
    for text in _slack_texts(blocks):
        assert not re.search(r"&(?!amp;|lt;|gt;)", text)
        assert text.count("<") == text.count(">")


def test_console_has_no_terminal_controls() -> None:
    text = render_console(
        [make_alert(title="Title \x1b[2J\x1b[31mred", snippet="Gerasimov \x07\x1b]0;pwned\x07")]
    )
    assert "\x1b" not in text and "\x07" not in text
    assert "Title [2J [31mred" in text


def test_story_without_date_or_copies() -> None:
    alert = make_alert(copies=0, copy_feeds=())
    alert = Alert(1, alert.rule, alert.channel, AlertStory(**{**_fields(alert.story), "published_at": None}))
    text = render_console([alert])
    assert "Published: date unknown" in text
    assert "Copies seen: none" in text


def _fields(story: AlertStory) -> dict:
    return {name: getattr(story, name) for name in AlertStory.__slots__}


def test_operational_notices_read_as_operational_messages() -> None:
    raised = datetime(2025, 3, 1, 14, 5, tzinfo=UTC)
    failing = Alert(
        7,
        "feed-health",
        "out",
        None,
        notice="feed vestnik has failed 3 runs in a row: HTTP 500 <b>oops</b>",
        created_at=raised,
    )
    outage = Alert(
        8, "outage", "out", None, notice="every feed failed at 2025-03-01 14:05 UTC", created_at=raised
    )
    text = render_console([failing])
    assert text.splitlines()[:3] == [
        "newswatch: operational notice",
        "",
        "Feed failing: feed vestnik has failed 3 runs in a row: HTTP 500 <b>oops</b>",
    ]
    assert "Raised: 2025-03-01 14:05 UTC" in text
    for wrong in ("new story", "Published", "date unknown", "Outlet", "Copies seen"):
        assert wrong not in text
    message = render_email([failing], sender=SENDER, recipients=RECIPIENTS)
    assert (
        message["Subject"]
        == "[newswatch] Feed failing: feed vestnik has failed 3 runs in a row: HTTP 500 <b>oops</b>"
    )
    assert "&lt;b&gt;oops&lt;/b&gt;" in _parts(message)["text/html"]
    both = render_console([failing, outage])
    assert both.startswith("newswatch: 2 operational notices")
    assert "Network outage: every feed failed at 2025-03-01 14:05 UTC" in both
    _, blocks = render_slack([failing])
    assert blocks[0]["text"]["text"] == "newswatch: operational notice"
    assert (
        "*Feed failing:* feed vestnik has failed 3 runs in a row: HTTP 500 &lt;b&gt;oops&lt;/b&gt;"
        in _slack_texts(blocks)[1]
    )


def _quoted_story(matched: tuple[TermMatch, ...], title: str = "Rogozin in Romania") -> Alert:
    story = AlertStory(
        article_id=1,
        title=title,
        url="https://news.example.org/a/1",
        feed="Example Wire",
        published_at=datetime(2025, 3, 1, 14, 5, tzinfo=UTC),
        mentions=(),
        matched=matched,
    )
    return Alert(1, "rogozin-romania", "out", story)


def test_what_a_query_matched_is_quoted_in_document_order_without_markup() -> None:
    from alerts.config import Rule, Watchlist
    from alerts.matching import RuleMatcher

    title = "Rogozin in Romania"
    text = (
        "A first paragraph on Iskander deployments.\n\n"
        "Later, Rogozin said Romania would host the site, and Iskander was mentioned again."
    )
    rule = Rule("rogozin-romania", query="Rogozin NEAR/3 Romania AND Iskander", channels=("out",))
    (fired,) = RuleMatcher(Watchlist(), (rule,)).match(title, text).fired
    alert = _quoted_story(fired.matches, title)
    plain = render_console([alert])
    lines = plain.splitlines()
    # the title's own hits are named, not quoted again; the text's are quoted in their order,
    # each snippet within its paragraph (never glued to the title), the NEAR pair in one quote
    assert lines[lines.index("   Rules: rogozin-romania") + 1 :][:3] == [
        "   In the title: Rogozin, Romania",
        "   Iskander: A first paragraph on Iskander deployments.",
        "   Copies seen: none",
    ]
    assert "*" not in plain and "**" not in plain
    assert "Rogozin in Romania A first" not in plain
    page = _parts(render_email([alert], sender=SENDER, recipients=RECIPIENTS))["text/html"]
    assert "<mark>Iskander</mark> deployments." in page
    _, blocks = render_slack([alert])
    assert ">A first paragraph on *Iskander* deployments." in _slack_texts(blocks)[1]


def test_a_near_pair_is_one_quote_with_both_terms() -> None:
    snippet = "…said Rogozin would visit Romania in May…"
    a, b = snippet.index("Rogozin"), snippet.index("Romania")
    alert = _quoted_story(
        (
            TermMatch("Rogozin", snippet, a, a + 7, 100),
            TermMatch("Romania", snippet, b, b + 7, 120),
            TermMatch("Iskander", "Iskander was there.", 0, 8, 50),
        ),
        title="A title",
    )
    lines = render_console([alert]).splitlines()
    assert lines[lines.index("   Rules: rogozin-romania") + 1 :][:2] == [
        "   Iskander: Iskander was there.",
        "   Rogozin, Romania: …said Rogozin would visit Romania in May…",
    ]
    page = _parts(render_email([alert], sender=SENDER, recipients=RECIPIENTS))["text/html"]
    assert "said <mark>Rogozin</mark> would visit <mark>Romania</mark> in May" in page
