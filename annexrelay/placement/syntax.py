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
# ("not", a), ("term", name, value), and ("any",), which is true.
ANY = ("any",)
_SYNTAX = ("and", "or", "not")


def _tokens(text: str) -> List[str]:
    """
    git-annex's C{tokenizeMatcher}: words, with each parenthesis a word of
    its own.
    """
    return text.replace("(", " ( ").replace(")", " ) ").split()


def _groups(tokens: list, i: int = 0, nested: bool = False) -> Tuple[list, int]:
    """
    git-annex's C{tokenGroups}/C{findClose}: a list per parenthesised
    group.  Not picky: a group left open ends with the text, a C{)} with no
    group open is ignored.
    """
    out: list = []
    while i < len(tokens):
        t = tokens[i]
        i += 1
        if t == "(":
            group, i = _groups(tokens, i, True)
            out.append(group)
        elif t == ")":
            if nested:
                return out, i
        else:
            out.append(t)
    return out, i


def _consume(m, ts: list) -> Tuple[tuple, list]:
    """
    git-annex's C{consume} (Utility/Matcher.hs): one step, left to right,
    no precedence (C{a or b and c} is C{(a or b) and c}).
    """
    if not ts:
        return m, []
    t, rest = ts[0], ts[1:]
    if t in _SYNTAX:
        p, rest = _consume(ANY, rest)
        if t == "and":
            return ("and", m, p), rest
        if t == "or":
            return ("or", m, p), rest
        return ("and", m, ("not", p)), rest
    if isinstance(t, list):
        return _process(m, t), rest
    return ("and", m, t), rest


def _process(m, ts: list):
    while ts:
        m, ts = _consume(m, ts)
    return m


def _implicit_and(ts: list) -> list:
    """
    git-annex's C{implicitAnd}: C{and} between two terms or groups next to
    each other, at the top level only (inside a group, a term and-s itself
    to what comes before, but a group continues from it: C{(a (b or c))}
    is C{(a and b) or c}).
    """
    out: list = []
    for t in ts:
        if out and t not in _SYNTAX and out[-1] not in _SYNTAX:
            out.append("and")
        out.append(t)
    return out


def _terms(ts: list) -> list:
    out = []
    for t in ts:
        if isinstance(t, list):
            out.append(_terms(t))
        elif t in _SYNTAX:
            out.append(t)
        else:
            name, sep, value = t.partition("=")
            _validate(name, value if sep else None)
            out.append(("term", name, value))
    return out


def parse(text: str):
    """
    The tree of C{text}, as git-annex's C{generate} builds it: no
    precedence, and lenient about structure (C{include=* or}, C{and},
    C{(include=*} all parse, as in git-annex); only a term git-annex does
    not know or a bad value is refused.

    @raise ParseError: git-annex would not parse it either.
    """
    tokens = _tokens(text)
    if not tokens:
        return ("term", "anything", "")
    return _process(ANY, _implicit_and(_terms(_groups(tokens)[0])))
