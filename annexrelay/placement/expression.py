"""
git-annex preferred content expressions, parsed and evaluated as pure
functions: which nodes of a cluster want a key that a client uploads, as
git-annex's gateway would decide it.

Evaluated as git-annex 10.20261026 does: C{anything}, C{nothing},
C{include=}, C{exclude=} (on the associated file, with git-annex's own
globs, L{annexrelay.placement.glob}; without a file, include is false and
exclude true), C{largerthan=}, C{smallerthan=}, C{copies=N},
C{copies=GROUP:N}, C{copies=TRUSTLEVEL:N} (and C{TRUSTLEVEL+}; every
C{copies=} counts the holders that are not dead, untrusted ones included),
C{lackingcopies=}, C{approxlackingcopies=}, C{inallgroup=},
C{onlyingroup=}, C{present}, C{securehash}, C{inbackend=}, C{unused}
(never, for a key being stored), C{metadata=FIELD=GLOB} (and C{<}, C{<=},
C{>}, C{>=}), C{inpreferreddir} (the node's C{preferreddir}, default
C{public}), C{balanced=GROUP[:N]} and C{fullybalanced=GROUP[:N]}
(git-annex's keyed HMAC picker, among the group's nodes the key fits in
under their maxsize), C{sizebalanced=}/C{fullysizebalanced=} (the nodes
with the largest proportion of their maxsize free), C{standard} and
C{groupwanted} (only for a repository in exactly one standard group, or
with exactly one group that has an expression), C{and}/C{or}/C{not},
parentheses, adjacent terms and-ed, all as git-annex's matcher reads them
(L{annexrelay.placement.syntax.parse}: left to right, no precedence).

An expression git-annex cannot parse (an unknown term, a bad number, size
or field) is treated as git-annex treats it: the repository wants only
what it already has ("present").  So is, deliberately, one whose
evaluation reaches a glob git-annex cannot compile: git-annex's gateway
fails every PUT to the cluster then.

Everything needed to evaluate comes in a L{Subject}.  Nothing here reads
git.
"""


import re
from typing import Callable, Dict, FrozenSet, List, NamedTuple, Optional, Set, Tuple

from annexrelay.placement.glob import GlobError, match_glob
from annexrelay.placement.syntax import balance_spec, parse
from annexrelay.placement.values import (  # noqa: F401 (STANDARD, parse_size: part of this module's API)
    LEVELS as _LEVELS,
    SEMITRUSTED,
    STANDARD,
    ParseError,
    balanced_pick,
    has_space,
    metadata_matcher,
    parse_size,
    size_balanced_pick,
)


class Subject(NamedTuple):
    """
    What a preferred content expression is evaluated against.

    @ivar file: the associated file (repository-relative), or None.
    @ivar size: the key's size, or None if the key does not say.
    @ivar holders: UUIDs of the repositories that have the key.
    @ivar groups: a callable from a UUID to its set of groups.
    @ivar me: the UUID of the repository whose preference this is.
    @ivar groupwanted: a callable from a group to its expression text.
    @ivar key: the key.
    @ivar members: a callable from a group to the UUIDs in it.
    @ivar trust: a callable from a UUID to its trust level (0 dead .. 3
        trusted).
    @ivar numcopies: the global numcopies.
    """

    file: Optional[str]
    size: Optional[int]
    holders: FrozenSet[bytes]
    groups: Callable[[bytes], Set[str]]
    me: bytes
    groupwanted: Callable[[str], Optional[str]] = lambda g: None
    key: bytes = b""
    members: Callable[[str], FrozenSet[bytes]] = lambda g: frozenset()
    trust: Callable[[bytes], int] = lambda u: SEMITRUSTED
    numcopies: int = 1
    metadata: Dict[str, Set[str]] = {}
    preferreddir: str = "public"
    sizes: Dict[bytes, int] = {}
    maxsizes: Dict[bytes, int] = {}


# Backends whose hashes git-annex counts as cryptographically secure.
_SECURE = re.compile(rb"^(SHA224|SHA256|SHA384|SHA512|SHA3_\d+|SKEIN\d+|BLAKE2[A-Z]*\d+)E?$")


class Expression:
    """
    A parsed preferred content expression.

    @ivar unknown: the terms this module does not evaluate (each counts as
        true, so the repository is taken to want the key).
    """

    def __init__(self, text: str, expandStandard: bool = True, expandGroupwanted: bool = True):
        self.text = text
        self.tree = parse(text)
        self.unknown: Set[str] = set()
        self.expandStandard = expandStandard
        self.expandGroupwanted = expandGroupwanted

    def wants(self, subject: Subject) -> bool:
        """
        Whether the repository wants the key.  An expression with a term not
        evaluated here counts as wanting it (see L{unknown}).
        """
        result = bool(self._eval(self.tree, subject))
        return True if self.unknown else result

    def _eval(self, node, s: Subject):
        kind = node[0]
        if kind == "any":
            return True
        if kind == "and":
            return self._eval(node[1], s) and self._eval(node[2], s)
        if kind == "or":
            return self._eval(node[1], s) or self._eval(node[2], s)
        if kind == "not":
            return not self._eval(node[1], s)
        return self._term(node[1], node[2], s)

    def _term(self, name: str, value: str, s: Subject) -> bool:
        if name == "anything":
            return True
        if name in ("nothing", "unused"):
            # unused: a key a client is storing is in use.
            return False
        if name == "present":
            return s.me in s.holders
        if name in ("include", "exclude"):
            # Without an associated file nothing is included, and so
            # nothing is excluded (git-annex: "not" of a glob match).
            matched = s.file is not None and match_glob(value, s.file)
            return matched if name == "include" else not matched
        if name in ("largerthan", "smallerthan"):
            if s.size is None:
                return False
            limit = parse_size(value)
            return s.size > limit if name == "largerthan" else s.size < limit
        if name == "copies":
            return self._copies(value, s)
        if name in ("lackingcopies", "approxlackingcopies"):
            counted = [u for u in s.holders if s.trust(u) > _LEVELS["untrusted"]]
            return s.numcopies - len(counted) >= int(value)
        if name == "inallgroup":
            # Members include dead repositories (git-annex's group map
            # does), which are never counted as holders.
            return s.members(value) <= _alive(s)
        if name == "onlyingroup":
            alive = _alive(s)
            return bool(alive) and all(value in s.groups(u) for u in alive)
        if name == "securehash":
            return _SECURE.match(s.key.split(b"-", 1)[0]) is not None
        if name == "inpreferreddir":
            # git-annex: the directory is one of the components of the
            # file's directory (split keeping each separator, so only the
            # last can equal it).
            if s.file is None:
                return False
            parent = s.file.rsplit("/", 1)[0] if "/" in s.file else ""
            return parent.rsplit("/", 1)[-1] == s.preferreddir if parent else False
        if name == "metadata":
            field, matches = metadata_matcher(value)
            return any(matches(v) for v in s.metadata.get(field, ()))
        if name == "inbackend":
            return s.key.split(b"-", 1)[0] == value.encode()
        if name in ("balanced", "fullybalanced", "sizebalanced", "fullysizebalanced"):
            group, n = balance_spec(value, name)
            if not name.startswith("fully"):
                # As git-annex: present, or too few copies in the group
                # and picked.
                if s.me in s.holders:
                    return True
                if sum(1 for u in _alive(s) if group in s.groups(u)) >= n:
                    return False
            members = s.members(group)
            if name.endswith("sizebalanced"):
                return s.me in size_balanced_pick(members, s.holders, s.sizes, s.maxsizes, s.size, n)
            candidates = frozenset(u for u in members if self._hasSpace(u, s))
            return s.me in balanced_pick(members, candidates, s.key, n)
        if name in ("standard", "groupwanted"):
            return self._expand(name, s)
        self.unknown.add(name)
        return True

    @staticmethod
    def _hasSpace(u: bytes, s: Subject) -> bool:
        """
        Whether C{u} can take the key within its maxsize (a repository
        without one always can).
        """
        if u not in s.maxsizes:
            return True
        return has_space(s.size or 0, u in s.holders, s.sizes.get(u, 0), s.maxsizes[u])

    def _copies(self, value: str, s: Subject) -> bool:
        """
        git-annex's C{limitCopies}: the holders the location log names,
        less the dead (C{Remote.keyLocations}), untrusted ones counted;
        C{copies=dead:N} so never holds for N > 0.
        """
        parts = value.split(":")
        n = int(parts[-1])
        alive = _alive(s)
        if len(parts) == 1:
            return len(alive) >= n
        spec = parts[0]
        level = spec[:-1] if spec.endswith("+") else spec
        if level in _LEVELS:
            # A trust level, even where a group has the same name.
            want = _LEVELS[level]
            if spec.endswith("+"):
                return sum(1 for u in alive if s.trust(u) >= want) >= n
            return sum(1 for u in alive if s.trust(u) == want) >= n
        return sum(1 for u in alive if spec in s.groups(u)) >= n

    def _expand(self, name: str, s: Subject) -> bool:
        """
        C{standard}: the expression of the repository's standard group, if
        it is in exactly one; C{groupwanted}: that of its one group that has
        an expression.  Otherwise, and where git-annex does not expand them
        (neither inside C{standard}, nor C{groupwanted} inside
        C{groupwanted}), only what the repository already has.
        """
        allowed = self.expandStandard if name == "standard" else self.expandGroupwanted
        mine = sorted(s.groups(s.me))
        if name == "standard":
            texts = [STANDARD[g] for g in mine if g in STANDARD]
        else:
            texts = [t for t in (s.groupwanted(g) for g in mine) if t]
        if not allowed or len(texts) != 1:
            return s.me in s.holders
        try:
            sub = Expression(texts[0], expandStandard=name == "groupwanted", expandGroupwanted=False)
        except ParseError:
            return s.me in s.holders
        wanted = sub.wants(s)
        self.unknown |= sub.unknown
        return wanted


def _alive(s: Subject) -> FrozenSet[bytes]:
    """
    The holders git-annex counts for copies=, inallgroup=, onlyingroup= and
    the balanced terms' copies: all but the dead.
    """
    return frozenset(u for u in s.holders if s.trust(u) != _LEVELS["dead"])


def wanting(expressions: Dict[bytes, Optional[str]], subject_for: Callable[[bytes], Subject]) -> Tuple[List[bytes], Dict[bytes, Set[str]]]:
    """
    Which repositories want the key: those whose expression is true, or who
    have none, or whose expression cannot be parsed and that have it.

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
            # As git-annex: an expression it cannot parse wants only what
            # the repository already has.
            unknown[uuid] = {"unparsable expression"}
            if uuid in subject_for(uuid).holders:
                want.append(uuid)
            continue
        subject = subject_for(uuid)
        try:
            wanted = expr.wants(subject)
        except GlobError:
            # git-annex's gateway dies here and fails the PUT; annexrelay
            # lets this node want only what it has, and the others decide.
            unknown[uuid] = {"uncompilable glob"}
            if uuid in subject.holders:
                want.append(uuid)
            continue
        if wanted:
            want.append(uuid)
        if expr.unknown:
            unknown[uuid] = set(expr.unknown)
    return want, unknown
