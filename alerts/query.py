"""The query language of rules and of the topic filter: parsed into a small tree, checked, never run here.

    Gerasimov AND Kaliningrad              both terms
    interceptor AND NOT Colorado           NOT (or a leading "-": -Colorado) excludes
    "missile defense" OR THAAD             a quoted phrase; OR
    Gerasimov Kaliningrad                  terms side by side: AND
    Rogozin NEAR/5 Romania                 at most 5 words between them, in either order
    actor:"Valery Gerasimov"               any alias of that watchlist actor
    title:Gerasimov  text:(A OR B)         where a term must be (default: title or text)
    feed:wire  lang:ru                     the article's feed, its language

Precedence, tightest first: NEAR, NOT, AND, OR; parentheses group. Operators are written in
capitals; a lowercase "and"/"or"/"not" is refused (quote it to search for the word).

A query that cannot be parsed raises QueryError with the position of the problem, so that a
configuration error can point at it. Matching is in alerts/matching.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

Field = Literal["title", "text"]
FIELDS = ("title", "text", "actor", "feed", "lang")
MAX_DISTANCE = 1000

_QUOTES = '"\u201c\u201d\u201e'  # " and the typographic quotes a word processor puts in
_STOP = set("()") | set(_QUOTES)
_NEAR = re.compile(r"NEAR(?:/(\d+))?$")
_FIELD = re.compile(r"([A-Za-z]+):")


class QueryError(ValueError):
    """A query that cannot be used; `position` is the 0-based offset of the problem in `query`."""

    def __init__(self, message: str, query: str, position: int, rule: str | None = None):
        super().__init__(message)
        self.message = message
        self.query = query
        self.position = max(0, min(position, len(query)))
        self.rule = rule  # the rule whose query this is, when known

    def __str__(self) -> str:
        where = f"rule {self.rule!r}: " if self.rule else ""
        return f"{where}{self.message} (column {self.position + 1})"

    def report(self, where: str) -> str:
        """A configuration error: '<where>: <message> (column N)', then the query with a caret."""
        return f"{where}: {self.message} (column {self.position + 1})\n{self.pointer('    ')}"

    def pointer(self, indent: str = "  ") -> str:
        """Two lines: the query, and a caret under the problem."""
        shown = re.sub(r"[\r\n\t\v\f]", " ", self.query)  # one character for one: the caret stays put
        return f"{indent}{shown}\n{indent}{' ' * self.position}^"


# ---- the tree --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """A word or a quoted phrase, matched as the watchlist matches aliases."""

    text: str
    pos: int
    field: Field | None = None  # None: title or text


@dataclass(frozen=True, slots=True)
class ActorRef:
    """Any alias of a watchlist actor (looked up by name when the query is compiled)."""

    name: str
    pos: int
    field: Field | None = None


@dataclass(frozen=True, slots=True)
class Feed:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Lang:
    code: str
    pos: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    pos: int


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int  # at most this many words between the two
    pos: int


Node = Term | ActorRef | Feed | Lang | Not | And | Or | Near


# ---- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ( ) word phrase AND OR NOT - NEAR field end
    value: str
    pos: int
    distance: int = 0


def _tokens(query: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            out.append(_Token(char, char, i))
            i += 1
        elif char in _QUOTES:
            close = next((j for j in range(i + 1, n) if query[j] in _QUOTES), -1)
            if close < 0:
                raise QueryError("this quote is never closed", query, i)
            out.append(_Token("phrase", query[i + 1 : close], i))
            i = close + 1
        elif char == "-" and (not out or out[-1].kind != "field"):
            if i + 1 >= n or query[i + 1].isspace() or query[i + 1] == ")":
                raise QueryError("'-' must be followed by what to exclude, as in -Colorado", query, i)
            out.append(_Token("-", char, i))
            i += 1
        else:
            end = i
            while end < n and not query[end].isspace() and query[end] not in _STOP:
                end += 1
            word = query[i:end]
            field = _FIELD.match(word)
            if field:
                name = field.group(1).lower()
                if name not in FIELDS:
                    raise QueryError(
                        f"unknown field {field.group(0)!r}; fields are "
                        + ", ".join(f"{f}:" for f in FIELDS)
                        + " (quote the text to search for it)",
                        query,
                        i,
                    )
                after = i + len(field.group(0))
                if after >= n or query[after].isspace() or query[after] == ")":
                    raise QueryError(f"expected a value right after {name}:", query, after)
                out.append(_Token("field", name, i))
                i = after
                continue
            out.append(_word_token(query, word, i))
            i = end
    out.append(_Token("end", "", n))
    return out


def _word_token(query: str, word: str, pos: int) -> _Token:
    if word in ("AND", "OR", "NOT"):
        return _Token(word, word, pos)
    near = _NEAR.match(word)
    if near or word.startswith("NEAR/"):
        if not near or near.group(1) is None:
            raise QueryError("NEAR needs a distance in words, as in NEAR/5", query, pos)
        distance = int(near.group(1))
        if distance > MAX_DISTANCE:
            raise QueryError(f"NEAR distance must be at most {MAX_DISTANCE} words", query, pos)
        return _Token("NEAR", word, pos, distance)
    upper = word.upper()
    # "near" is a word people search for; NEAR is only an operator with its distance
    if upper in ("AND", "OR", "NOT") or re.fullmatch(r"NEAR/\d+", upper):
        raise QueryError(
            f"operators are written in capitals: {upper.split('/')[0]}"
            f' (write "{word}" in quotes to search for the word)',
            query,
            pos,
        )
    return _Token("word", word, pos)


# ---- the parser --------------------------------------------------------------------------------

_OPERAND_START = {"word", "phrase", "(", "NOT", "-", "field"}


class _Parser:
    def __init__(self, query: str):
        self.query = query
        self.tokens = _tokens(query)
        self.at = 0

    def error(self, message: str, pos: int | None = None) -> QueryError:
        return QueryError(message, self.query, self.peek.pos if pos is None else pos)

    @property
    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def need_operand(self, after: _Token) -> None:
        if self.peek.kind not in _OPERAND_START:
            what = "the end of the query" if self.peek.kind == "end" else repr(self.peek.value)
            raise self.error(f"expected a term after {after.value}, found {what}")

    def parse(self) -> Node:
        if self.peek.kind == "end":
            raise self.error("the query is empty")
        node = self.parse_or()
        if self.peek.kind != "end":
            if self.peek.kind == ")":
                raise self.error("this ')' closes no '('")
            raise self.error(f"unexpected {self.peek.value!r}")
        return node

    def parse_or(self) -> Node:
        start = self.peek.pos
        children = [self.parse_and()]
        while self.peek.kind == "OR":
            self.need_operand(self.take())
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children), start)

    def parse_and(self) -> Node:
        start = self.peek.pos
        children = [self.parse_unary()]
        while True:
            if self.peek.kind == "AND":
                self.need_operand(self.take())
            elif self.peek.kind not in _OPERAND_START:  # side by side: AND
                break
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else And(tuple(children), start)

    def parse_unary(self) -> Node:
        if self.peek.kind in ("NOT", "-"):
            token = self.take()
            self.need_operand(token)
            return Not(self.parse_unary(), token.pos)
        return self.parse_near()

    def parse_near(self) -> Node:
        left = self.parse_primary()
        while self.peek.kind == "NEAR":
            token = self.take()
            if self.peek.kind not in ("word", "phrase", "(", "field"):
                raise self.error(f"expected a term, phrase or actor after {token.value}")
            right = self.parse_primary()
            for side in (left, right):
                if not _positional(side):
                    raise self.error(
                        "NEAR joins terms, phrases or actors (or an OR of them in parentheses), "
                        "not AND, NOT, feed: or lang:",
                        side.pos,
                    )
            left = Near(left, right, token.distance, token.pos)
        return left

    def parse_primary(self) -> Node:
        token = self.peek
        if token.kind == "(":
            self.take()
            if self.peek.kind == ")":
                raise self.error("empty parentheses")
            node = self.parse_or()
            if self.peek.kind != ")":
                if self.peek.kind == "end":
                    raise self.error(f"the '(' at column {token.pos + 1} is never closed")
                raise self.error(f"unexpected {self.peek.value!r}")
            self.take()
            return node
        if token.kind in ("word", "phrase"):
            self.take()
            if not token.value.strip():
                raise self.error("empty quotes", token.pos)
            return Term(token.value.strip(), token.pos)
        if token.kind == "field":
            return self.parse_field(self.take())
        if token.kind == ")":
            raise self.error("expected a term before ')'")
        if token.kind == "end":
            raise self.error("expected a term at the end of the query")
        raise self.error(f"expected a term before {token.value}")

    def parse_field(self, field: _Token) -> Node:
        name = field.value
        if name in ("title", "text"):
            return _in_field(self.parse_primary(), name, self.query)  # type: ignore[arg-type]
        value = self.take()
        if value.kind not in ("word", "phrase") or not value.value.strip():
            raise self.error(f"expected a name after {name}: (quote it if it has spaces)", value.pos)
        text = value.value.strip()
        if name == "actor":
            return ActorRef(text, field.pos)
        if name == "feed":
            return Feed(text, field.pos)
        if not re.fullmatch(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*", text):
            raise self.error(
                f"expected a language code such as en or ru after lang:, not {text!r}", value.pos
            )
        return Lang(text.lower(), field.pos)


def _positional(node: Node) -> bool:
    """Whether a node has places in the text (what NEAR measures between)."""
    if isinstance(node, Term | ActorRef | Near):
        return True
    return isinstance(node, Or) and all(_positional(child) for child in node.children)


def _in_field(node: Node, field: Field, query: str) -> Node:
    """`node` with every term and actor inside restricted to `field`."""
    if isinstance(node, Term | ActorRef):
        if node.field is not None and node.field != field:
            raise QueryError(f"{node.field}: inside {field}: can never match", query, node.pos)
        return replace(node, field=field)
    if isinstance(node, Feed | Lang):
        return node
    if isinstance(node, Not):
        return replace(node, child=_in_field(node.child, field, query))
    if isinstance(node, And | Or):
        return replace(node, children=tuple(_in_field(c, field, query) for c in node.children))
    return replace(node, left=_in_field(node.left, field, query), right=_in_field(node.right, field, query))


def _matches_without_terms(node: Node) -> bool:
    """The verdict for a story in which none of the query's terms, feeds or languages is found."""
    if isinstance(node, Not):
        return not _matches_without_terms(node.child)
    if isinstance(node, And):
        return all(_matches_without_terms(child) for child in node.children)
    if isinstance(node, Or):
        return any(_matches_without_terms(child) for child in node.children)
    return False


def parse(query: str) -> Node:
    """The tree of a query; raises QueryError naming the problem and its position.

    A query must need something to be present: one that would match a story containing none of its
    terms (such as `NOT Colorado` alone) would match nearly every story, and is refused."""
    node = _Parser(query).parse()
    if _matches_without_terms(node):
        raise QueryError(
            "this query matches stories that contain none of its terms (NOT only excludes): "
            "add a term that must be present",
            query,
            node.pos,
        )
    return node


def terms_of(node: Node) -> list[Term | ActorRef]:
    """Every term and actor of a query, in the order written."""
    if isinstance(node, Term | ActorRef):
        return [node]
    if isinstance(node, Not):
        return terms_of(node.child)
    if isinstance(node, And | Or):
        return [t for child in node.children for t in terms_of(child)]
    if isinstance(node, Near):
        return terms_of(node.left) + terms_of(node.right)
    return []
