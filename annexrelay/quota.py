"""
Quotas (C{--quota REPO=SIZE}), as pure functions: sizes read as git-annex
reads them, the option's value, and the decision on one upload.

Sizes are read as C{git annex maxsize} (git-annex's C{readSize
dataUnits}) reads them, checked against git-annex 10.20261026: a number
(digits, an optional C{.digits} fraction and C{e}/C{E} exponent, or a
C{0x}/C{0o} integer), optional whitespace, then an optional unit, the
letters that follow (whatever comes after them is ignored, as
git-annex ignores it): none is bytes; an abbreviation (C{kB}, C{MiB},
C{Gbit}), a name (C{megabyte}) or its plural (C{megabytes}), or an
abbreviation without its C{B} (C{k}, C{Mi}), all case-insensitive, the
decimal units first (so C{kb} is a kilobyte, not a kilobit).  The
result is rounded to whole bytes, half to even, as git-annex rounds.
Unlike git-annex, the arithmetic is exact (git-annex multiplies in
floating point: its C{1 YB} is 999999999999999983222784), and a sign,
C{NaN} and C{Infinity} are refused.
"""

import re
from fractions import Fraction
from typing import Dict, NamedTuple, Optional

# (abbreviation, name, bytes), in git-annex's order: storage (decimal),
# memory (binary), bandwidth (bits).
_SI = ["k", "M", "G", "T", "P", "E", "Z", "Y", "R", "Q"]
_SI_NAMES = ["kilo", "mega", "giga", "tera", "peta", "exa", "zetta", "yotta", "ronna", "quetta"]
_BINARY_NAMES = ["kibi", "mebi", "gibi", "tebi", "pebi", "exbi", "zebi", "yobi"]

UNITS = (
    [(p + "B", n + "byte", Fraction(1000) ** (i + 1)) for i, (p, n) in reversed(list(enumerate(zip(_SI, _SI_NAMES))))]
    + [("B", "byte", Fraction(1))]
    + [
        ((p if p != "k" else "K") + "iB", n + "byte", Fraction(1024) ** (i + 1))
        for i, (p, n) in reversed(list(enumerate(zip(_SI, _BINARY_NAMES))))
    ]
    + [(p + "bit", n + "bit", Fraction(1000) ** (i + 1) / 8) for i, (p, n) in reversed(list(enumerate(zip(_SI[:8], _SI_NAMES[:8]))))]
)

_NUMBER = re.compile(r"\s*(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?))")
_UNIT = re.compile(r"\s*([^\W\d_]*)")
# Beyond this exponent a size is absurd (and a huge exponent would take
# long to compute exactly).
_MAX_EXPONENT = 100


def _unit(name: str) -> Optional[Fraction]:
    if not name:
        return Fraction(1)
    v = name.lower()
    for abbrev, full, size in UNITS:
        a, n = abbrev.lower(), full.lower()
        if v in (a, n, n + "s") or a == v + "b":
            return size
    return None


def _round(x: Fraction) -> int:
    # Python's round() of a Fraction is half to even, as Haskell's.
    return round(x)


def parse_size(text: str) -> int:
    """
    C{text} as a number of bytes.

    @raise ValueError: with what is wrong, when it is no size.
    """
    m = _NUMBER.match(text)
    if m is None:
        raise ValueError("%r is not a size (a number of bytes, or with a unit: 50GB, 1.5 GiB, 100 megabytes)" % (text,))
    hexa, octal, decimal = m.groups()
    if hexa is not None:
        number = Fraction(int(hexa, 16))
    elif octal is not None:
        number = Fraction(int(octal, 8))
    else:
        mantissa, _, exponent = decimal.lower().partition("e")
        if exponent and abs(int(exponent)) > _MAX_EXPONENT:
            raise ValueError("%r is not a sensible size" % (text,))
        number = Fraction(mantissa) * (Fraction(10) ** int(exponent or "0"))
    u = _UNIT.match(text, m.end())
    unit = _unit(u.group(1))
    if unit is None:
        raise ValueError("%r: unknown unit %r (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB, megabytes, ...)" % (text, u.group(1)))
    return _round(number * unit)


def format_size(n: int) -> str:
    """
    C{n} bytes for a person: C{512 bytes}, C{1.5 MB}, C{50 GB}.
    """
    if n < 1000:
        return "%d byte%s" % (n, "" if n == 1 else "s")
    for abbrev, _, size in UNITS:
        if abbrev.endswith("iB") or abbrev.endswith("bit") or abbrev == "B":
            continue
        if n >= size:
            text = "%.2f" % (Fraction(n) / size,)
            return "%s %s" % (text.rstrip("0").rstrip("."), abbrev)
    raise AssertionError(n)  # pragma: no cover


class QuotaOption(NamedTuple):
    repository: str
    size: int


def parse_option(value: str) -> QuotaOption:
    """
    C{--quota REPO=SIZE}: the repository's path as given, and the size.

    @raise ValueError: when it is not that.
    """
    repo, sep, size = value.rpartition("=")
    if not sep or not repo:
        raise ValueError("--quota takes REPO=SIZE (the repository's path, a size: 50GB), not %r" % (value,))
    return QuotaOption(repo, parse_size(size))


def used_by(sizes: Dict[bytes, int], uuids) -> int:
    """
    What a repository stores: the sum of what each of its C{uuids} (the
    repository itself, its proxied remotes, its clusters' nodes) holds.
    """
    return sum(sizes.get(u, 0) for u in set(uuids))


def refusal(limit: Optional[int], used: int, size: Optional[int]) -> Optional[str]:
    """
    Whether an upload of C{size} bytes (None: a key that does not record
    its size) may go to a repository that stores C{used} bytes under a
    quota of C{limit} bytes (None: no quota).

    @return: None when it may, else the error the client is shown.  A key
        without a size is let in while the repository is under its quota.
    """
    if limit is None:
        return None
    if size is None:
        if used < limit:
            return None
        return "over quota: the repository stores %s, its quota is %s" % (format_size(used), format_size(limit))
    if used + size <= limit:
        return None
    return "over quota: the repository stores %s of its %s quota; %s more does not fit" % (
        format_size(used),
        format_size(limit),
        format_size(size),
    )
