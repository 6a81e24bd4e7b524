"""Which rules fire for an article: one pass over its text for the watchlist and every query term,
then a cheap boolean evaluation of the rules that can fire.

The automaton of alerts/watchlist.py holds the watchlist's aliases and every term of every rule's
query, so matching costs one pass whatever the number of rules. A rule can only fire when one of
its terms (or its feed: or lang:) is present: parsing refuses queries that would match an article
holding none of them (alerts/query.py), so only the rules indexed under what the pass found are
evaluated. Words between two hits (NEAR) are counted only when such a rule is evaluated.

A rule with `actors`/`keywords` fires, as before, when the watchlist mentions one of them; with a
`query` too, when either does.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from alerts import query as q
from alerts.config import Actor, Rule, Watchlist
from alerts.watchlist import SNIPPET_WIDTH, Scan, WatchlistMatcher, snippet_with_spans, watchlist_for_rules
from extractors.records import Mention, TermMatch

Hit = tuple[int, int]  # start, end in the scan's full text
Labelled = tuple[int, int, str]  # start, end, the term as the rule names it


def _key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


def _lang_keys(lang: str | None) -> tuple[str, ...]:
    """'en-US' -> ('en-us', 'en'): lang:en matches a regional variant, lang:en-us only that."""
    if not lang:
        return ()
    full = lang.strip().casefold().replace("_", "-")
    return (full, full.split("-", 1)[0]) if "-" in full else (full,)


class _Context:
    __slots__ = ("scan", "feed", "langs")

    def __init__(self, scan: Scan, feed: str | None, lang: str | None):
        self.scan = scan
        self.feed = _key(feed) if feed else None
        self.langs = _lang_keys(lang)


# ---- compiled queries --------------------------------------------------------------------------
# test(): the verdict; hits(): the labelled places (positional nodes, for NEAR); witness(): groups
# of places that made the node true, each group quoted in one snippet if it fits.


class _Places:
    """A term or a watchlist item, optionally only in the title or only in the text."""

    __slots__ = ("source", "index", "field", "label", "trigger")

    def __init__(self, source: str, index: int, field: q.Field | None, label: str):
        self.source = source  # "terms" or "items": which hits of the scan
        self.index = index
        self.field = field
        self.label = label
        self.trigger = (source, index)

    def _raw(self, ctx: _Context) -> list[Hit]:
        hits = getattr(ctx.scan, self.source).get(self.index)
        if not hits or self.field is None:
            return hits or []
        in_title = self.field == "title"
        title_end = ctx.scan.title_end
        return [h for h in hits if (h[0] < title_end) == in_title]

    def test(self, ctx: _Context) -> bool:
        return bool(self._raw(ctx))

    def hits(self, ctx: _Context) -> list[Labelled]:
        return [(s, e, self.label) for s, e in self._raw(ctx)]

    def witness(self, ctx: _Context, out: list[list[Labelled]]) -> None:
        hits = self._raw(ctx)
        if hits:
            out.append([(*hits[0], self.label)])


class _Feed:
    __slots__ = ("name", "trigger")

    def __init__(self, name: str):
        self.name = _key(name)
        self.trigger = ("feed", self.name)

    def test(self, ctx: _Context) -> bool:
        return ctx.feed == self.name

    def witness(self, ctx: _Context, out: list) -> None:
        pass


class _Lang:
    __slots__ = ("code", "trigger")

    def __init__(self, code: str):
        self.code = code.casefold()
        self.trigger = ("lang", self.code)

    def test(self, ctx: _Context) -> bool:
        return self.code in ctx.langs

    def witness(self, ctx: _Context, out: list) -> None:
        pass


class _Not:
    __slots__ = ("child",)

    def __init__(self, child):
        self.child = child

    def test(self, ctx: _Context) -> bool:
        return not self.child.test(ctx)

    def witness(self, ctx: _Context, out: list) -> None:
        pass  # what is absent is not quoted


class _And:
    __slots__ = ("children",)

    def __init__(self, children):
        self.children = children

    def test(self, ctx: _Context) -> bool:
        return all(child.test(ctx) for child in self.children)

    def witness(self, ctx: _Context, out: list) -> None:
        for child in self.children:
            child.witness(ctx, out)


class _Or:
    __slots__ = ("children",)

    def __init__(self, children):
        self.children = children

    def test(self, ctx: _Context) -> bool:
        return any(child.test(ctx) for child in self.children)

    def hits(self, ctx: _Context) -> list[Labelled]:
        return sorted({hit for child in self.children for hit in child.hits(ctx)})

    def witness(self, ctx: _Context, out: list) -> None:
        for child in self.children:
            if child.test(ctx):
                child.witness(ctx, out)


class _Near:
    """Both sides within `distance` words of each other (that many words between them at most),
    in either order, in the same field (a title word is never near a text word)."""

    __slots__ = ("left", "right", "distance")

    def __init__(self, left, right, distance: int):
        self.left, self.right, self.distance = left, right, distance

    def pairs(self, ctx: _Context, first_only: bool = False) -> list[tuple[Labelled, Labelled]]:
        left = self.left.hits(ctx)
        if not left:
            return []
        right = self.right.hits(ctx)
        if not right:
            return []
        scan = ctx.scan
        placed = [(h, scan.word_span(h[0], h[1]), h[0] < scan.title_end) for h in right]
        pairs = []
        for a in left:
            a_first, a_last = scan.word_span(a[0], a[1])
            a_title = a[0] < scan.title_end
            for b, (b_first, b_last), b_title in placed:
                if b_title != a_title or b[:2] == a[:2]:
                    continue
                between = b_first - a_last - 1 if b_first > a_last else a_first - b_last - 1
                if between <= self.distance:
                    pairs.append((a, b))
                    if first_only:
                        return pairs
        return pairs

    def test(self, ctx: _Context) -> bool:
        return bool(self.pairs(ctx, first_only=True))

    def hits(self, ctx: _Context) -> list[Labelled]:
        return sorted({hit for pair in self.pairs(ctx) for hit in pair})

    def witness(self, ctx: _Context, out: list) -> None:
        pairs = self.pairs(ctx)
        if pairs:
            out.append(sorted(min(pairs, key=lambda pair: min(pair[0][0], pair[1][0]))))


@dataclass(frozen=True, slots=True)
class FiredRule:
    rule: Rule
    matches: tuple[TermMatch, ...]  # what the alert quotes, in document order


@dataclass(frozen=True, slots=True)
class ArticleMatch:
    mentions: list[Mention]
    fired: list[FiredRule]


class RuleMatcher:
    """The watchlist and the rules, compiled once; `match` finds an article's mentions and the
    rules that fire for it. Raises QueryError (with `.rule` set) for a query that cannot be used.

    Picklable: it pickles as its watchlist and rules and compiles again on arrival."""

    def __init__(self, watchlist: Watchlist, rules: Sequence[Rule] = ()):
        self.rules = tuple(rules)
        self.watchlist = watchlist_for_rules(watchlist, self.rules)
        self._source_watchlist = watchlist
        parsed = {}
        for rule in self.rules:
            if rule.query is not None:
                try:
                    parsed[rule.name] = q.parse(rule.query)
                except q.QueryError as error:
                    error.rule = rule.name
                    raise
            elif not rule.actors and not rule.keywords:
                raise q.QueryError("a rule needs a query, actors or keywords", "", 0, rule.name)
        self._terms: dict[str, int] = {}  # a query term, normalised -> its index in the automaton
        for tree in parsed.values():
            for term in q.terms_of(tree):
                if isinstance(term, q.Term):
                    self._terms.setdefault(" ".join(term.text.split()), len(self._terms))
        self.scanner = WatchlistMatcher(self.watchlist, tuple(self._terms))
        self._items: dict[tuple[str, str], int] = {}
        index = 0
        for actor in self.watchlist.actors:
            self._items.setdefault(("actor", _key(actor.name)), index)
            index += 1
        for keyword in dict.fromkeys(self.watchlist.keywords):
            self._items.setdefault(("keyword", _key(keyword)), index)
            index += 1
        self._compiled = []
        self._by_trigger: dict[tuple, list[int]] = {}
        for number, rule in enumerate(self.rules):
            parts = [self._item_places("actor", a) for a in rule.actors]
            parts += [self._item_places("keyword", k) for k in rule.keywords]
            if rule.name in parsed:
                try:
                    parts.append(self._compile(parsed[rule.name], rule.query or ""))
                except q.QueryError as error:
                    error.rule = rule.name
                    raise
            node = parts[0] if len(parts) == 1 else _Or(tuple(parts))
            self._compiled.append(node)
            for trigger in {t for t in _triggers(node) if t is not None}:
                self._by_trigger.setdefault(trigger, []).append(number)

    def __reduce__(self):
        return (RuleMatcher, (self._source_watchlist, self.rules))

    def _item_places(self, kind: str, name: str, field: q.Field | None = None) -> _Places:
        index = self._items.get((kind, _key(name)), -1)
        return _Places("items", index, field, name)

    def _actor(self, ref: q.ActorRef, query: str) -> Actor:
        wanted = _key(ref.name)
        for actor in self.watchlist.actors:
            if _key(actor.name) == wanted:
                return actor
        by_alias = [a for a in self.watchlist.actors if wanted in {_key(x) for x in a.aliases}]
        if len(by_alias) == 1:
            return by_alias[0]
        known = ", ".join(repr(a.name) for a in self.watchlist.actors[:8]) or "none"
        raise q.QueryError(f"no actor {ref.name!r} in the watchlist (actors: {known})", query, ref.pos)

    def _compile(self, node: q.Node, query: str):
        if isinstance(node, q.Term):
            text = " ".join(node.text.split())
            return _Places("terms", self._terms[text], node.field, node.text)
        if isinstance(node, q.ActorRef):
            return self._item_places("actor", self._actor(node, query).name, node.field)
        if isinstance(node, q.Feed):
            return _Feed(node.name)
        if isinstance(node, q.Lang):
            return _Lang(node.code)
        if isinstance(node, q.Not):
            return _Not(self._compile(node.child, query))
        if isinstance(node, q.And):
            return _And(tuple(self._compile(c, query) for c in node.children))
        if isinstance(node, q.Or):
            return _Or(tuple(self._compile(c, query) for c in node.children))
        return _Near(self._compile(node.left, query), self._compile(node.right, query), node.distance)

    # ---- matching ------------------------------------------------------------------------------

    def match(
        self,
        title: str,
        text: str,
        feed: str | None = None,
        lang: str | None = None,
        *,
        only: Collection[str] | None = None,
        mentions: bool = True,
    ) -> ArticleMatch:
        """The article's mentions and the rules that fire (in rule order); `only` limits the rules
        evaluated to those names, `mentions=False` skips building the mentions."""
        scan = self.scanner.scan(title or "", text or "")
        ctx = _Context(scan, feed, lang)
        candidates: set[int] = set()
        for index in scan.terms:
            candidates.update(self._by_trigger.get(("terms", index), ()))
        for index in scan.items:
            candidates.update(self._by_trigger.get(("items", index), ()))
        if ctx.feed:
            candidates.update(self._by_trigger.get(("feed", ctx.feed), ()))
        for code in ctx.langs:
            candidates.update(self._by_trigger.get(("lang", code), ()))
        fired = []
        for number in sorted(candidates):
            rule = self.rules[number]
            if only is not None and rule.name not in only:
                continue
            node = self._compiled[number]
            if node.test(ctx):
                groups: list[list[Labelled]] = []
                node.witness(ctx, groups)
                fired.append(FiredRule(rule, _term_matches(scan, groups)))
        return ArticleMatch(self.scanner.mentions(scan) if mentions else [], fired)

    def fingerprints(self) -> dict[str, str]:
        """A hash of what matching depends on: 'watchlist' (what mentions are made of), and
        'rule:NAME' per rule (its query, actors with their aliases, keywords; not its channels),
        so that a changed watchlist or rule can be told from the last one the archive saw."""
        out = {
            "watchlist": _digest(
                {
                    "actors": [[a.name, *a.aliases] for a in self.watchlist.actors],
                    "keywords": list(self.watchlist.keywords),
                }
            )
        }
        for rule in self.rules:
            actors = {_key(a) for a in rule.actors}
            if rule.query is not None:
                tree = q.parse(rule.query)
                actors |= {
                    _key(self._actor(t, rule.query).name)
                    for t in q.terms_of(tree)
                    if isinstance(t, q.ActorRef)
                }
            aliases = sorted([a.name, *a.aliases] for a in self.watchlist.actors if _key(a.name) in actors)
            out[f"rule:{rule.name}"] = _digest(
                {
                    "query": " ".join(rule.query.split()) if rule.query is not None else None,
                    "actors": sorted(_key(a) for a in rule.actors),
                    "keywords": sorted(_key(k) for k in rule.keywords),
                    "aliases": aliases,
                }
            )
        return out


def _triggers(node):
    """What must be present for `node` to be true, one of them at least: terms, items, feed, lang."""
    if isinstance(node, _Places | _Feed | _Lang):
        yield node.trigger
    elif isinstance(node, _And | _Or):
        for child in node.children:
            yield from _triggers(child)
    elif isinstance(node, _Near):
        yield from _triggers(node.left)
        yield from _triggers(node.right)
    # _Not: an absent term never makes a rule fire on its own (parse refuses such queries)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:32]


def _term_matches(scan: Scan, groups: list[list[Labelled]]) -> tuple[TermMatch, ...]:
    """One snippet per group of hits (both sides of a NEAR) when they share a paragraph and fit in
    one, else one per hit; in document order, each hit quoted once."""
    out: dict[tuple[int, str], TermMatch] = {}
    for group in groups:
        group = sorted(set(group))
        lo, hi = scan.paragraph(group[0][0])
        together = (
            len(group) > 1
            and group[-1][1] <= hi
            and group[-1][1] - group[0][0] <= SNIPPET_WIDTH * 3 // 4
            and all(a[1] <= b[0] for a, b in zip(group, group[1:], strict=False))
        )
        parts = [group] if together else [[hit] for hit in group]
        for part in parts:
            p_lo, p_hi = scan.paragraph(part[0][0])
            snippet, spans = snippet_with_spans(
                scan.full, [(s, e) for s, e, _ in part], lo=p_lo, hi=max(p_hi, part[-1][1])
            )
            for (start, _, label), (s_start, s_end) in zip(part, spans, strict=True):
                out.setdefault((start, label), TermMatch(label, snippet, s_start, s_end, start))
    return tuple(sorted(out.values(), key=lambda m: (m.offset, m.term)))


class QueryFilter:
    """The topic filter written as a query (`[topic] query`): is an article on topic?"""

    def __init__(self, query: str, watchlist: Watchlist | None = None):
        watchlist = watchlist or Watchlist()
        tree = q.parse(query)
        wanted = {_key(t.name) for t in q.terms_of(tree) if isinstance(t, q.ActorRef)}
        # only the actors the query names: the rest of the watchlist would only slow the pass down
        actors = tuple(
            a for a in watchlist.actors if _key(a.name) in wanted or wanted & {_key(x) for x in a.aliases}
        )
        self.query = query
        self._matcher = RuleMatcher(Watchlist(actors=actors), (Rule("topic", query=query),))

    def __reduce__(self):
        return (QueryFilter, (self.query, self._matcher._source_watchlist))

    def is_on_topic(self, title: str, text: str, feed: str | None = None, lang: str | None = None) -> bool:
        return bool(self._matcher.match(title, text, feed, lang, mentions=False).fired)
