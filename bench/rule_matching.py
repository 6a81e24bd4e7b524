"""Rule matching at scale: 1,000 rules over a watchlist of 10,000 aliases, per article; then
re-matching a warehouse of 100,000 stored articles (retro-matching after a watchlist or rule change).

Articles are news prose: paragraphs of random sentences of the extraction benchmark's gold bodies
(../shared; synthetic words when it is absent), ~1,000 words each, with a few watchlist names put in.
The watchlist has 2,000 actors (3 aliases each: full name, surname, Cyrillic surname) and 4,000
keywords (1,000 of them words of the articles' own vocabulary, so they do hit). The rules: 200
actors/keywords rules and 800 queries, each built around a rarer word of the vocabulary (as an
analyst's rule is around a name, a place, a weapon system) with everyday words around it (AND,
NOT, OR groups, NEAR/5, NEAR/10 over an OR, title:, phrases, actor:, feed:, lang:).

Printed: the matcher's build time; per article (one process): the one pass alone, and the whole
match (mentions, rules evaluated, snippets), wall and CPU microseconds, with the rules evaluated
and fired per article; articles per second with two processes; then the re-matching of the stored
archive, wall and CPU seconds, split into reading the texts and matching.
Targets (issue 28): under 1 ms per article on 2 cores; 100,000 stored articles re-matched in
under a minute on 2 cores. Figures only: nothing passes or fails.

    python -m bench.rule_matching [--quick] [--stored N] [--db PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import resource
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.config import Actor, Rule, Watchlist
from alerts.matching import RuleMatcher
from alerts.retro import retro_match
from bench.site import sentence_pool, shared_available
from bench.throughput import print_cores, print_table

ACTORS, KEYWORDS, REAL_KEYWORDS = 2_000, 4_000, 1_000
LEGACY_RULES, QUERY_RULES = 200, 800
FEEDS = ("wire", "defense", "courier", "vestnik", "herald")
_WORD = re.compile(r"[A-Za-z][a-z]{3,}")
_SYLLABLES = "ka ro vi len mar tov sen dru pol zin bek ras mil gor tan vel do shi nik".split()
_CYRILLIC = str.maketrans("abdegiklmnoprstuvz", "абдегиклмнопрстувз")


def _name(rng: random.Random) -> tuple[str, str]:
    first = "".join(rng.choice(_SYLLABLES) for _ in range(2)).capitalize()
    last = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()
    return first, last


class Corpus:
    """Sentences and the vocabulary ranked by frequency."""

    def __init__(self, rng: random.Random):
        if shared_available():
            self.sentences = sentence_pool()
            self.source = "sentences of the extraction benchmark's gold bodies"
        else:
            words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(5000)]
            self.sentences = [
                " ".join(rng.choice(words) for _ in range(rng.randint(8, 25))).capitalize() + "."
                for _ in range(20_000)
            ]
            self.source = "synthetic sentences (../shared is absent)"
        counts = Counter(w.lower() for s in self.sentences for w in _WORD.findall(s))
        self.ranked = [w for w, _ in counts.most_common() if w not in ("and", "or", "not")]

    def mid_words(self, lo: int = 150, hi: int = 3000) -> list[str]:
        return self.ranked[lo:hi]


def build_watchlist(rng: random.Random, corpus: Corpus) -> Watchlist:
    actors, seen = [], set()
    while len(actors) < ACTORS:
        first, last = _name(rng)
        if last in seen:
            continue
        seen.add(last)
        actors.append(Actor(f"{first} {last}", (last, last.lower().translate(_CYRILLIC).capitalize())))
    # Watchlist keywords are topical terms, not everyday words: words of the vocabulary that are
    # rarer than the rules' words (each in a few articles in a hundred) but do occur.
    real = rng.sample(corpus.ranked[3000:12000], REAL_KEYWORDS)
    synthetic = [
        f"{''.join(rng.choice(_SYLLABLES) for _ in range(3))}-{n}" for n in range(KEYWORDS - len(real))
    ]
    return Watchlist(actors=tuple(actors), keywords=tuple(real + synthetic))


def build_rules(rng: random.Random, corpus: Corpus, watchlist: Watchlist) -> list[Rule]:
    words = corpus.mid_words()
    actors = [a.name for a in watchlist.actors]
    rules = [
        Rule(
            f"legacy-{n}",
            actors=tuple(rng.sample(actors, 2)),
            keywords=tuple(rng.sample(watchlist.keywords, 2)),
            channels=("c",),
        )
        for n in range(LEGACY_RULES)
    ]
    templates = [
        "{a} AND {b}",
        "{a} AND NOT {b}",
        "({a} OR {b}) AND ({c} OR {d})",
        "{a} NEAR/5 {b}",
        '{a} NEAR/10 ({b} OR {c}) AND NOT "{d} {e}"',
        'title:{a} OR "{a} {c}"',
        'actor:"{actor}" AND ({a} OR {b})',
        "{a} {b} feed:{feed}",
        "{a} AND lang:en AND -{b}",
        "text:({a} NEAR/3 {b}) OR title:{c}",
    ]
    # A rule is built around a rarer word (as an analyst's rule is around a name, a place, a
    # system), combined with everyday words; its first term is that rarer word.
    anchors = corpus.ranked[1500:8000]
    for n in range(QUERY_RULES):
        b, c, d, e = rng.sample(words, 4)
        a = rng.choice(anchors)
        query = templates[n % len(templates)].format(
            a=a, b=b, c=c, d=d, e=e, actor=rng.choice(actors), feed=rng.choice(FEEDS)
        )
        rules.append(Rule(f"query-{n}", query=query, channels=("c",)))
    return rules


def story(rng: random.Random, corpus: Corpus, watchlist: Watchlist) -> tuple[str, str]:
    """(title, text): ~1,000 words in paragraphs, with a few watchlist names and keywords."""
    paragraphs = [
        " ".join(rng.sample(corpus.sentences, rng.randint(3, 5))) for _ in range(rng.randint(7, 11))
    ]
    for _ in range(rng.randint(0, 3)):
        actor = rng.choice(watchlist.actors)
        k = rng.randrange(len(paragraphs))
        paragraphs[k] += f" {rng.choice(actor.all_aliases)} said so."
    for _ in range(rng.randint(0, 2)):
        k = rng.randrange(len(paragraphs))
        paragraphs[k] += f" The {rng.choice(watchlist.keywords[REAL_KEYWORDS:])} was mentioned."
    title = rng.choice(corpus.sentences)[:90]
    return title, "\n\n".join(paragraphs)


# ---- per article ------------------------------------------------------------------------------


def _pool_init(matcher: RuleMatcher) -> None:
    global _POOL_MATCHER
    _POOL_MATCHER = matcher


def _pool_match(chunk: list[tuple[str, str, str]]) -> int:
    return sum(len(_POOL_MATCHER.match(t, x, f, "en").fired) for t, x, f in chunk)


def per_article(matcher: RuleMatcher, articles: list[tuple[str, str, str]], repeats: int) -> None:
    scan_us, match_us, match_cpu_us = [], [], []
    for _ in range(repeats):  # alternate the two measurements in one run
        t0, c0 = time.perf_counter(), time.process_time()
        for title, text, _ in articles:
            matcher.scanner.scan(title, text)
        scan_us.append((time.perf_counter() - t0) / len(articles) * 1e6)
        t0, c0 = time.perf_counter(), time.process_time()
        fired = 0
        for title, text, feed in articles:
            fired += len(matcher.match(title, text, feed, "en").fired)
        match_us.append((time.perf_counter() - t0) / len(articles) * 1e6)
        match_cpu_us.append((time.process_time() - c0) / len(articles) * 1e6)
    candidates = _candidates(matcher, articles[:300])
    single = []
    for title, text, feed in articles[:500]:
        t0 = time.perf_counter()
        matcher.match(title, text, feed, "en")
        single.append((time.perf_counter() - t0) * 1e6)
    single.sort()
    print(
        f"\nper article, one process ({len(articles):,} articles x {repeats} repeats; medians of the repeats)"
    )
    print_table(
        [
            ("one pass (watchlist + query terms)", f"{statistics.median(scan_us):7.0f} µs"),
            ("whole match (pass, rules, mentions, snippets)", f"{statistics.median(match_us):7.0f} µs wall"),
            ("", f"{statistics.median(match_cpu_us):7.0f} µs CPU"),
            (
                "  per article: p50 / p95 / max",
                f"{single[len(single) // 2]:.0f} / {single[int(len(single) * 0.95)]:.0f} / {single[-1]:.0f} µs",
            ),
            (
                "rules evaluated per article (candidates)",
                f"{statistics.mean(candidates):7.1f} of {len(matcher.rules)}",
            ),
            ("rules fired per article", f"{fired / len(articles):7.1f}"),
        ]
    )
    chunks = [articles[i : i + 50] for i in range(0, len(articles), 50)]
    with multiprocessing.get_context("fork").Pool(2, _pool_init, (matcher,)) as pool:
        pool.map(_pool_match, chunks[:4])  # warm up both workers
        t0 = time.perf_counter()
        pool.map(_pool_match, chunks)
        wall = time.perf_counter() - t0
    print_table(
        [
            ("two processes: articles per second", f"{len(articles) / wall:7.0f}"),
            ("  = wall time per article", f"{wall / len(articles) * 1e6:7.0f} µs"),
        ]
    )


def _candidates(matcher: RuleMatcher, articles) -> list[int]:
    """How many rules `match` evaluates per article (those indexed under what the pass found)."""
    out = []
    for title, text, feed in articles:
        scan = matcher.scanner.scan(title, text)
        found: set[int] = set()
        for index in scan.terms:
            found.update(matcher._by_trigger.get(("terms", index), ()))
        for index in scan.items:
            found.update(matcher._by_trigger.get(("items", index), ()))
        found.update(matcher._by_trigger.get(("feed", feed), ()))
        found.update(matcher._by_trigger.get(("lang", "en"), ()))
        out.append(len(found))
    return out


# ---- re-matching the archive ------------------------------------------------------------------


def build_warehouse(
    path: Path, stored: int, rng: random.Random, corpus: Corpus, watchlist: Watchlist
) -> float:
    """A warehouse file of `stored` articles (run 1), written through Warehouse.insert_articles."""
    from warehouse.store import Warehouse

    t0 = time.perf_counter()
    now = datetime.now(UTC)
    with Warehouse.open(path) as wh:
        run_id = wh.start_run()
        for first in range(0, stored, 10_000):
            rows = []
            for n in range(first, min(first + 10_000, stored)):
                title, text = story(rng, corpus, watchlist)
                rows.append(
                    {
                        "article_id": n + 1,
                        "url": f"https://bench.example/{n}",
                        "title": title,
                        "published_at": now - timedelta(minutes=n),
                        "feed": FEEDS[n % len(FEEDS)],
                        "lang": "en",
                        "author": None,
                        "text": text,
                        "text_source": "page",
                        "text_hash": f"h{n}",
                        "word_count": len(text.split()),
                        "guid": None,
                        "first_seen": now - timedelta(minutes=n),
                        "run_id": run_id,
                    }
                )
            with wh.transaction():
                wh.insert_articles(rows, [])
        wh.finish_run(run_id, "completed", {})
    return time.perf_counter() - t0


def plant_actor(path: Path, alias: str, every: int) -> None:
    """Put `alias` into the text of one stored story in `every` (as news of a new name would be)."""
    from warehouse.store import Warehouse

    with Warehouse.open(path) as wh:
        wh.con.execute(
            "UPDATE articles SET text = text || ? WHERE article_id % ? = 0 AND NOT contains(text, ?)",
            [f" {alias} was there too.", every, alias],
        )


def rematch(path: Path, matcher: RuleMatcher, label: str, *, fresh: bool = False) -> None:
    """Time retro_match on the warehouse; `fresh`: as if it had never been matched (a reused
    --db file is put back as generated: no mentions, matches, alerts or matcher state)."""
    from warehouse.rules_state import RulesStore
    from warehouse.store import Warehouse

    with Warehouse.open(path) as wh:
        if fresh:
            for table in ("matcher_state", "mentions", "archive_matches", "alerts"):
                wh.con.execute(f"DELETE FROM {table}")
        store = RulesStore(wh)
        run_id = wh.start_run()
        t0, c0 = time.perf_counter(), time.process_time()
        read = 0
        for batch in store.story_batches():
            read += len(batch)
        read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0, w0 = time.perf_counter(), time.process_time(), _children_cpu()
        result = retro_match(store, matcher, run_id, notify=True)
        wall, cpu, workers = time.perf_counter() - t0, time.process_time() - c0, _children_cpu() - w0
        wh.finish_run(run_id, "completed", {})
    print(f"\nre-matching the archive: {label}")
    print_table(
        [
            ("stories matched again", f"{result.stories:,}"),
            (
                "watchlist changed / rules new or changed",
                f"{result.watchlist_changed} / {len(result.changed_rules)}",
            ),
            ("new mentions recorded", f"{result.new_mentions:,}"),
            (
                "rules with archive matches",
                f"{len(result.archive):,} ({sum(result.archive.values()):,} matches)",
            ),
            ("retro_match (read, match, write)", f"{wall:7.1f} s wall"),
            ("  of which recording mentions and matches", f"{result.write_seconds:7.1f} s wall"),
            ("  CPU: this process / worker processes", f"{cpu:7.1f} s / {workers:.1f} s"),
            (
                "  of which reading the texts alone",
                f"{read_s:7.1f} s wall  {read_cpu:7.1f} s CPU ({read:,} stories)",
            ),
        ]
    )


def _children_cpu() -> float:
    """CPU seconds of the child processes that ended (retro_match's workers end with it)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rule_matching", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 articles, a 10,000-article archive")
    parser.add_argument("--stored", type=int, help="articles in the archive (default 100,000)")
    parser.add_argument(
        "--db", type=Path, help="keep the generated warehouse here, or reuse it (default: a temporary dir)"
    )
    parser.add_argument("--archive-only", action="store_true", help="only the re-matching of the archive")
    args = parser.parse_args(argv)
    stored = args.stored or (10_000 if args.quick else 100_000)
    rng = random.Random(28)
    print_cores()
    corpus = Corpus(rng)
    watchlist = build_watchlist(rng, corpus)
    rules = build_rules(rng, corpus, watchlist)
    t0 = time.perf_counter()
    matcher = RuleMatcher(watchlist, rules)
    build_s = time.perf_counter() - t0
    aliases = sum(len(a.all_aliases) for a in watchlist.actors) + len(watchlist.keywords)
    articles = [
        (*story(rng, corpus, watchlist), FEEDS[n % len(FEEDS)]) for n in range(500 if args.quick else 2000)
    ]
    words = statistics.mean(len(text.split()) for _, text, _ in articles)
    print(f"articles: {corpus.source}; {words:.0f} words on average")
    print_table(
        [
            (
                "watchlist",
                f"{len(watchlist.actors):,} actors, {len(watchlist.keywords):,} keywords = {aliases:,} aliases",
            ),
            (
                "rules",
                f"{LEGACY_RULES} actors/keywords rules + {QUERY_RULES} queries; {len(matcher._terms):,} query terms",
            ),
            ("automaton patterns", f"{len(matcher.scanner):,}"),
            ("building the matcher", f"{build_s:.2f} s"),
        ]
    )
    if not args.archive_only:
        per_article(matcher, articles, repeats=3)
    with tempfile.TemporaryDirectory(prefix="nw-rules-") as tmp:
        path = args.db or Path(tmp) / "archive.duckdb"
        if not path.exists():
            gen_s = build_warehouse(path, stored, rng, corpus, watchlist)
            print(
                f"\nwarehouse: {stored:,} stored articles generated in {gen_s:.0f} s ({path.stat().st_size / 2**20:,.0f} MiB)"
            )
        rematch(
            path, matcher, "first match with this watchlist and these rules (all 1,000 rules new)", fresh=True
        )
        changed = [*rules[:-1], Rule(rules[-1].name, query=rules[-1].query + " OR Zzyzx", channels=("c",))]
        rematch(
            path, RuleMatcher(watchlist, changed), "one rule changed (mentions unchanged, one rule evaluated)"
        )
        # the usual change: an analyst adds an actor (found in 1 story in 50) and a rule on it
        newcomer = Actor("Oleg Zzyzxov", ("Zzyzxov", "Ззызхов"))
        added = Watchlist(actors=(*watchlist.actors, newcomer), keywords=watchlist.keywords)
        with_rule = [*changed, Rule("newcomer", query='actor:"Oleg Zzyzxov" AND NOT Moscow', channels=("c",))]
        plant_actor(path, "Zzyzxov", every=50)
        rematch(
            path,
            RuleMatcher(added, with_rule),
            "an actor added to the watchlist and a rule on it (all mentions checked, one rule evaluated)",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
