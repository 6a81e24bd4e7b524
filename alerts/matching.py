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
from bisect import bisect_left
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from alerts import query as q
from alerts.config import Actor, Rule, Watchlist
from alerts.watchlist import SNIPPET_WIDTH, Scan, WatchlistMatcher, watchlist_for_rules
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

    __slots__ = ("source", "index", "field", "label", "trigger", "commonness")

    def __init__(self, source: str, index: int, field: q.Field | None, label: str):
        self.source = source  # "terms" or "items": which hits of the scan
        self.index = index
        self.field = field
        self.label = label
        self.trigger = (source, index)
        # a guess at how often it is present (see _triggers): a watchlist name rarely, a term
        # the less often the longer it is
        self.commonness = 1.0 if source == "items" else 10 / max(len(label), 1)

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
        """The first hit, and if that is in the title, the first in the text too: the title is
        already in the message, the text gives the context."""
        hits = self._raw(ctx)
        if hits:
            out.append([(*hits[0], self.label)])
            title_end = ctx.scan.title_end
            if hits[0][0] < title_end:
                in_text = next((h for h in hits if h[0] >= title_end), None)
                if in_text:
                    out.append([(*in_text, self.label)])


class _Feed:
    __slots__ = ("name", "trigger")
    commonness = 100.0  # a feed: in a good share of all articles

    def __init__(self, name: str):
        self.name = _key(name)
        self.trigger = ("feed", self.name)

    def test(self, ctx: _Context) -> bool:
        return ctx.feed == self.name

    def witness(self, ctx: _Context, out: list) -> None:
        pass


class _Lang:
    __slots__ = ("code", "trigger")
    commonness = 1000.0  # a language: in most articles

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
        scan, limit = ctx.scan, self.distance
        title_end = scan.title_end
        starts = [b[0] for b in right]
        pairs = []
        for a in left:
            a_title = a[0] < title_end
            split = bisect_left(starts, a[0])
            # after a (or at it), nearest first: once one is too far, the rest are farther
            for b in right[split:]:
                if (b[0] < title_end) != a_title:
                    break
                if b[:2] == a[:2]:
                    continue
                if scan.words_between(a[1], b[0], limit) > limit:
                    break
                pairs.append((a, b))
                if first_only:
                    return pairs
            for b in reversed(right[:split]):  # before a, nearest first
                if (b[0] < title_end) != a_title:
                    break
                if scan.words_between(b[1], a[0], limit) > limit:
                    break
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
        self.rules_by_name = {rule.name: rule for rule in self.rules}
        self.watchlist = watchlist_for_rules(watchlist, self.rules)
        self._source_watchlist = watchlist
        self._actors_by_key: dict[str, Actor] = {}
        by_alias: dict[str, list[Actor]] = {}
        for actor in self.watchlist.actors:
            self._actors_by_key.setdefault(_key(actor.name), actor)
            for alias in actor.aliases:
                by_alias.setdefault(_key(alias), []).append(actor)
        self._actors_by_alias = {key: found[0] for key, found in by_alias.items() if len(found) == 1}
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
        for name, tree in parsed.items():
            for term in q.terms_of(tree):
                if isinstance(term, q.Term):
                    texts = [term.text]
                else:  # actor: each of its aliases is a term (every hit counts, as for any term)
                    try:
                        texts = list(self._actor(term, self.rules_by_name[name].query or "").all_aliases)
                    except q.QueryError as error:
                        error.rule = name
                        raise
                for text in texts:
                    self._terms.setdefault(" ".join(text.split()), len(self._terms))
        self.scanner = WatchlistMatcher(self.watchlist, tuple(self._terms))
        self._items: dict[tuple[str, str], tuple[int, str]] = {}  # (kind, key) -> (index, name)
        names = [a.name for a in self.watchlist.actors] + list(dict.fromkeys(self.watchlist.keywords))
        for index, name in enumerate(names):
            kind = "actor" if index < len(self.watchlist.actors) else "keyword"
            self._items.setdefault((kind, _key(name)), (index, name))
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
            for trigger in _triggers(node) or ():
                self._by_trigger.setdefault(trigger, []).append(number)

    def __reduce__(self):
        return (RuleMatcher, (self._source_watchlist, self.rules))

    def narrowed(self, names: Collection[str], *, mentions: bool) -> RuleMatcher:
        """A matcher of only the rules `names`, as cheap as it can be: without the watchlist when
        neither mentions nor an actors/keywords rule need it (an actor: of a query is matched by
        its aliases as terms, so only the actors the queries name are kept)."""
        rules = [rule for rule in self.rules if rule.name in names]
        if mentions or any(rule.actors or rule.keywords for rule in rules):
            return RuleMatcher(self._source_watchlist, rules)
        named = {
            self._actor(term, rule.query or "").name: self._actor(term, rule.query or "")
            for rule in rules
            if rule.query is not None
            for term in q.terms_of(q.parse(rule.query))
            if isinstance(term, q.ActorRef)
        }
        return RuleMatcher(Watchlist(actors=tuple(named.values())), rules)

    def _item_places(self, kind: str, name: str, field: q.Field | None = None) -> _Places:
        index, label = self._items.get((kind, _key(name)), (-1, name))
        return _Places("items", index, field, label)

    def _actor(self, ref: q.ActorRef, query: str) -> Actor:
        """The watchlist actor a query names, by name, else by an alias only it has."""
        wanted = _key(ref.name)
        found = self._actors_by_key.get(wanted) or self._actors_by_alias.get(wanted)
        if found is not None:
            return found
        known = ", ".join(repr(a.name) for a in self.watchlist.actors[:8]) or "none"
        raise q.QueryError(f"no actor {ref.name!r} in the watchlist (actors: {known})", query, ref.pos)

    def _compile(self, node: q.Node, query: str):
        if isinstance(node, q.Term):
            text = " ".join(node.text.split())
            return _Places("terms", self._terms[text], node.field, node.text)
        if isinstance(node, q.ActorRef):
            actor = self._actor(node, query)
            places = tuple(
                _Places("terms", self._terms[" ".join(alias.split())], node.field, actor.name)
                for alias in dict.fromkeys(actor.all_aliases)
            )
            return places[0] if len(places) == 1 else _Or(places)
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
        known: Collection[tuple[str, str]] = (),
        snippets: bool = True,
    ) -> ArticleMatch:
        """The article's mentions and the rules that fire (in rule order). `only` limits the rules
        evaluated to those names; `mentions=False` skips building the mentions, `known` skips those
        (kind, name) mentions; `snippets=False` leaves the fired rules without their quotes."""
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
                if snippets:
                    node.witness(ctx, groups)
                fired.append(FiredRule(rule, _term_matches(scan, groups)))
        return ArticleMatch(self.scanner.mentions(scan, known) if mentions else [], fired)

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
            aliases = sorted([a.name, *a.aliases] for a in map(self._actors_by_key.get, actors) if a)
            out[f"rule:{rule.name}"] = _digest(
                {
                    "query": " ".join(rule.query.split()) if rule.query is not None else None,
                    "actors": sorted(_key(a) for a in rule.actors),
                    "keywords": sorted(_key(k) for k in rule.keywords),
                    "aliases": aliases,
                }
            )
        return out


def _triggers(node) -> dict | None:
    """Keys (a term, an item, a feed, a language) one of which must be present for `node` to be
    true, each with a guess at how common it is; None when there is no such set (NOT). For AND
    and NEAR one side's keys suffice: the side likely to be rarest, so that a rule on a common
    word AND a rare one is evaluated only where the rare one is."""
    if isinstance(node, _Places | _Feed | _Lang):
        return {node.trigger: node.commonness}
    if isinstance(node, _Or):
        sets = [_triggers(child) for child in node.children]
        return None if any(s is None for s in sets) else {k: v for s in sets for k, v in s.items()}
    if isinstance(node, _And | _Near):
        sides = node.children if isinstance(node, _And) else (node.left, node.right)
        usable = [s for s in map(_triggers, sides) if s is not None]
        return min(usable, key=lambda s: sum(s.values())) if usable else None
    return None


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
            snippet, spans = scan.snippet_of(tuple((s, e) for s, e, _ in part))
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
