"""
The syntax of git-annex preferred content expressions: which terms exist,
which values they take, and the tree an expression parses into, as pure
functions.  L{annexrelay.placement.expression} evaluates the tree.
"""

import re
from typing import List, Optional, Tuple

from annexrelay.placement.values import ParseError, metadata_matcher, parse_size

# The terms git-annex accepts in a preferred content expression: those
# without a value, and those written name=value.
_SIMPLE = frozenset(["anything", "nothing", "unused", "standard", "groupwanted", "inpreferreddir", "present", "securehash"])
_VALUED = frozenset(
    [
        "include",
        "exclude",
        "largerthan",
        "smallerthan",
        "copies",
        "lackingcopies",
        "approxlackingcopies",
        "inbackend",
        "metadata",
        "inallgroup",
        "onlyingroup",
        "balanced",
        "fullybalanced",
        "sizebalanced",
        "fullysizebalanced",
    ]
)


def _count(text: str, what: str) -> int:
    if not re.match(r"^[0-9]+$", text):
        raise ParseError("bad number for %s" % (what,))
    return int(text)


def balance_spec(value: str, name: str) -> Tuple[str, int]:
    parts = value.split(":")
    if len(parts) == 1:
        return parts[0], 1
    if len(parts) == 2:
        n = _count(parts[1], name)
        if n > 0:
            return parts[0], n
    raise ParseError("bad value for %s" % (name,))


def _validate(name: str, value: Optional[str]) -> None:
    """
    Refuse what git-annex's parser refuses.
    """
    if value is None:
        if name not in _SIMPLE:
            raise ParseError("near %r" % (name,))
        return
    if name not in _VALUED:
        raise ParseError("near %r" % (name + "=" + value,))
    if name in ("largerthan", "smallerthan"):
        parse_size(value)
    elif name == "copies":
        parts = value.split(":")
        if len(parts) > 2:
            raise ParseError("bad value for copies")
        _count(parts[-1], "copies")
    elif name in ("lackingcopies", "approxlackingcopies"):
        _count(value, "number of lacking copies")
    elif name in ("balanced", "fullybalanced", "sizebalanced", "fullysizebalanced"):
        balance_spec(value, name)
    elif name == "metadata":
        metadata_matcher(value)


# An expression is a tree of tuples: ("and", a, b), ("or", a, b),
# ("not", a), ("term", name, value).


def _tokens(text: str) -> List[str]:
    out = []
    for word in text.replace("(", " ( ").replace(")", " ) ").split():
        out.append(word)
    return out


def _parse(tokens: List[str]):
    pos = 0

    def expr():
        nonlocal pos
        left = conj()
        while pos < len(tokens) and tokens[pos] == "or":
            pos += 1
            left = ("or", left, conj())
        return left

    def conj():
        nonlocal pos
        left = unary()
        while pos < len(tokens) and tokens[pos] not in ("or", ")"):
            if tokens[pos] == "and":
                pos += 1
            left = ("and", left, unary())
        return left

    def unary():
        nonlocal pos
        if pos >= len(tokens):
            raise ParseError("expression ends too soon")
        t = tokens[pos]
        if t == "not":
            pos += 1
            return ("not", unary())
        if t == "(":
            pos += 1
            inner = expr()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise ParseError("missing )")
            pos += 1
            return inner
        if t in ("and", "or", ")"):
            raise ParseError("unexpected %r" % (t,))
        pos += 1
        name, sep, value = t.partition("=")
        _validate(name, value if sep else None)
        return ("term", name, value)

    if not tokens:
        return ("term", "anything", "")
    tree = expr()
    if pos != len(tokens):
        raise ParseError("unexpected %r" % (tokens[pos],))
    return tree


def parse(text: str):
    """
    The tree of C{text}.

    @raise ParseError: git-annex would not parse it either.
    """
    return _parse(_tokens(text))
