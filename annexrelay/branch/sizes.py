"""
How much each repository stores, by the location logs: the sum of the
sizes of the keys the logs say it has (keys that record their size).

Counted once, the first time a placement needs it (one pass over the
git-annex branch: C{git ls-tree} and one C{git cat-file --batch}), then
kept current by what the gateway itself stores and removes.  Changes made
by others later are seen at the next start (git-annex's own gateway keeps
a database with the same role).
"""

from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.branch import locationlog
from annexrelay.branch.git import BRANCH, parse_cat_file, runGit
from annexrelay.branch.locationlog import key_size

log = Logger()


def _is_location_log(path: bytes) -> bool:
    return path.endswith(b".log") and path.count(b"/") in (1, 2) and not path.startswith(b"export")


class RepoSizes:
    """
    @param reactor: runs git.
    @param repoPath: the gateway repository.
    """

    def __init__(self, reactor, repoPath):
        self.reactor = reactor
        self.repoPath = repoPath
        self._sizes = None
        self._counting = None

    def sizes(self):
        """
        @return: a L{Deferred} firing with C{{uuid: bytes stored}}.
        """
        if self._sizes is not None:
            return defer.succeed(self._sizes)
        if self._counting is None:
            self._counting = defer.ensureDeferred(self._count())
        d = defer.Deferred()
        self._counting.addBoth(lambda r: (d.callback(self._sizes or {}), r)[1])
        return d

    async def _count(self):
        sizes = {}
        # Blob ids from ls-tree, so cat-file looks objects up directly
        # rather than resolving a path through the trees for each.
        code, out = await runGit(self.reactor, self.repoPath, ["ls-tree", "-r", "-z", BRANCH.decode()])
        entries = []
        for entry in out.split(b"\0") if code == 0 else []:
            meta, _, path = entry.partition(b"\t")
            if not path or not _is_location_log(path):
                continue
            size = key_size(locationlog.unkeyfile(path.rsplit(b"/", 1)[-1][: -len(b".log")]))
            if size:
                entries.append((meta.split()[-1], size))
        for start in range(0, len(entries), 20000):
            chunk = entries[start : start + 20000]
            code, got = await runGit(self.reactor, self.repoPath, ["cat-file", "--batch"], b"".join(sha + b"\n" for sha, _ in chunk))
            if code != 0:
                break
            for (_, size), blob in zip(chunk, parse_cat_file(got, len(chunk))):
                if blob is not None:
                    for u in locationlog.holders(blob[1]):
                        sizes[u] = sizes.get(u, 0) + size
        self._sizes = sizes
        log.info("repository sizes counted from {n} location log(s)", n=len(entries))

    def known(self):
        """
        C{{uuid: bytes stored}} if counted already, else C{{}} (without
        counting).
        """
        return dict(self._sizes or {})

    def stored(self, key, uuid, before):
        """
        C{uuid} now has C{key}; C{before}: whether the log said so already.
        """
        self._change(key, uuid, 0 if before else 1)

    def removed(self, key, uuid, before):
        self._change(key, uuid, -1 if before else 0)

    def _change(self, key, uuid, sign):
        size = key_size(key)
        if self._sizes is None or not size or not sign:
            return
        self._sizes[uuid] = max(0, self._sizes.get(uuid, 0) + sign * size)
