"""Which actors/keywords rules fire for an article's mentions, and what in the rules cannot work.

(Rules with a query, and all rules in one pass, are matched by alerts/matching.py.)"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from alerts.config import Rule, Watchlist
from alerts.matching import RuleMatcher
from alerts.query import QueryError
from extractors.records import Mention


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def fired_rules(rules: Sequence[Rule], mentions: Sequence[Mention]) -> list[tuple[Rule, tuple[Mention, ...]]]:
    """Each rule that any mention triggers (one of its actors, by actor name, or one of its
    keywords; compared case-insensitively), with the mentions relevant to it, in rule order.
    A rule with neither actors nor keywords never fires."""
    fired = []
    for rule in rules:
        wanted = {("actor", _key(a)) for a in rule.actors} | {("keyword", _key(k)) for k in rule.keywords}
        relevant = tuple(m for m in mentions if (m.kind, _key(m.name)) in wanted)
        if relevant:
            fired.append((rule, relevant))
    return fired


def rule_problems(rules: Sequence[Rule], watchlist: Watchlist, channel_names: Collection[str]) -> list[str]:
    """What in the rules cannot work: unknown actors or channels, rules that can never fire.
    A rule keyword missing from the watchlist is not a problem: see `watchlist_for_rules`."""
    actors = {_key(actor.name) for actor in watchlist.actors}
    problems = []
    for rule in rules:
        if rule.query is not None:
            try:
                RuleMatcher(watchlist, (Rule(rule.name, query=rule.query),))
            except QueryError as error:
                problems.append(error.report(f"rule {rule.name!r}: query"))
        elif not rule.actors and not rule.keywords:
            problems.append(f"rule {rule.name!r} names no query, actor or keyword: it can never fire")
        for actor in rule.actors:
            if _key(actor) not in actors:
                problems.append(f"rule {rule.name!r}: actor {actor!r} is not in the watchlist")
        if not rule.channels:
            problems.append(f"rule {rule.name!r} has no channel")
        for channel in rule.channels:
            if channel not in channel_names:
                problems.append(f"rule {rule.name!r}: no channel named {channel!r}")
    return problems
