"""Extraction quality and cost on two benchmarks, ours beside trafilatura's general settings.

Sets (in ../shared/benchmarks): `extraction` (181 news pages, gold article bodies) and `wcxb-dev`
(711 article pages of the WCXB development split, gold bodies, titles, authors and dates).

Contenders, run on each page in turn (the order rotates from page to page):
  ours             extract_page(html, url): text (cleaned) and metadata
  ours-known       the same with known={"title", "author", "published_at"}: what a feed entry that
                   gives those fields saves (the text is the same)
  traf-default     trafilatura.extract(html, url=url), its defaults
  traf-nocomments  the same with include_comments=False
  traf-recall      the same with include_comments=False, favor_recall=True (what ours starts from)
  traf-precision   the same with include_comments=False, favor_precision=True
  traf-metadata    trafilatura.extract_metadata(html, url): the metadata trafilatura reads

Text is scored against the gold body with word 4-gram shingles, macro-averaged (bench/_shared.py),
per set, per half of a fixed split (A/B: a hash of the page id; nothing here is tuned, but choices
made while developing can be checked on a half), and per language declared by the page. Metadata:
title equal (words, case-folded), date on the same day, authors the same set of names. CPU time is
this process's time around each call. Before timing, every page's date is searched once and
htmldate's caches are emptied: dateparser compiles each language's patterns on first use (up to
0.4 s, once per worker process), which would otherwise land on whichever contender meets a
language first.

    python -m bench.extraction_quality [--quick] [--sample N] [--set extraction|wcxb]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import logging
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from bench._shared import (
    SHARED,
    extraction_benchmark_available,
    load_extraction_benchmark,
    macro_prf,
    page_scores,
)

WCXB = SHARED / "benchmarks" / "wcxb-dev"
KNOWN = frozenset({"title", "author", "published_at"})
CONTENDERS = (
    "ours",
    "ours-known",
    "traf-default",
    "traf-nocomments",
    "traf-recall",
    "traf-precision",
    "traf-metadata",
)
TEXT_CONTENDERS = ("ours", "traf-default", "traf-nocomments", "traf-recall", "traf-precision")
_WORD = re.compile(r"\w+")


@dataclass
class Page:
    set: str
    key: str
    url: str
    html: str
    gold: str
    title: str | None = None
    author: str | None = None
    date: str | None = None
    lang: str = "?"


@dataclass
class Outcome:
    text: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    meta: dict[str, tuple] = field(default_factory=dict)  # contender -> (title, author, date 'YYYY-MM-DD')


def wcxb_available() -> bool:
    return (WCXB / "ground-truth").is_dir()


def load_wcxb() -> list[Page]:
    pages = []
    for path in sorted((WCXB / "ground-truth").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        gold = record.get("ground_truth") or {}
        with gzip.open(WCXB / "html" / f"{path.stem}.html.gz", "rt", encoding="utf-8") as f:
            html = f.read()
        pages.append(
            Page(
                "wcxb",
                path.stem,
                record.get("url", ""),
                html,
                gold.get("main_content") or "",
                gold.get("title"),
                gold.get("author"),
                gold.get("publish_date"),
            )
        )
    return pages


def load_pages(which: str | None) -> list[Page]:
    pages: list[Page] = []
    if which in (None, "extraction") and extraction_benchmark_available():
        pages += [Page("extraction", p.key, p.url, p.html, p.gold) for p in load_extraction_benchmark()]
    if which in (None, "wcxb") and wcxb_available():
        pages += load_wcxb()
    return pages


def half(key: str) -> str:
    return "A" if int(hashlib.md5(key.encode()).hexdigest(), 16) % 2 == 0 else "B"


def run_contenders(page: Page, rotation: int) -> Outcome:
    import trafilatura
    from trafilatura.metadata import extract_metadata

    from extractors.extract import extract_page

    out = Outcome()

    def ours(known=()) -> Callable[[], None]:
        def call():
            got = extract_page(page.html, page.url, known=known)
            return got

        return call

    def record_ours(name: str, got) -> None:
        out.text[name] = got.text if got else ""
        date = got.published_at.date().isoformat() if got and got.published_at else None
        out.meta[name] = (got.title, got.author, date) if got else (None, None, None)

    def traf(**settings) -> Callable[[], str]:
        return lambda: trafilatura.extract(page.html, url=page.url, **settings) or ""

    calls: dict[str, Callable] = {
        "ours": ours(),
        "ours-known": ours(KNOWN),
        "traf-default": traf(),
        "traf-nocomments": traf(include_comments=False),
        "traf-recall": traf(include_comments=False, favor_recall=True),
        "traf-precision": traf(include_comments=False, favor_precision=True),
        "traf-metadata": lambda: extract_metadata(page.html, page.url),
    }
    names = list(CONTENDERS[rotation % len(CONTENDERS) :] + CONTENDERS[: rotation % len(CONTENDERS)])
    for name in names:
        start = time.process_time()
        try:
            result = calls[name]()
        except Exception:  # a contender failing on a page scores as nothing extracted
            result = None
        out.cpu[name] = time.process_time() - start
        if name.startswith("ours"):
            record_ours(name, result)
        elif name == "traf-metadata":
            out.meta[name] = (
                (result.title, result.author, result.date[:10] if result.date else None)
                if result is not None
                else (None, None, None)
            )
        else:
            out.text[name] = result or ""
    return out


def declared_lang(html: str) -> str:
    from trafilatura.utils import load_html

    from extractors.metadata import page_metadata

    tree = load_html(html)
    lang = page_metadata(tree, skip={"title", "author", "published_at"}).lang if tree is not None else None
    return lang or "?"


def _key(text: str | None) -> str:
    return " ".join(_WORD.findall((text or "").casefold()))


def title_ok(gold: str | None, got: str | None) -> bool:
    return bool(gold) and _key(gold) == _key(got)


def author_ok(gold: str | None, got: str | None) -> bool:
    names = set(_key(gold).split()) - {"and", "by"}
    return bool(names) and names == set(_key(got).split()) - {"and", "by"}


def date_ok(gold: str | None, got: str | None) -> bool:
    return bool(gold) and bool(got) and gold[:10] == got[:10]


def report(pages: list[Page], outcomes: list[Outcome]) -> None:
    sets = sorted({p.set for p in pages}, key=lambda s: s != "extraction")
    width = max(len(n) for n in TEXT_CONTENDERS)
    print("\nText: macro precision / recall / F1 (word 4-gram shingles)")
    print(f"{'set':<26} {'pages':>5}  " + "  ".join(f"{n:>{max(width, 20)}}" for n in TEXT_CONTENDERS))
    for s in sets:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(pages):
            if p.set != s:
                continue
            groups["all"].append(i)
            groups[f"half {half(p.key)}"].append(i)
            groups[f"lang {p.lang}"].append(i)
        langs = sorted((g for g in groups if g.startswith("lang")), key=lambda g: -len(groups[g]))
        small = [g for g in langs if len(groups[g]) < 10]
        if len(small) > 1:
            groups["lang (others)"] = [i for g in small for i in groups.pop(g)]
            langs = [g for g in langs if g not in small] + ["lang (others)"]
        for g in ["all", "half A", "half B", *langs]:
            idx = groups[g]
            cells = []
            for n in TEXT_CONTENDERS:
                p_, r_, f_ = macro_prf([page_scores(pages[i].gold, outcomes[i].text[n]) for i in idx])
                cells.append(f"{p_:.3f} {r_:.3f} {f_:.4f}")
            print(f"{s + ' ' + g:<26} {len(idx):>5}  " + "  ".join(f"{c:>{max(width, 20)}}" for c in cells))

    print("\nCPU ms per page (mean / median), this process")
    for s in sets:
        idx = [i for i, p in enumerate(pages) if p.set == s]
        cells = []
        for n in CONTENDERS:
            ms = [outcomes[i].cpu[n] * 1000 for i in idx]
            cells.append(f"{n} {statistics.mean(ms):.1f}/{statistics.median(ms):.1f}")
        print(f"  {s:<11} " + "   ".join(cells))
        mean = {n: statistics.mean(outcomes[i].cpu[n] for i in idx) * 1000 for n in CONTENDERS}
        both = mean["traf-default"] + mean["traf-metadata"]
        print(
            f"  {'':<11} traf-default + traf-metadata (text and metadata) {both:.1f}:"
            f" ours {mean['ours'] / both:.2f}x that;"
            f" ours-known {mean['ours-known'] / mean['traf-default']:.2f}x traf-default (text only)"
        )

    meta_pages = [i for i, p in enumerate(pages) if p.set == "wcxb"]
    print("\nMetadata against gold (wcxb; the extraction set has no metadata gold)")
    if not meta_pages:
        print("  (wcxb-dev not loaded)")
    for n in ("ours", "traf-metadata"):
        cells = []
        for label, gold_of, ok, slot in (
            ("title", lambda p: p.title, title_ok, 0),
            ("same-day date", lambda p: p.date, date_ok, 2),
            ("author", lambda p: p.author, author_ok, 1),
        ):
            with_gold = [i for i in meta_pages if gold_of(pages[i])]
            hits = sum(ok(gold_of(pages[i]), outcomes[i].meta[n][slot]) for i in with_gold)
            cells.append(
                f"{label} {hits}/{len(with_gold)} = {hits / len(with_gold):.3f}" if with_gold else ""
            )
        print(f"  {n:<14} " + "   ".join(cells))
    for n in ("ours",):
        empty = sum(1 for o in outcomes if not o.text[n])
        untitled = sum(1 for o in outcomes if o.text[n] and not o.meta[n][0])
        undated = sum(1 for o in outcomes if o.text[n] and not o.meta[n][2])
        print(
            f"\n{n}: no article on {empty} page(s); of the pages with text, {untitled} without a title, {undated} without a date"
        )


def warm_up(pages: list[Page]) -> None:
    """Imports, jusText's stop lists and dateparser's patterns for every language of the pages
    (one-time costs of a worker process), then htmldate's caches of date strings emptied so that
    no page's dates are found faster for having been seen here."""
    from htmldate import find_date
    from htmldate.extractors import try_date_expr
    from htmldate.validators import _parse_and_validate

    run_contenders(pages[0], 0)
    for page in pages:
        with contextlib.suppress(Exception):  # a page htmldate fails on fails the same way when timed
            find_date(page.html, url=page.url, original_date=True)
    try_date_expr.cache_clear()
    _parse_and_validate.cache_clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.extraction_quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="every 8th page of each set")
    parser.add_argument("--sample", type=int, metavar="N", help="every Nth page of each set")
    parser.add_argument("--set", choices=("extraction", "wcxb"), help="one set only")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # trafilatura logs every page it finds nothing in
    pages = load_pages(args.set)
    if not pages:
        print(f"skipped: no extraction benchmark found under {SHARED / 'benchmarks'}")
        return
    step = args.sample or (8 if args.quick else 1)
    pages = [p for s in ("extraction", "wcxb") for p in [q for q in pages if q.set == s][::step]]
    for p in pages:
        p.lang = declared_lang(p.html)
    warm_up(pages)
    started = time.perf_counter()
    outcomes = []
    for i, page in enumerate(pages):
        outcomes.append(run_contenders(page, i))
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{len(pages)} pages, {time.perf_counter() - started:.0f} s", flush=True)
    counts = ", ".join(f"{s}: {sum(p.set == s for p in pages)}" for s in ("extraction", "wcxb"))
    print(f"{len(pages)} pages ({counts}), every {step}th" if step > 1 else f"{len(pages)} pages ({counts})")
    report(pages, outcomes)


if __name__ == "__main__":
    main()
