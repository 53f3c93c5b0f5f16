"""
git-annex's globs (C{include=}, C{exclude=}, C{metadata=F=GLOB}), matched
exactly as git-annex 10.20261026 matches them, as pure functions.

git-annex does not match globs itself: C{Utility/Glob.hs} (C{wildToRegex})
rewrites the glob into a POSIX regular expression, character by character,
and hands that to regex-tdfa (C{defaultCompOpt}: multiline, its extra
escapes on).  Python's C{fnmatch} differs from the result in many places,
so this module does the same two steps:

 1. L{wild_to_regex}: git-annex's rewrite, literally.  C{*} becomes C{.*}
    (so it matches C{/}), C{?} C{.}, C{[!} C{[^} (C{[^} stays C{[^}, so both
    negate), the inside of a bracket is copied up to the first C{]} with
    only C{\\} escaped, letters and digits stay, every other character is
    escaped; for file names a C{/} becomes C{[/]+} and a C{\\} C{[\\]+}.
 2. L{_Tdfa}: regex-tdfa's parser (C{Text/Regex/TDFA/ReadRegex.hs}) over
    that text, emitting an equivalent Python expression.  The text is
    parsed as regex-tdfa parses it, not as the glob reads, and a bracket
    ends where regex-tdfa ends it.  So C{notes[[:digit:]].txt} becomes
    C{^notes[[:digit:]\\]\\.txt$}: C{[:digit:]} is a class, the glob's
    closing C{]} was escaped to C{\\]}, whose backslash the bracket takes
    as a member and whose C{]} ends it; the glob matches C{notes1.txt} and
    C{notes\\.txt}.  Likewise C{[]]} is C{]} or a backslash.  C{\\<} and
    C{\\>} (from a glob's C{<}, C{>}) are word boundaries (ASCII words),
    C{\\`} and C{\\'} the ends of the text; classes are ASCII (C{alnum},
    C{digit}, ...; an unknown one is empty); C{[=a=]} is its characters,
    C{[.x.]} nothing.

Multiline, as regex-tdfa: C{^}/C{$} also match at a newline, C{.} and a
negated bracket never match one.  Case-insensitive (C{metadata=}): each
letter of the pattern also matches its upper and lower case form.

What regex-tdfa cannot compile (C{[]}, C{[!]}, C{[z-a]}, C{[abc}) raises
L{GlobError}.  git-annex's gateway dies on such a glob ("failed to compile
regex") and every PUT to the cluster fails; annexrelay, deliberately, lets
only the node whose expression has it want no more than it already has
(L{annexrelay.placement.expression.wanting}).
"""

import functools
import re
from typing import Callable, List, Optional, Set, Tuple


class GlobError(Exception):
    """
    regex-tdfa cannot compile the expression git-annex makes of the glob.
    """


def wild_to_regex(glob: str, filepath: bool = True) -> str:
    """
    git-annex's C{wildToRegex} (non-Windows), anchors included.
    """
    out = ["^"]
    i, n = 0, len(glob)

    def esc(c):
        return "\\" + c

    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            if i < n and glob[i] == "!":
                out.append("[^")
                i += 1
            else:
                out.append("[")
            # inpat: copied up to the first "]", only "\" escaped.
            while i < n:
                c = glob[i]
                i += 1
                if c == "]":
                    out.append("]")
                    break
                out.append(esc(c) if c == "\\" else c)
        elif c == "/" and filepath:
            out.append("[/]+")
        elif c == "\\" and filepath:
            out.append("[\\]+")
        elif ("0" <= c <= "9") or c.isalpha():
            out.append(c)
        else:
            out.append(esc(c))
    out.append("$")
    return "".join(out)


# regex-tdfa's POSIX classes (Text/Regex/TDFA/Pattern.hs
# decodeCharacterClass), ASCII only.
def _span(a: int, b: int) -> str:
    return "".join(map(chr, range(a, b + 1)))


_DIGIT = _span(48, 57)
_UPPER = _span(65, 90)
_LOWER = _span(97, 122)
CLASSES = {
    "alnum": _DIGIT + _UPPER + _LOWER,
    "digit": _DIGIT,
    "punct": _span(33, 47) + _span(58, 64) + _span(91, 96) + _span(123, 126),
    "alpha": _UPPER + _LOWER,
    "graph": _span(33, 126),
    "space": "\t\n\v\f\r ",
    "blank": "\t ",
    "lower": _LOWER,
    "upper": _UPPER,
    "cntrl": _span(0, 31) + "\x7f",
    "print": _span(32, 126),
    "xdigit": _DIGIT + "ABCDEFabcdef",
    "word": _DIGIT + _UPPER + "_" + _LOWER,
}
_WORD = "[0-9A-Za-z_]"
# Escapes regex-tdfa's newSyntax makes anchors of; any other is the
# character itself.
_BOW = "(?<!%s)(?=%s)" % (_WORD, _WORD)
_EOW = "(?<=%s)(?!%s)" % (_WORD, _WORD)
_ANCHORS = {
    "`": r"\A",
    "'": r"\Z",
    "<": _BOW,
    ">": _EOW,
    "b": "(?:%s|%s)" % (_BOW, _EOW),
    "B": "(?!%s|%s)" % (_BOW, _EOW),
}
_SPECIALS = "^.[$()|*+?{\\"

def _to_upper(c: str) -> str:
    """
    Haskell's C{toUpper}: Unicode's simple (one character) mapping.
    Python's C{upper} is the full one; where that is longer, the simple
    upper case is the title case form if that is one character (Greek with
    ypogegrammeni), else there is none (C{ß} stays C{ß}).
    """
    for form in (c.upper(), c.title()):
        if len(form) == 1:
            return form
    return c


def _to_lower(c: str) -> str:
    """
    Haskell's C{toLower}; only U+0130 has a longer full mapping.
    """
    low = c.lower()
    return low if len(low) == 1 else ("i" if c == "\u0130" else c)


def _variants(c: str) -> Set[str]:
    """
    The characters regex-tdfa accepts for C{c} when case-insensitive: for a
    letter its upper and lower case (C{toUpper c}, C{toLower c}; not C{c}
    itself, so a title case letter such as U+01C5 matches only its upper and
    lower forms), else C{c}.
    """
    if not c.isalpha():
        return {c}
    return {_to_upper(c), _to_lower(c)}


def _codepoint(c: int) -> str:
    return "\\U%08x" % c


def _class_text(chars: Set[str], ranges: List[Tuple[int, int]], fold: bool) -> str:
    """
    The inside of a Python character class for C{chars} and C{ranges}
    (with their case variants when C{fold}).
    """
    points = set(map(ord, chars))
    if fold:
        points = set()
        for c in chars:
            points.update(map(ord, _variants(c)))
        for a, b in ranges:
            for p in range(a, b + 1):
                points.update(map(ord, _variants(chr(p))))
        ranges = []
    spans = list(ranges)
    run: List[int] = []
    for p in sorted(points):
        if run and run[1] + 1 == p:
            run[1] = p
        else:
            if run:
                spans.append((run[0], run[1]))
            run = [p, p]
    if run:
        spans.append((run[0], run[1]))
    return "".join(_codepoint(a) if a == b else _codepoint(a) + "-" + _codepoint(b) for a, b in spans)


class _Tdfa:
    """
    regex-tdfa's parser (ReadRegex.hs: p_regex ... p_set_elem), emitting a
    Python expression with the same matches.  Parsec's backtracking is
    reproduced where it matters: a failing alternative that consumed input
    is an error, except inside C{try}.
    """

    def __init__(self, text: str, fold: bool):
        self.t = text
        self.i = 0
        self.fold = fold

    def fail(self, why: str):
        raise GlobError("failed to compile regex: %s (%s)" % (self.t, why))

    def peek(self, k: int = 0) -> Optional[str]:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def parse(self) -> str:
        out = self.regex()
        if self.i != len(self.t):
            self.fail("unexpected %r" % self.t[self.i])
        return out

    def regex(self) -> str:
        branches = [self.branch()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.branch())
        return branches[0] if len(branches) == 1 else "(?:%s)" % "|".join(branches)

    def branch(self) -> str:
        pieces = []
        while True:
            piece = self.piece()
            if piece is None:
                break
            pieces.append(piece)
        if not pieces:
            self.fail("empty branch")
        return "".join(pieces)

    def piece(self) -> Optional[str]:
        c = self.peek()
        if c is None:
            return None
        if c == "^":
            self.i += 1
            atom = "^"
        elif c == "$":
            self.i += 1
            atom = "$"
        elif self.t.startswith("()", self.i):
            self.i += 2
            atom = "(?:)"
        elif c == "(":
            self.i += 1
            inner = self.regex()
            if self.peek() != ")":
                self.fail("missing )")
            self.i += 1
            atom = "(?:%s)" % inner
        elif c == "[":
            self.i += 1
            atom = self.bracket()
        elif c == ".":
            self.i += 1
            atom = "."
        elif c == "{" and not (self.peek(1) or "").isdigit():
            self.i += 1
            atom = self.literal("{")
        elif c == "\\":
            if self.peek(1) is None:
                self.fail("trailing backslash")
            e = self.t[self.i + 1]
            self.i += 2
            atom = _ANCHORS[e] if e in _ANCHORS else self.literal(e)
        elif c not in _SPECIALS:
            self.i += 1
            atom = self.literal(c)
        else:
            return None
        return self.post(atom)

    def post(self, atom: str) -> str:
        c = self.peek()
        if c in ("?", "+", "*"):
            self.i += 1
            return "(?:%s)%s" % (atom, c)
        if c == "{":
            m = re.compile(r"\{([0-9]+)(?:(,)([0-9]*))?\}").match(self.t, self.i)
            if m is not None:
                lo = int(m.group(1))
                hi = m.group(3)
                if not (m.group(2) and hi and int(hi) < lo):
                    self.i = m.end()
                    if not m.group(2):
                        return "(?:%s){%d}" % (atom, lo)
                    return "(?:%s){%d,%s}" % (atom, lo, hi)
        return atom

    def literal(self, c: str) -> str:
        if self.fold and _variants(c) != {c}:
            return "[%s]" % _class_text({c}, [], True)
        return re.escape(c)

    def bracket(self) -> str:
        invert = self.peek() == "^"
        if invert:
            self.i += 1
        chars: Set[str] = set()
        ranges: List[Tuple[int, int]] = []
        initial = self.peek() == "]"
        if initial:
            chars.add("]")
            self.i += 1
        count = 0
        while self.peek() is not None and self.peek() != "]":
            self.element(chars, ranges)
            count += 1
        if self.peek() is None or (not initial and count == 0):
            self.fail("unterminated or empty bracket")
        self.i += 1
        if invert:
            # Multiline: a negated bracket never matches a newline.
            chars.add("\n")
            inside = _class_text(chars, ranges, self.fold)
            return "[^%s]" % inside
        inside = _class_text(chars, ranges, self.fold)
        return "[%s]" % inside if inside else "(?!)"

    def element(self, chars: Set[str], ranges: List[Tuple[int, int]]) -> None:
        t, i = self.t, self.i
        for opener, closer, kind in (("[:", ":]", "class"), ("[=", "=]", "equiv"), ("[.", ".]", "coll")):
            if t.startswith(opener, i):
                j = i + 2
                while j < len(t) and t[j] not in closer:
                    j += 1
                if j > i + 2 and t.startswith(closer, j):
                    name = t[i + 2 : j]
                    self.i = j + 2
                    if kind == "class":
                        chars.update(CLASSES.get(name, ""))
                    elif kind == "equiv":
                        chars.update(name)
                    return
        c = t[i]
        if i + 2 < len(t) and t[i + 1] == "-" and t[i + 2] != "]":
            if ord(t[i + 2]) < ord(c):
                self.fail("reversed range %s-%s" % (c, t[i + 2]))
            ranges.append((ord(c), ord(t[i + 2])))
            self.i = i + 3
            return
        chars.add(c)
        self.i = i + 1


@functools.lru_cache(maxsize=1024)
def compile_glob(glob: str, case_sensitive: bool = True, filepath: bool = True) -> Callable[[str], bool]:
    """
    git-annex's C{compileGlob glob case (GlobFilePath filepath)}: a
    predicate on one string.  C{include=}/C{exclude=} use it
    case-sensitive on file names, C{metadata=} case-insensitive on values.

    @raise GlobError: regex-tdfa could not compile it.
    """
    pattern = _Tdfa(wild_to_regex(glob, filepath), not case_sensitive).parse()
    compiled = re.compile(pattern, re.MULTILINE)
    return lambda value: compiled.search(value) is not None


def match_glob(glob: str, value: str, case_sensitive: bool = True, filepath: bool = True) -> bool:
    return compile_glob(glob, case_sensitive, filepath)(value)
