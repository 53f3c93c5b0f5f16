"""
Where git-annex keeps things in a bare repository's annex, and which
repositories annexrelay may store into itself; pure functions.

As git-annex 10 lays a bare repository out (its C{Annex.Locations},
C{Annex.DirHashes}, C{Logs.Transfer}):

 - an object is C{annex/objects/<hashdirlower>/<keyfile>/<keyfile>}; a
   bare repository that was once not bare may hold it under the mixed-case
   hash instead (C{<hashdirmixed>}), which git-annex checks second;
 - a partly received object is C{annex/tmp/<keyfile>}, resumed from its
   size;
 - a download of a key into the repository holds the POSIX lock on
   C{annex/transfer/download/lck/lck.<keyfile>} (any remote) and on
   C{annex/transfer/download/<uuid>/lck.<keyfile>} (the sender's UUID);
   git-annex refuses a second download of the key while they are held;
 - a download that failed leaves a record,
   C{annex/transfer/failed/download/<uuid>/<keyfile>}, which the next
   download of the key from that UUID removes once it succeeds.
"""

import hashlib
import os
from typing import Dict, List, NamedTuple, Optional

from annexrelay.branch.locationlog import hashdirlower, keyfile, nonchunk
from annexrelay.quota import parse_size

_MIXED_CHARS = b"0123456789zqjxkmvwgpfZQJXKMVWGPF"

# annex.diskreserve's default (git-annex: 100 megabytes).
DEFAULT_DISK_RESERVE = 100 * 1000 * 1000

# Repository versions whose bare layout and content modes are the ones
# above (v8 and later: no writable content files unless shared).
VERSIONS = ("8", "9", "10")

# Settings under which git-annex stores differently than written here; a
# node that has one is served by its git-annex-shell.
_DIFFERENT = {
    "core.sharedrepository": "core.sharedRepository is set (group modes)",
    "annex.freezecontent-command": "annex.freezecontent-command is set",
    "annex.thawcontent-command": "annex.thawcontent-command is set",
    "annex.dbdir": "annex.dbdir is set",
}
_FLAGS_OFF = {
    "annex.crippledfilesystem": "annex.crippledfilesystem is set",
    "annex.securehashesonly": "annex.securehashesonly is set",
}


def hashdirmixed(key: bytes) -> bytes:
    """
    git-annex's mixed-case two-level hash directory of C{key} (C{Xx/Yy/}),
    as C{hashDirMixed}: the MD5 of the key read as little-endian 32-bit
    words, five bits at a time, in swapped pairs.
    """
    digest = hashlib.md5(nonchunk(key)).digest()
    word = int.from_bytes(digest[:4], "little")
    chars = [_MIXED_CHARS[(word >> (6 * x)) & 31] for x in range(8)]
    swapped = []
    for i in range(0, 8, 2):
        swapped += [chars[i + 1], chars[i]]
    s = bytes(swapped[:4])
    return s[:2] + b"/" + s[2:4] + b"/"


def object_paths(gitDir: bytes, key: bytes) -> List[bytes]:
    """
    Where C{key}'s object may be in the bare repository at C{gitDir}, the
    place new content goes first.
    """
    kf = keyfile(key)
    objects = os.path.join(gitDir, b"annex", b"objects")
    return [os.path.join(objects, h + kf, kf) for h in (hashdirlower(key), hashdirmixed(key))]


def tmp_path(gitDir: bytes, key: bytes) -> bytes:
    return os.path.join(gitDir, b"annex", b"tmp", keyfile(key))


class TransferFiles(NamedTuple):
    lock: bytes  # annex/transfer/download/lck/lck.<keyfile>
    uuidLock: bytes  # annex/transfer/download/<uuid>/lck.<keyfile>


def transfer_files(gitDir: bytes, senderUUID: bytes, key: bytes) -> TransferFiles:
    kf = keyfile(key)
    top = os.path.join(gitDir, b"annex", b"transfer", b"download")
    return TransferFiles(os.path.join(top, b"lck", b"lck." + kf), os.path.join(top, senderUUID, b"lck." + kf))


def failed_transfer_file(gitDir: bytes, senderUUID: bytes, key: bytes) -> bytes:
    """
    git-annex's record of a failed download of C{key} from C{senderUUID}.
    """
    return os.path.join(gitDir, b"annex", b"transfer", b"failed", b"download", senderUUID, keyfile(key))


def _true(values) -> bool:
    return bool(values) and values[-1].lower() in ("true", "yes", "on", "1", "")


def refusal(config: Dict[str, list], uuid: bytes) -> Optional[str]:
    """
    Why annexrelay does not store into this repository itself (its git
    config C{config}: L{annexrelay.repo.read_config}), or None: it must be a bare
    repository of version 8 to 10 with annex UUID C{uuid} and none of the
    settings that make git-annex store differently (shared modes, freeze
    hooks, a crippled filesystem, secure hashes only, C{annex.verify=false},
    any C{annex.tune.*}).
    """
    get = lambda name: config.get(name, [])
    if not _true(get("core.bare")):
        return "it is not a bare repository (a work tree's unlocked files need git-annex)"
    have = get("annex.uuid")
    if not have or have[-1].encode("utf-8", "surrogateescape") != uuid:
        return "its annex.uuid is not %s" % (uuid.decode("ascii", "replace"),)
    version = get("annex.version")
    if not version or version[-1] not in VERSIONS:
        return "its annex.version is %s, not 8 to 10" % (version[-1] if version else "unset",)
    for name, why in _DIFFERENT.items():
        values = get(name)
        if values and values[-1].lower() not in ("false", "umask", "0", ""):
            return why
    for name, why in _FLAGS_OFF.items():
        if _true(get(name)):
            return why
    verify = get("annex.verify")
    if verify and verify[-1].lower() in ("false", "no", "off", "0"):
        return "annex.verify is false"
    tuned = sorted(n for n in config if n.startswith("annex.tune."))
    if tuned:
        return "%s is set" % (tuned[0],)
    return None


def disk_reserve(config: Dict[str, list]) -> int:
    """
    C{annex.diskreserve} in bytes, as git-annex reads it (default 100
    megabytes); an unreadable value counts as the default.
    """
    values = config.get("annex.diskreserve", [])
    if not values:
        return DEFAULT_DISK_RESERVE
    try:
        return parse_size(values[-1])
    except ValueError:
        return DEFAULT_DISK_RESERVE
