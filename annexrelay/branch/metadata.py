"""
git-annex's per-key metadata log (C{<hashdir><key>.log.met}), as pure
functions: the metadata currently set on a key.

A line is C{<timestamp>s field +value -value field2 +value ...}: each
value is set (C{+}) or unset (C{-}); a value with white space, or one
starting with C{!}, is written C{!} followed by its base64.  For each field
and value, the newest line that mentions it decides whether it is set.
Field names are case-insensitive.
"""

import base64
import binascii
from typing import Dict, Set

from annexrelay.branch.timestamps import parse_timestamp


def _value(word: bytes):
    if len(word) < 1 or word[:1] not in (b"+", b"-"):
        return None
    isset = word[:1] == b"+"
    v = word[1:]
    if v.startswith(b"!"):
        try:
            v = base64.b64decode(v[1:], validate=True)
        except (binascii.Error, ValueError):
            return None
    return isset, v.decode("utf-8", "replace")


def current(content: bytes) -> Dict[str, Set[str]]:
    """
    Field (lower-cased) -> the values currently set.
    """
    lines = []
    for n, line in enumerate(content.splitlines()):
        words = line.split()
        if not words:
            continue
        ts = parse_timestamp(words[0])
        if ts is None:
            continue
        lines.append((ts, n, words[1:]))
    state: Dict[str, Dict[str, bool]] = {}
    for _, _, words in sorted(lines):
        field = None
        for w in words:
            v = _value(w)
            if v is None:
                field = w.decode("utf-8", "replace").lower()
                continue
            if field is not None:
                state.setdefault(field, {})[v[1]] = v[0]
    return {f: {v for v, isset in vs.items() if isset} for f, vs in state.items() if any(vs.values())}
