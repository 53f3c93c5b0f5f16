"""
The values preferred content expressions refer to, as git-annex defines
them: the standard groups' expressions, sizes, trust levels, the balanced
pickers (by key, and by room under maxsize) and metadata matchers.  Pure
functions and tables.
"""

import hashlib
import hmac
import re
from typing import Dict, FrozenSet, List, Optional

from annexrelay.placement.glob import compile_glob


class ParseError(Exception):
    pass


# The standard groups' expressions, as git-annex 10.20261026 lists them
# (git annex vicfg).  "public" uses inpreferreddir, not evaluated yet: such
# a repository counts as wanting the key.
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


def parse_size(text: str) -> int:
    m = _SIZE.match(text)
    if m is None or m.group(2).lower() not in _UNITS:
        raise ParseError("not a size: %r" % (text,))
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


# Trust levels (as in annexrelay.branch.uuidlogs): dead < untrusted <
# semitrusted < trusted.
LEVELS = {"dead": 0, "untrusted": 1, "semitrusted": 2, "trusted": 3}
SEMITRUSTED = 2



def balanced_pick(group: FrozenSet[bytes], candidates: FrozenSet[bytes], key: bytes, n: int) -> List[bytes]:
    """
    git-annex's balanced picker: an HMAC-SHA256 of the key, keyed by the
    group's UUIDs in ascending order, read as a big-endian number, picks
    C{n} consecutive candidates (ascending, wrapping round).  The choice
    for a key never changes while the group stays the same.
    """
    if not candidates or n <= 0:
        return []
    mac = hmac.new(b"".join(sorted(group)), key, hashlib.sha256).digest()
    start = int.from_bytes(mac, "big")
    ordered = sorted(candidates)
    return [ordered[(start + i) % len(ordered)] for i in range(min(n, len(ordered)))]


def has_space(keysize: int, inrepo: bool, size: int, maxsize: int) -> bool:
    """
    git-annex's C{repoHasSpace} (Limit.hs): a repository that has the key
    must be within its maxsize, one that lacks it must stay within it
    after taking it.
    """
    return size <= maxsize if inrepo else size + keysize <= maxsize


def size_balanced_pick(
    candidates: FrozenSet[bytes], holders: FrozenSet[bytes], sizes: Dict[bytes, int], maxsizes: Dict[bytes, int], keysize: Optional[int], n: int
) -> List[bytes]:
    """
    git-annex's C{filterCandidatesFullySizeBalanced} (Limit.hs), behind
    C{sizebalanced=} and C{fullysizebalanced=}: among the candidates that
    have a maxsize above 0 and room for the key, the C{n} with the largest
    proportion of their maxsize free (not counting the key where they have
    it).  Ties go to the larger UUID: git-annex sorts the candidates
    (ascending UUIDs) stably by that proportion and takes from the end.  A
    candidate without a maxsize is never picked.  Ranking by free bytes
    instead sent nearly every key to the node with the largest maxsize.
    """
    keysize = keysize or 0
    ranked = []
    for u in sorted(candidates):
        if u not in maxsizes:
            continue
        maxsize, size, inrepo = maxsizes[u], sizes.get(u, 0), u in holders
        if maxsize > 0 and has_space(keysize, inrepo, size, maxsize):
            free = maxsize - size + (keysize if inrepo else 0)
            ranked.append((float(free) / float(maxsize), u))
    ranked.sort(key=lambda r: r[0])
    return [u for _, u in reversed(ranked)][:n]


_FIELD = re.compile(r"^[^\W_][\w.-]*$")


def metadata_matcher(spec: str):
    """
    C{field=glob}, or C{field<N}, C{field<=N}, C{field>N}, C{field>=N}
    (as numbers when both sides are, else as text), as git-annex's
    C{parseMetaDataMatcher} reads them.  The glob is git-annex's,
    case-insensitive and with no path rules (L{compile_glob}), compiled
    when first matched against a value, as in git-annex (where a glob it
    cannot compile fails only once it is used).

    @return: C{(field lower-cased, predicate on one value)}.
    @raise ParseError: the field name is not one git-annex allows.
    """
    import operator

    m = re.match(r"^([^=<>]*)(.*)$", spec, re.S)
    field, rest = m.group(1), m.group(2)
    if not _FIELD.match(field):
        raise ParseError("Illegal metadata field name, %r" % (field,))
    ops = [("<=", operator.le), (">=", operator.ge), ("<", operator.lt), (">", operator.gt)]
    for op, fn in ops:
        if rest.startswith(op):
            want = rest[len(op) :]

            def compare(value, want=want, fn=fn):
                try:
                    return fn(float(value), float(want))
                except ValueError:
                    return fn(value, want)

            return field.lower(), compare
    glob = rest[1:] if rest.startswith("=") else ""
    return field.lower(), lambda value: compile_glob(glob, False, False)(value)
