"""
Watching the proxy repository's refs, for C{NOTIFYCHANGE}.

A Tor client's C{git annex remotedaemon} asks C{NOTIFYCHANGE} and waits for
C{CHANGED v1 v2 ...}: the new values of the refs that changed (git-annex
sends values, not ref names).  The first C{NOTIFYCHANGE} of a connection is
answered at once with the values of every ref.

The watcher looks at the ref files' modification stamps each C{interval}
seconds (no child process while nothing changes) and runs
C{git for-each-ref} only when they moved.
"""

import os
from typing import Dict, List

from twisted.internet import task

from annexrelay.branch.git import runGit


def parse_refs(out: bytes) -> Dict[bytes, bytes]:
    """
    C{git for-each-ref --format='%(objectname) %(refname)'} output, as
    C{{ref: value}}.
    """
    refs = {}
    for line in out.splitlines():
        value, _, name = line.partition(b" ")
        if name:
            refs[name] = value
    return refs


def changed_values(old: Dict[bytes, bytes], new: Dict[bytes, bytes]) -> List[bytes]:
    """
    The values of the refs of C{new} that C{old} does not have or had at
    another value, each once, in ref order.
    """
    out = []
    for name in sorted(new):
        if old.get(name) != new[name] and new[name] not in out:
            out.append(new[name])
    return out


class RefsWatcher:
    """
    @param gitDir: the repository's git directory (its C{refs/} and
        C{packed-refs} are watched).
    """

    def __init__(self, reactor, repoPath, gitDir, interval=1.0):
        self.reactor = reactor
        self.repoPath = repoPath
        self.gitDir = gitDir
        self.interval = interval

    def stamp(self):
        """
        Something that changes whenever a ref is written.
        """
        parts = []
        for name in ("packed-refs", "HEAD"):
            try:
                st = os.stat(os.path.join(self.gitDir, name))
                parts.append((name, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                parts.append((name, None))
        for top, dirs, files in os.walk(os.path.join(self.gitDir, "refs")):
            dirs.sort()
            try:
                parts.append((top, os.stat(top).st_mtime_ns))
            except OSError:
                pass
            for f in sorted(files):
                try:
                    st = os.stat(os.path.join(top, f))
                except OSError:
                    continue
                parts.append((f, st.st_mtime_ns, st.st_size, st.st_ino))
        return hash(tuple(parts))

    async def current(self) -> Dict[bytes, bytes]:
        code, out = await runGit(self.reactor, self.repoPath, ["for-each-ref", "--format=%(objectname) %(refname)"])
        if code != 0:
            raise OSError("git for-each-ref failed: %s" % (out.decode("utf-8", "replace").strip(),))
        return parse_refs(out)

    async def changedSince(self, known):
        """
        Wait until some ref differs from C{known} (C{{ref: value}}, or None
        for "answer at once").

        @return: C{(values of the changed refs, all refs now)}.
        """
        if known is None:
            refs = await self.current()
            return sorted(set(refs.values())), refs
        stamp = None
        while True:
            now = self.stamp()
            if now != stamp:
                stamp = now
                refs = await self.current()
                values = changed_values(known, refs)
                if values or set(refs) != set(known):
                    return values, refs
            await task.deferLater(self.reactor, self.interval, lambda: None)
