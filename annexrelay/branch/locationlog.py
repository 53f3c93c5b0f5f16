"""
The git-annex location log, as pure functions: where a key's log lives in
the git-annex branch and in the journal, how its lines read, and how a
change is written the way git-annex writes it.

Format (one line per entry): C{<timestamp>s <status> <uuid>}, status C{1}
present, C{0} absent, C{X} dead.  The newest timestamp per UUID wins (a tie
goes to the later line).  A writer whose change is not newer than what is
there uses the old timestamp plus one second, and rewrites the file
compacted: one line per UUID, sorted by UUID.
"""

import hashlib
from typing import Dict, List, NamedTuple, Optional

from annexrelay.branch.timestamps import parse_timestamp


class Entry(NamedTuple):
    timestamp: float
    status: bytes
    uuid: bytes
    line: bytes


def key_size(key: bytes) -> Optional[int]:
    """
    The size a key records (C{-sN} field), or None.
    """
    fields = key.split(b"--", 1)[0]
    for part in fields.split(b"-")[1:]:
        if part[:1] == b"s" and part[1:].isdigit():
            return int(part[1:])
    return None


def nonchunk(key: bytes) -> bytes:
    """
    The key without its chunk fields (C{-S...}, C{-C...}).
    """
    fields, sep, name = key.partition(b"--")
    parts = fields.split(b"-")
    kept = [parts[0]] + [p for p in parts[1:] if p[:1] not in (b"S", b"C")]
    return b"-".join(kept) + sep + name


def hashdirlower(key: bytes, onelevel: bool = False) -> bytes:
    h = hashlib.md5(nonchunk(key)).hexdigest().encode()
    if onelevel:
        return h[:3] + b"/"
    return h[:3] + b"/" + h[3:6] + b"/"


_ESCAPES = {0x26: b"&a", 0x25: b"&s", 0x3A: b"&c", 0x2F: b"%"}


def keyfile(key: bytes) -> bytes:
    if not any(c in key for c in b"&%:/"):
        return key
    return b"".join(_ESCAPES.get(c, bytes([c])) for c in key)


def unkeyfile(name: bytes) -> bytes:
    """
    The key a location log file name (without C{.log}) stands for: the
    inverse of L{keyfile}.
    """
    out = bytearray()
    i = 0
    while i < len(name):
        c = name[i : i + 1]
        if c == b"%":
            out += b"/"
        elif c == b"&" and i + 1 < len(name) and name[i + 1 : i + 2] in (b"a", b"s", b"c"):
            out += {b"a": b"&", b"s": b"%", b"c": b":"}[name[i + 1 : i + 2]]
            i += 1
        else:
            out += c
        i += 1
    return bytes(out)


def log_path(key: bytes, onelevel: bool = False) -> bytes:
    """
    The path of C{key}'s location log in the git-annex branch.
    """
    return hashdirlower(key, onelevel) + keyfile(key) + b".log"


def metadata_path(key: bytes, onelevel: bool = False) -> bytes:
    """
    The path of C{key}'s metadata log in the git-annex branch.
    """
    return hashdirlower(key, onelevel) + keyfile(key) + b".log.met"


def journal_name(path: bytes) -> bytes:
    """
    The file name git-annex's journal uses for branch file C{path}.
    """
    return path.replace(b"_", b"__").replace(b"/", b"_")


def parse(content: bytes) -> List[Entry]:
    entries = []
    for line in content.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        ts = parse_timestamp(parts[0])
        if ts is None:
            continue
        entries.append(Entry(ts, parts[1], parts[2], line))
    return entries


def current(entries: List[Entry]) -> Dict[bytes, Entry]:
    """
    The newest entry per UUID (a tie goes to the later line).
    """
    newest: Dict[bytes, Entry] = {}
    for e in entries:
        old = newest.get(e.uuid)
        if old is None or e.timestamp >= old.timestamp:
            newest[e.uuid] = e
    return newest


def holders(content: bytes) -> List[bytes]:
    """
    The UUIDs whose newest status is present.
    """
    return sorted(u for u, e in current(parse(content)).items() if e.status == b"1")


def update(content: bytes, changes: Dict[bytes, bool], now: int) -> Optional[bytes]:
    """
    Apply C{changes} (uuid -> present) at time C{now} (whole seconds).

    @return: the new file content, compacted, or None if nothing changes.
    """
    newest = current(parse(content))
    changed = False
    for uuid, present in changes.items():
        status = b"1" if present else b"0"
        old = newest.get(uuid)
        if old is not None and old.status == status:
            continue
        ts = now
        if old is not None and old.timestamp >= ts:
            ts = int(old.timestamp) + 1
        newest[uuid] = Entry(float(ts), status, uuid, b"%ds %s %s" % (ts, status, uuid))
        changed = True
    if not changed:
        return None
    return b"".join(newest[u].line + b"\n" for u in sorted(newest))


# The longest file name the journal (and most file systems) can hold.
NAME_MAX = 255
# The bytes no key may hold (deleted by bytes.translate: one C loop, as
# every request checks its key).
_CONTROL = bytes(range(0x20)) + b"\x7f"


def unrecordable(key: bytes) -> Optional[str]:
    """
    Why C{key} cannot have a location log, or None if it can: a control
    character (NUL, CR, ...) cannot be named in git's line-based plumbing
    or in a journal file, and a key whose log would need a journal file
    name longer than L{NAME_MAX} bytes cannot be journaled.  git-annex makes
    no such keys; a client that sends one gets an error, and nobody else's
    records are touched.
    """
    if not key:
        return "empty key"
    if key.translate(None, _CONTROL) != key:
        return "key contains a control character"
    # The journal name of its log: "xxx_yyy_" + the escaped key ("_"
    # doubled) + ".log"; worked out without hashing, as every request
    # checks it.
    if 8 + len(keyfile(key)) + key.count(b"_") + 4 > NAME_MAX:
        return "key is too long (%d bytes)" % (len(key),)
    return None
