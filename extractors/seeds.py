"""Loading of the seed corpus: plain-text articles saved with some of their page's boilerplate.

The files have no fixed layout: a date line may come before the title or at the very end, the
title may be printed twice, bylines appear as "By [Name](#)" or "Author: name", and icon strips
or "Comments: 0" lines surround the story. The title, date and author are taken out as fields;
the text is what `clean_text` leaves once they are removed.
"""

from __future__ import annotations

from pathlib import Path

from extractors.clean import (
    byline_name,
    clean_text,
    is_chrome_line,
    line_key,
    normalise_whitespace,
    parse_dateline,
    strip_markdown,
)
from extractors.records import Extracted

# A first line longer than this, or ending like a sentence, is the story's first paragraph.
MAX_TITLE_WORDS = 30


def load_seed(path: Path) -> Extracted:
    """Title, date, author and clean text of one seed file (UTF-8 plain text)."""
    return parse_seed(path.read_text(encoding="utf-8"))


def load_seeds(folder: Path) -> list[tuple[str, Extracted]]:
    """(file name, extracted) of every `*.txt` in `folder`, sorted by file name."""
    return [(path.name, load_seed(path)) for path in sorted(folder.glob("*.txt"))]


def parse_seed(raw: str) -> Extracted:
    lines = [strip_markdown(line) for line in normalise_whitespace(raw).split("\n")]
    published_at = next((d for line in lines if line and (d := parse_dateline(line))), None)
    author = next((name for line in lines if line and (name := byline_name(line))), None)

    title = None
    first = next((line for line in lines if line and not is_chrome_line(line)), None)
    if first and len(first.split()) <= MAX_TITLE_WORDS and not first.endswith((".", "!", ";", ",")):
        title = first
    # The title (and any repeat of it) is a field, not part of the text.
    body = [line for line in lines if not (title and line_key(line) == line_key(title))]
    return Extracted(title=title, text=clean_text("\n".join(body)), author=author, published_at=published_at)
