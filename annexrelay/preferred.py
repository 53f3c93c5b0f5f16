"""
git-annex preferred content expressions, parsed and evaluated as pure
functions: which nodes of a cluster want a key that a client uploads.

Evaluated terms: C{anything}, C{nothing}, C{include=GLOB}, C{exclude=GLOB},
C{largerthan=SIZE}, C{smallerthan=SIZE}, C{copies=N}, C{copies=GROUP:N},
C{and}, C{or}, C{not}, parentheses (adjacent terms are and-ed),
C{groupwanted}, and C{standard} for the standard groups whose expressions
use only those terms.  Any other term makes the expression count as
wanting the key; L{Expression.unknown} says which terms, so the caller can
log them.

Everything needed to evaluate comes in a L{Subject}: the file, the key's
size, which repositories hold the key and their groups.  Nothing here reads
git.
"""

import fnmatch
import re
from typing import Callable, Dict, FrozenSet, List, NamedTuple, Optional, Set, Tuple

# The standard groups' expressions, as git-annex 10.20261026 lists them
# (git annex vicfg).  Those using terms not evaluated here (present,
# inallgroup, approxlackingcopies, inpreferreddir) make the repository count
# as wanting the key.
_ARCHIVED = "(not (copies=archive:1 or copies=smallarchive:1))"
_CLIENT = "(include=* and ((exclude=*/archive/* and exclude=archive/*) or %s))" % _ARCHIVED
STANDARD = {
    "client": _CLIENT + " or approxlackingcopies=1",
    "transfer": "(not (inallgroup=client and copies=client:2) and (%s or approxlackingcopies=1)) or approxlackingcopies=1"
    % _CLIENT,
    "backup": "anything",
    "incrementalbackup": "((not copies=backup:1) and (not copies=incrementalbackup:1)) or approxlackingcopies=1",
    "smallarchive": "((include=*/archive/* or include=archive/*) and (%s or approxlackingcopies=1)) or approxlackingcopies=1"
    % _ARCHIVED,
    "archive": _ARCHIVED + " or approxlackingcopies=1",
    "source": "not (copies=1)",
    "manual": "present and (%s or approxlackingcopies=1)" % _CLIENT,
    "public": "inpreferreddir",
    "unwanted": "not anything",
}

_UNITS = {
    "": 1,
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "k": 1000,
    "kb": 1000,
    "kilobyte": 1000,
    "kilobytes": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "megabyte": 1000**2,
    "megabytes": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gigabyte": 1000**3,
    "gigabytes": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "terabyte": 1000**4,
    "terabytes": 1000**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


class ParseError(Exception):
    pass


def parse_size(text: str) -> int:
    m = _SIZE.match(text)
    if m is None or m.group(2).lower() not in _UNITS:
        raise ParseError("not a size: %r" % (text,))
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


class Subject(NamedTuple):
    """
    What a preferred content expression is evaluated against.

    @ivar file: the associated file (repository-relative), or None.
    @ivar size: the key's size, or None if the key does not say.
    @ivar holders: UUIDs of the repositories that have the key.
    @ivar groups: a callable from a UUID to its set of groups.
    @ivar me: the UUID of the repository whose preference this is.
    @ivar groupwanted: a callable from a group to its expression text.
    """

    file: Optional[str]
    size: Optional[int]
    holders: FrozenSet[bytes]
    groups: Callable[[bytes], Set[str]]
    me: bytes
    groupwanted: Callable[[str], Optional[str]] = lambda g: None


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
        name, _, value = t.partition("=")
        return ("term", name, value)

    if not tokens:
        return ("term", "anything", "")
    tree = expr()
    if pos != len(tokens):
        raise ParseError("unexpected %r" % (tokens[pos],))
    return tree


class Expression:
    """
    A parsed preferred content expression.

    @ivar unknown: the terms this module does not evaluate (each counts as
        true, so the repository is taken to want the key).
    """

    def __init__(self, text: str):
        self.text = text
        self.tree = _parse(_tokens(text))
        self.unknown: Set[str] = set()

    def wants(self, subject: Subject, _depth: int = 0) -> bool:
        """
        Whether the repository wants the key.  An expression with a term not
        evaluated here counts as wanting it (see L{unknown}).
        """
        result = bool(self._eval(self.tree, subject, _depth))
        return True if self.unknown else result

    def _eval(self, node, s: Subject, depth: int):
        kind = node[0]
        if kind == "and":
            return self._eval(node[1], s, depth) and self._eval(node[2], s, depth)
        if kind == "or":
            return self._eval(node[1], s, depth) or self._eval(node[2], s, depth)
        if kind == "not":
            return not self._eval(node[1], s, depth)
        return self._term(node[1], node[2], s, depth)

    def _term(self, name: str, value: str, s: Subject, depth: int) -> bool:
        if name == "anything":
            return True
        if name == "nothing":
            return False
        if name in ("include", "exclude"):
            matched = s.file is not None and fnmatch.fnmatchcase(s.file, value)
            return matched if name == "include" else not matched
        if name in ("largerthan", "smallerthan"):
            if s.size is None:
                return False
            limit = parse_size(value)
            return s.size > limit if name == "largerthan" else s.size < limit
        if name == "copies":
            group, sep, count = value.rpartition(":")
            n = int(count)
            if sep:
                return sum(1 for u in s.holders if group in s.groups(u)) >= n
            return len(s.holders) >= n
        if name in ("groupwanted", "standard") and depth < 2:
            texts = []
            for g in sorted(s.groups(s.me)):
                text = s.groupwanted(g) if name == "groupwanted" else STANDARD.get(g)
                if text:
                    texts.append(text)
            if not texts:
                self.unknown.add("%s (no group with an expression)" % (name,))
                return True
            wanted = False
            for text in texts:
                sub = Expression(text)
                wanted = sub.wants(s, depth + 1) or wanted
                self.unknown |= sub.unknown
            return wanted
        self.unknown.add(name)
        return True


def wanting(expressions: Dict[bytes, Optional[str]], subject_for: Callable[[bytes], Subject]) -> Tuple[List[bytes], Dict[bytes, Set[str]]]:
    """
    Which repositories want the key: those whose expression is true, or who
    have none, or whose expression cannot be parsed.

    @return: the wanting UUIDs, and per UUID the terms that were not
        evaluated.
    """
    want = []
    unknown = {}
    for uuid, text in expressions.items():
        if not text or not text.strip():
            want.append(uuid)
            continue
        try:
            expr = Expression(text)
        except ParseError:
            unknown[uuid] = {"unparsable expression"}
            want.append(uuid)
            continue
        if expr.wants(subject_for(uuid)):
            want.append(uuid)
        if expr.unknown:
            unknown[uuid] = set(expr.unknown)
    return want, unknown
