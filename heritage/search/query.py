"""What people type into the search box, parsed into a small tree the backends compile.

The syntax, forgiving of mistakes (an unclosed quote or bracket is closed, an
unknown ``name:`` is read as words, operators without operands are dropped):

* words are all required: ``night watch``;
* ``OR`` (or ``|``) between words or groups, ``AND`` (or ``&&``) where it reads better;
* ``NOT word`` or ``-word`` excludes;
* ``"the night watch"`` is a phrase;
* ``paint*`` is a prefix, ``rembrant~`` a fuzzy word (``~1`` or ``~2`` edits);
* ``creator:rembrandt``, ``title:"night watch"``, ``place:amster*``: field queries
  (the names in :data:`heritage.search.documents.QUERY_FIELDS`);
* brackets group: ``(painting OR drawing) -copy``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from heritage.search import analysis
from heritage.search.documents import QUERY_FIELDS

MAX_QUERY = 1_000
MAX_NODES = 64  # a query of thousands of words is an attack, not a search
MIN_PREFIX = 2


@dataclass(frozen=True)
class Term:
    word: str  # folded
    field: str | None = None
    prefix: bool = False
    fuzzy: int = 0


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]  # folded
    field: str | None = None


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Node = Term | Phrase | Not | And | Or

_TOKEN = re.compile(
    r"""
    (?P<open>\() | (?P<close>\)) |
    (?P<or>\|\||\|) | (?P<and>&&) |
    (?P<field>[A-Za-z]+):(?=\S) |
    (?P<minus>-(?=[^\s-])) |
    (?P<quote>"[^"]*"?) |
    (?P<word>[^\s()"|]+)
    """,
    re.VERBOSE,
)
_FUZZY = re.compile(r"^(.*?)~([12])?$")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        for match in _TOKEN.finditer(text[:MAX_QUERY]):
            kind = match.lastgroup or "word"
            value = match.group(kind)
            if kind == "word" and value in ("OR", "AND", "NOT"):
                kind = value.lower()
            self.tokens.append((kind, value))
        self.position = 0
        self.nodes = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def parse_or(self) -> Node | None:
        children = [self.parse_and()]
        while (token := self.peek()) is not None and token[0] == "or":
            self.take()
            children.append(self.parse_and())
        found = [child for child in children if child is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else Or(tuple(found))

    def parse_and(self) -> Node | None:
        children: list[Node] = []
        while (token := self.peek()) is not None and token[0] not in ("or", "close"):
            if token[0] == "and":
                self.take()
                continue
            node = self.parse_unary()
            if node is not None:
                children.append(node)
        if not children:
            return None
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self) -> Node | None:
        token = self.peek()
        if token is None:
            return None
        if token[0] in ("not", "minus"):
            self.take()
            child = self.parse_unary()
            return Not(child) if child is not None else None
        return self.parse_primary()

    def parse_primary(self) -> Node | None:
        kind, value = self.take()
        if kind == "open":
            node = self.parse_or()
            if (token := self.peek()) is not None and token[0] == "close":
                self.take()
            return node
        if kind == "close":
            return None
        field: str | None = None
        if kind == "field":
            name = value.lower()
            if (
                name in QUERY_FIELDS
                and self.peek() is not None
                and self.peek()[0] in ("word", "quote")
            ):  # type: ignore[index]
                field = name
                kind, value = self.take()
            else:
                # not a field we know: the name is a word like any other
                return self._words(value, None)
        if kind == "quote":
            return self._phrase(value.strip('"'), field)
        if kind == "word":
            return self._word(value, field)
        return None

    def _count(self) -> bool:
        self.nodes += 1
        return self.nodes <= MAX_NODES

    def _words(self, text: str, field: str | None) -> Node | None:
        folded = analysis.words(text)
        if not folded or not self._count():
            return None
        if len(folded) == 1:
            return Term(folded[0], field)
        return Phrase(tuple(folded), field)

    def _phrase(self, text: str, field: str | None) -> Node | None:
        return self._words(text, field)

    def _word(self, text: str, field: str | None) -> Node | None:
        prefix = text.endswith("*")
        fuzzy = 0
        if prefix:
            text = text.rstrip("*")
        else:
            match = _FUZZY.match(text)
            if match and text.endswith(("~", "~1", "~2")):
                text = match.group(1)
                fuzzy = int(match.group(2) or 0) or (1 if len(text) <= 5 else 2)
        folded = analysis.words(text)
        if not folded or not self._count():
            return None
        if len(folded) > 1:
            return Phrase(tuple(folded), field)
        word = folded[0]
        if prefix and len(word) < MIN_PREFIX:
            prefix = False
        return Term(word, field, prefix=prefix, fuzzy=fuzzy)


def parse(text: str) -> Node | None:
    """The tree of ``text``; None when it asks for nothing (empty, or only operators)."""
    parser = _Parser(text)
    parts: list[Node] = []
    while parser.peek() is not None:
        node = parser.parse_or()
        if node is not None:
            parts.append(node)
        if (token := parser.peek()) is not None and token[0] == "close":
            parser.take()  # a bracket closed that was never opened
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def positive_words(node: Node | None) -> set[str]:
    """The folded words a hit may contain, for highlighting (excluded words left out)."""
    found: set[str] = set()
    if node is None or isinstance(node, Not):
        return found
    if isinstance(node, Term):
        found.add(node.word)
    elif isinstance(node, Phrase):
        found.update(node.words)
    else:
        for child in node.children:
            found |= positive_words(child)
    return found


def prefix_words(node: Node | None) -> set[str]:
    """The prefixes the query asks for, for highlighting."""
    if node is None or isinstance(node, Not):
        return set()
    if isinstance(node, Term):
        return {node.word} if node.prefix else set()
    if isinstance(node, Phrase):
        return set()
    found: set[str] = set()
    for child in node.children:
        found |= prefix_words(child)
    return found
