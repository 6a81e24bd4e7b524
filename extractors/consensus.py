"""An article's body, chosen by agreement between extractors that work in different ways.

trafilatura (its rules, with its own readability/jusText fallbacks), the readability algorithm
(scores blocks by paragraph text and class names) and jusText (classifies paragraphs by length,
link density and stop words) fail on different pages. When the first two agree, that text is
kept at once (about 70% of pages). Otherwise trafilatura's recall setting and jusText are run
too, and the text that agrees most with the other three is kept: an extractor that cut the
story short, or took a comment thread or a list of links, agrees with none of the others.

Chosen on two benchmarks (`python -m bench.extraction_quality`, which also reports a split in
halves) by general means only: which extractor to trust when they disagree, never page rules.
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


# Two independent extractors agreeing this much (shingle F1) settle the text without the others.
AGREE = 0.9

_SETTINGS = dict(include_comments=False, include_tables=True, include_images=False, with_metadata=False)
_BLOCKS = frozenset(
    "p div section article main header footer aside h1 h2 h3 h4 h5 h6 ul ol li pre blockquote table tr td th"
    " dl dt dd figure figcaption br hr".split()
)
_TOKEN = re.compile(r"\w+")


def article_text(tree: HtmlElement, url: str | None = None) -> str:
    """The article's text ('\\n' between paragraphs), '' when no extractor found any."""
    texts = {"trafilatura": _trafilatura(tree, url), "readability": _readability(tree)}
    shingles = {name: _shingles(text) for name, text in texts.items()}
    if similarity(shingles["trafilatura"], shingles["readability"]) >= AGREE:
        return texts["trafilatura"]
    texts["trafilatura-recall"] = _trafilatura(tree, url, favor_recall=True)
    texts["justext"] = _justext(tree, url)
    for name in ("trafilatura-recall", "justext"):
        shingles[name] = _shingles(texts[name])
    # In this order on a tie: trafilatura first, as on the pages where all agree.
    order = ["trafilatura", "trafilatura-recall", "justext", "readability"]
    best = max(
        order,
        key=lambda name: sum(similarity(shingles[name], shingles[other]) for other in order if other != name),
    )
    return texts[best]


def similarity(a: Counter, b: Counter) -> float:
    """F1 of two texts' word 4-gram multisets (1.0 when both are empty)."""
    total = a.total() + b.total()
    return 2 * (a & b).total() / total if total else 1.0


def _shingles(text: str) -> Counter:
    tokens = _TOKEN.findall(text)
    return Counter(zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False))


def _trafilatura(tree: HtmlElement, url: str | None, **focus) -> str:
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
