"""
The git-annex branch's per-repository logs a cluster gateway consults, as
pure functions: C{cluster.log}, C{trust.log}, C{group.log},
C{preferred-content.log} and C{group-preferred-content.log}.

Two line shapes (newest timestamp per item wins, a tie goes to the later
line):
 - old style, C{<uuid> <value…> timestamp=<t>s} (trust, group, preferred
   content); a line without C{timestamp=} counts as oldest;
 - new style, C{<t>s <item> <value…>} (cluster.log, and
   group-preferred-content.log keyed by group name).
"""

from typing import Dict, FrozenSet, Set

from annexrelay.branch.timestamps import parse_timestamp

CLUSTER_LOG = b"cluster.log"
TRUST_LOG = b"trust.log"
GROUP_LOG = b"group.log"
PREFERRED_CONTENT_LOG = b"preferred-content.log"
GROUP_PREFERRED_CONTENT_LOG = b"group-preferred-content.log"
NUMCOPIES_LOG = b"numcopies.log"
REMOTE_LOG = b"remote.log"
MAXSIZE_LOG = b"maxsize.log"
UUID_LOG = b"uuid.log"

ALL = (CLUSTER_LOG, TRUST_LOG, GROUP_LOG, PREFERRED_CONTENT_LOG, GROUP_PREFERRED_CONTENT_LOG, NUMCOPIES_LOG, REMOTE_LOG, MAXSIZE_LOG)

# Trust levels, in git-annex's order (dead < untrusted < semitrusted <
# trusted); a repository trust.log does not mention is semitrusted.
DEAD, UNTRUSTED, SEMITRUSTED, TRUSTED = range(4)
_TRUST_CODES = {b"X": DEAD, b"0": UNTRUSTED, b"?": SEMITRUSTED, b"1": TRUSTED}


def _timestamp(text: bytes) -> float:
    """
    A line's time; a line without one counts as oldest.
    """
    t = parse_timestamp(text)
    return -1.0 if t is None else t


def old_style(content: bytes) -> Dict[bytes, bytes]:
    """
    C{<uuid> <value> timestamp=<t>}: the newest value per UUID.
    """
    newest = {}
    for line in content.splitlines():
        item, _, rest = line.partition(b" ")
        if not item:
            continue
        value, sep, ts = rest.rpartition(b" timestamp=")
        t = _timestamp(ts) if sep else -1.0
        if not sep:
            value = rest
        old = newest.get(item)
        if old is None or t >= old[0]:
            newest[item] = (t, value)
    return {k: v for k, (t, v) in newest.items()}


def new_style(content: bytes) -> Dict[bytes, bytes]:
    """
    C{<t>s <item> <value>}: the newest value per item.
    """
    newest = {}
    for line in content.splitlines():
        parts = line.split(b" ", 2)
        if len(parts) < 2:
            continue
        t = _timestamp(parts[0])
        if t < 0:
            continue
        value = parts[2] if len(parts) == 3 else b""
        old = newest.get(parts[1])
        if old is None or t >= old[0]:
            newest[parts[1]] = (t, value)
    return {k: v for k, (t, v) in newest.items()}


def descriptions(content: bytes) -> Dict[bytes, str]:
    """
    Each repository's description, from C{uuid.log}.
    """
    return {u: d.decode("utf-8", "replace") for u, d in old_style(content).items()}


def cluster_nodes(content: bytes, cluster: bytes) -> FrozenSet[bytes]:
    """
    The node UUIDs C{cluster.log} lists for C{cluster}.
    """
    return frozenset(new_style(content).get(cluster, b"").split())


def dead(content: bytes) -> Set[bytes]:
    """
    The UUIDs C{trust.log} marks dead (C{X}).
    """
    return {u for u, level in old_style(content).items() if level.strip() == b"X"}


def trust_levels(content: bytes) -> Dict[bytes, int]:
    """
    The trust level per UUID that C{trust.log} sets (L{DEAD} ... L{TRUSTED}).
    """
    return {u: _TRUST_CODES.get(level.strip(), SEMITRUSTED) for u, level in old_style(content).items()}


def numcopies(content: bytes, default: int = 1) -> int:
    """
    The global C{numcopies} (C{git annex numcopies}): C{<t>s <n>}, newest
    wins.
    """
    best = None
    for line in content.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            t = _timestamp(parts[0])
            if best is None or t >= best[0]:
                best = (t, int(parts[1]))
    return best[1] if best is not None else default


def groups(content: bytes) -> Dict[bytes, Set[str]]:
    """
    Group membership per UUID, from C{group.log}.
    """
    return {u: set(v.decode("utf-8", "replace").split()) for u, v in old_style(content).items()}


def preferred_content(content: bytes) -> Dict[bytes, str]:
    """
    The preferred content expression per UUID (C{git annex wanted}); an
    empty expression means none is set.
    """
    return {u: v.decode("utf-8", "replace").strip() for u, v in old_style(content).items()}


def group_preferred_content(content: bytes) -> Dict[str, str]:
    """
    The expression per group (C{git annex groupwanted}).
    """
    return {g.decode("utf-8", "replace"): v.decode("utf-8", "replace").strip() for g, v in new_style(content).items()}


def remote_config(content: bytes) -> Dict[bytes, Dict[str, str]]:
    """
    Each special remote's configuration (C{remote.log}: C{<uuid> k=v ...}).
    """
    out = {}
    for u, v in old_style(content).items():
        fields = {}
        for word in v.decode("utf-8", "replace").split():
            k, sep, val = word.partition("=")
            if sep:
                fields[k] = val
        out[u] = fields
    return out


def maxsizes(content: bytes) -> Dict[bytes, int]:
    """
    C{git annex maxsize}: bytes per UUID (C{<t>s <uuid> <bytes>}).
    """
    out = {}
    for u, v in new_style(content).items():
        if v.strip().isdigit():
            out[u] = int(v.strip())
    return out
