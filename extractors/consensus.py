"""An article's body: trafilatura's recall setting, with second opinions where it looks wrong.

trafilatura with `favor_recall` (comments off, its own readability/jusText fallbacks on) is kept
as it is on most pages: it scores as well as trafilatura with comments off, better than its
defaults, and costs a third less. Its two known failures, and what the page tells of them:

- **A story cut after a few paragraphs.** The page's long paragraphs (<p> of 100 characters or
  more) hold at least twice as much text as the extraction (about 4% of pages). Then trafilatura's
  default setting, which compares its text with readability's and jusText's and takes theirs when
  its own looks short, is asked: when its answer is jusText's (the two agree) and not the recall
  setting's, both rules found the same longer story, and it is kept. Otherwise readability and
  jusText are run, and the text that agrees most with the other two is kept: an extractor that cut
  the story short, or took a list of links, agrees with neither of the others.
- **Chrome kept around the story** (a standfirst repeated, "related" lists, a publisher's "about"
  paragraph). readability, which is cheap, is asked on every other page. When its text is shorter
  (but not under half) and a part of trafilatura's (nearly all found there), trafilatura's precision
  setting is run too (about 13% of pages), and its shorter text is kept when readability agrees
  with it clearly better than with the longer one. When readability's shorter text differs from
  trafilatura's, jusText is run (about 6% of pages), and readability's text is kept when jusText
  agrees with it, and more than with trafilatura's. Either way, two extractors working by
  different rules dropped the same lines.

Chosen on two benchmarks (`python -m bench.extraction_quality`, which also reports a split in
halves) by general means only: which extractor to trust and when to ask another, never page rules.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from copy import deepcopy

from lxml.etree import iterwalk
from lxml.html import HtmlElement, fromstring
from trafilatura import bare_extraction
from trafilatura.external import justext_rescue, try_readability
from trafilatura.settings import Extractor

log = logging.getLogger(__name__)

# The extraction is doubtful when the page's long paragraphs hold more than this many times its
# length (anywhere between 1.4 and 2.5 the benchmarks' F1 moves by about 0.001).
SHORT = 2.0
# A paragraph this long (characters, whitespace collapsed) is story-like, not a caption or a link.
LONG_PARAGRAPH = 100
# Two texts this similar (F1 of their word 4-grams) are the same story.
AGREE = 0.9
# A shorter text is trusted only when it keeps at least this share of the longer one's 4-grams:
# less is a story cut, not chrome dropped.
MIN_KEPT = 0.5
# The precision setting is asked only when readability's text is at most this share of the recall
# setting's, and nearly all found there; it is kept only when it is as short, and readability
# agrees with it by `MARGIN` more than with the recall setting's text.
TRIMMED = 0.95
MARGIN = 0.05

_SETTINGS = dict(include_comments=False, include_tables=True, include_images=False, with_metadata=False)
_BLOCKS = frozenset(
    "p div section article main header footer aside h1 h2 h3 h4 h5 h6 ul ol li pre blockquote table tr td th"
    " dl dt dd figure figcaption br hr".split()
)
_TOKEN = re.compile(r"\w+")


def article_text(tree: HtmlElement, url: str | None = None) -> str:
    """The article's text ('\\n' between paragraphs), '' when no extractor found any."""
    text = _trafilatura(tree, url, favor_recall=True)
    if not text or SHORT * len(text) < paragraph_chars(tree):
        return _longer_story(tree, url, text)
    return _without_chrome(tree, url, text)


def _longer_story(tree: HtmlElement, url: str | None, text: str) -> str:
    """The story when the recall setting's text looks cut short (see the module's docstring)."""
    justext = _justext(tree, url)
    default_text = _trafilatura(tree, url)
    default = _shingles(default_text)
    if similarity(default, _shingles(justext)) >= AGREE > similarity(default, _shingles(text)):
        return default_text
    # In this order on a tie: trafilatura first, as on the pages where nothing is doubtful.
    texts = {"trafilatura": text, "justext": justext, "readability": _readability(tree)}
    return texts[most_agreed(texts)]


def _without_chrome(tree: HtmlElement, url: str | None, text: str) -> str:
    """The recall setting's text, or a shorter one two other extractors agree on (see the module's
    docstring)."""
    found = _shingles(text)
    readable_text = _readability(tree)
    readable = _shingles(readable_text)
    if not MIN_KEPT * found.total() <= readable.total() <= found.total():
        return text
    if _within(readable, found) and _contained(readable, found) >= AGREE:
        precise_text = _trafilatura(tree, url, favor_precision=True)
        precise = _shingles(precise_text)
        agreement = similarity(precise, readable)
        if (
            _within(precise, found)
            and agreement >= AGREE
            and agreement > similarity(found, readable) + MARGIN
        ):
            return precise_text
    if similarity(found, readable) < AGREE:
        justext = _shingles(_justext(tree, url))
        agreement = similarity(justext, readable)
        if agreement >= AGREE and agreement > similarity(justext, found):
            return readable_text
    return text


def _within(part: Counter, whole: Counter) -> bool:
    return MIN_KEPT * whole.total() <= part.total() <= TRIMMED * whole.total()


def _contained(part: Counter, whole: Counter) -> float:
    """The share of `part`'s word 4-grams found in `whole` (0.0 when `part` is empty)."""
    total = part.total()
    return (part & whole).total() / total if total else 0.0


def paragraph_chars(tree: HtmlElement) -> int:
    """Characters of the page's long paragraphs: what a story on it is likely to hold, at least."""
    lengths = (len(" ".join(p.text_content().split())) for p in tree.iter("p"))
    return sum(n for n in lengths if n >= LONG_PARAGRAPH)


def most_agreed(texts: dict[str, str]) -> str:
    """The name of the non-empty text most similar to the other non-empty ones (the first on a tie;
    the first name when all are empty): two extractors that found nothing do not outvote one that
    found a story."""
    shingles = {name: _shingles(text) for name, text in texts.items() if text.strip()}
    if not shingles:
        return next(iter(texts))
    return max(
        shingles,
        key=lambda name: sum(similarity(shingles[name], shingles[o]) for o in shingles if o != name),
    )


def similarity(a: Counter, b: Counter) -> float:
    """F1 of two texts' word 4-gram multisets (1.0 when both are empty)."""
    total = a.total() + b.total()
    return 2 * (a & b).total() / total if total else 1.0


def _shingles(text: str) -> Counter:
    tokens = _TOKEN.findall(text)
    return Counter(zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False))


def _trafilatura(tree: HtmlElement, url: str | None, **focus: bool) -> str:
    doc = bare_extraction(tree, url=url, **_SETTINGS, **focus)  # works on its own copy of the tree
    return (doc.text or "") if doc is not None else ""


def _readability(tree: HtmlElement) -> str:
    try:
        return _paragraphs(try_readability(deepcopy(tree)))
    except Exception as exc:  # a second opinion only: its failure leaves trafilatura's text
        log.debug("readability failed: %s", exc)
        return ""


def _justext(tree: HtmlElement, url: str | None) -> str:
    try:
        body, _ = justext_rescue(deepcopy(tree), Extractor(url=url))
    except Exception as exc:
        log.debug("jusText failed: %s", exc)
        return ""
    return "\n".join(" ".join(p.split()) for p in body.itertext() if p.strip())


def _paragraphs(root: HtmlElement) -> str:
    """Text of a readability summary, a line for each block element, inline elements joined."""
    parts: list[str] = []
    for event, el in iterwalk(root, events=("start", "end")):
        block = el.tag in _BLOCKS
        if event == "start":
            parts.append("\n" if block else "")
            if isinstance(el.tag, str) and el.text:
                parts.append(el.text)
        else:
            parts.append("\n" if block else "")
            if el.tail and el is not root:
                parts.append(el.tail)
    return "\n".join(line for line in (" ".join(x.split()) for x in "".join(parts).split("\n")) if line)


# jusText reads and indexes the stop words of all its languages on first use (~0.5 s): done at
# import, in an extraction worker's start-up, not within its first page's deadline.
_justext(fromstring("<html><body><p>warm up</p></body></html>"), None)
