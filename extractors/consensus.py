"""An article's body: trafilatura's recall setting, with a second opinion only where it looks cut short.

trafilatura with `favor_recall` (comments off, its own readability/jusText fallbacks on) is kept
as it is on most pages: on both benchmarks it scores as well as trafilatura with comments off,
better than its defaults, and costs a third less (it skips its readability comparison when the
text is long, and never retries a short text in another mode). Its known failure is a story
cut after a few paragraphs. The page tells when that may have happened: its long paragraphs (<p>
of 100 characters or more) hold at least twice as much text as the extraction. Only then (about
5% of pages) are readability (scores blocks by paragraph text and class names) and jusText
(classifies paragraphs by length, link density and stop words) run too, and the text that agrees
most with the other two is kept: an extractor that cut the story short, or took a list of links,
agrees with neither of the others.

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

_SETTINGS = dict(
    favor_recall=True, include_comments=False, include_tables=True, include_images=False, with_metadata=False
)
_BLOCKS = frozenset(
    "p div section article main header footer aside h1 h2 h3 h4 h5 h6 ul ol li pre blockquote table tr td th"
    " dl dt dd figure figcaption br hr".split()
)
_TOKEN = re.compile(r"\w+")


def article_text(tree: HtmlElement, url: str | None = None) -> str:
    """The article's text ('\\n' between paragraphs), '' when no extractor found any."""
    text = _trafilatura(tree, url)
    if text and SHORT * len(text) >= paragraph_chars(tree):
        return text
    # In this order on a tie: trafilatura first, as on the pages where nothing is doubtful.
    texts = {"trafilatura": text, "justext": _justext(tree, url), "readability": _readability(tree)}
    return texts[most_agreed(texts)]


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


def _trafilatura(tree: HtmlElement, url: str | None) -> str:
    doc = bare_extraction(tree, url=url, **_SETTINGS)  # works on its own copy of the tree
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
