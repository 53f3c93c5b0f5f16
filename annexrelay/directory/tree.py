"""
The index of the repositories under a C{--directory}, as pure data and
functions (no I/O): which repository a request's path names, which
repositories serve a UUID, what a directory listing says, and what a
listing that changed adds or removes.

A repository is named by its path under the directory, as a tuple of
segments (bytes): C{(b"team", b"photos.git")} is served under
C{/team/photos.git/git-annex/UUID/...}; C{()} is the directory itself.
"""

from typing import Dict, FrozenSet, NamedTuple, Optional, Set, Tuple
from urllib.parse import unquote_to_bytes

GIT_ANNEX = b"git-annex"
# How many segments the tail of a route has after C{git-annex} (uuid,
# version, action, key; a trailing slash adds an empty one).
_TAIL = (3, 4, 5)

WORK, BARE = "work", "bare"


def split_scope(path: bytes):
    """
    Split a request path into its scope (the repository's path under the
    directory) and the route proper, which starts with C{/git-annex/}.

    The scope ends at the last C{git-annex} segment the route's shape
    fits after (a route's own segments are never C{git-annex}), so a
    repository may itself have a C{git-annex} folder in its path.  A path
    with no such segment is unscoped and left to the router (a 404).

    @return: C{(scope, route path)}: C{scope} a tuple of segments,
        percent-decoded (after splitting: C{%2F} is no separator).
    """
    segments = path.split(b"/")
    if segments and segments[0] == b"":
        segments = segments[1:]
    for i in range(len(segments) - 1, -1, -1):
        if segments[i] == GIT_ANNEX and len(segments) - i - 1 in _TAIL:
            if i == 0:
                return (), path
            return tuple(unquote_to_bytes(s) for s in segments[:i]), b"/" + b"/".join(segments[i:])
    return (), path


def classify(entries: Dict[bytes, bool]) -> Optional[str]:
    """
    What a directory is, from its listing (name -> is a directory):
    L{WORK} (a work tree: it has C{.git}), L{BARE} (a bare repository:
    C{HEAD}, C{objects/} and C{refs/}), or None.
    """
    if b".git" in entries:
        return WORK
    if b"HEAD" in entries and entries.get(b"objects") and entries.get(b"refs"):
        return BARE
    return None


def subdirectories(kind: Optional[str], entries: Dict[bytes, bool]) -> Tuple[bytes, ...]:
    """
    The folders to look for more repositories in: none inside a bare
    repository, never a C{.git}; a work tree's folders are searched
    (repositories may nest).
    """
    if kind == BARE:
        return ()
    return tuple(sorted(n for n, isdir in entries.items() if isdir and n != b".git"))


def below(rel: Tuple[bytes, ...], other: Tuple[bytes, ...]) -> bool:
    """
    Whether C{other} is C{rel} or inside it.
    """
    return other[: len(rel)] == rel


class Entry(NamedTuple):
    """
    One git repository under the directory.

    @ivar rel: its path under the directory (segments).
    @ivar uuid: its annex UUID (C{b""}: not a git-annex repository).
    @ivar serves: every UUID it serves: its own, its proxied remotes,
        its clusters.
    @ivar stamp: its git config file's stamp when read.
    """

    rel: Tuple[bytes, ...]
    uuid: bytes
    serves: FrozenSet[bytes]
    stamp: object = None


class RepoIndex:
    """
    The repositories found so far, by path and by the UUIDs they serve.
    Updated entry by entry, so a lookup in the middle of a scan sees
    every repository found before.
    """

    def __init__(self):
        self.entries: Dict[Tuple[bytes, ...], Entry] = {}
        self._byUuid: Dict[bytes, Set[Tuple[bytes, ...]]] = {}

    def __len__(self):
        return len(self.entries)

    def put(self, entry: Entry):
        self.remove(entry.rel)
        self.entries[entry.rel] = entry
        for uuid in entry.serves:
            self._byUuid.setdefault(uuid, set()).add(entry.rel)

    def remove(self, rel):
        old = self.entries.pop(rel, None)
        if old is None:
            return
        for uuid in old.serves:
            rels = self._byUuid.get(uuid)
            if rels is not None:
                rels.discard(rel)
                if not rels:
                    del self._byUuid[uuid]

    def removeBelow(self, rel):
        """
        Forget every repository at or inside C{rel} (a folder that went).
        """
        for other in [r for r in self.entries if below(rel, other=r)]:
            self.remove(other)

    def at(self, scope) -> Optional[Entry]:
        """
        The git-annex repository a request's scope names, or None.  The
        client keeps the C{git-annex} its C{annexUrl} ends with
        (C{annex+http://HOST/PATH/git-annex/} → C{/PATH/git-annex/git-annex/UUID/...}),
        so a scope ending in C{git-annex} names PATH, unless a repository
        has that very path.
        """
        scope = tuple(scope)
        entry = self.entries.get(scope)
        if (entry is None or not entry.uuid) and scope[-1:] == (GIT_ANNEX,):
            entry = self.entries.get(scope[:-1])
        if entry is None or not entry.uuid:
            return None
        return entry

    def serving(self, uuid: bytes) -> Optional[Entry]:
        """
        The repository an unscoped request for C{uuid} goes to: the one
        whose own UUID it is, else the first (by path) that proxies it.
        """
        rels = self._byUuid.get(uuid)
        if not rels:
            return None
        entries = sorted((self.entries[r] for r in rels), key=lambda e: (e.uuid != uuid, e.rel))
        return entries[0]
