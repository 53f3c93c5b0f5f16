"""
Watching the proxy repository's refs, for C{NOTIFYCHANGE}.

A Tor client's C{git annex remotedaemon} asks C{NOTIFYCHANGE} and waits for
C{CHANGED v1 v2 ...}: the new values of the refs that changed (git-annex
sends values, not ref names).  The first C{NOTIFYCHANGE} of a connection is
answered at once with the values of every ref.

One watcher serves every waiting session: it looks at the ref files'
modification stamps each C{interval} seconds while anyone waits (no child
process while nothing changes) and runs C{git for-each-ref} only when they
moved.
"""

import os
from typing import Dict, List

from twisted.internet import defer, task

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
    One watcher for every waiting C{NOTIFYCHANGE} of the daemon: while
    anyone waits, it looks at the ref files' stamps every C{interval}
    seconds, reads the refs (one C{git for-each-ref}) only when they moved,
    and answers each waiter whose refs differ from what it was last told.

    @param gitDir: the repository's git directory (its C{refs/} and
        C{packed-refs} are watched).
    """

    def __init__(self, reactor, repoPath, gitDir, interval=1.0):
        self.reactor = reactor
        self.repoPath = repoPath
        self.gitDir = gitDir
        self.interval = interval
        self._waiters = []
        self._loop = None
        self._stamp = None
        self._refs = None

    @property
    def watching(self):
        """
        Whether anyone waits (the stamps are being looked at).
        """
        return self._loop is not None

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

    def changedSince(self, known):
        """
        Wait until some ref differs from C{known} (C{{ref: value}}, or None
        for "answer at once").

        @return: a L{Deferred} (cancellable) firing with C{(values of the
            changed refs, all refs now)}.
        """
        if known is None:
            return defer.ensureDeferred(self._all())
        d = defer.Deferred(lambda d: self._forget(d))
        self._waiters.append((known, d))
        if self._loop is None:
            self._loop = task.LoopingCall(lambda: defer.ensureDeferred(self._check()))
            self._loop.clock = self.reactor
            self._loop.start(self.interval, now=True).addErrback(self._failed)
        return d

    async def _all(self):
        refs = await self.current()
        return sorted(set(refs.values())), refs

    def _forget(self, d):
        self._waiters = [w for w in self._waiters if w[1] is not d]

    def _failed(self, f):
        self._loop = None
        waiters, self._waiters = self._waiters, []
        for _, d in waiters:
            if not d.called:
                d.errback(f)

    async def _check(self):
        if not self._waiters:
            self.close()
            return
        stamp = self.stamp()
        if stamp != self._stamp or self._refs is None:
            self._refs = await self.current()
            self._stamp = stamp
        refs = self._refs
        answered = []
        for known, d in list(self._waiters):
            values = changed_values(known, refs)
            if values or set(refs) != set(known):
                answered.append((d, values))
        self._waiters = [w for w in self._waiters if w[1] not in [d for d, _ in answered]]
        for d, values in answered:
            if not d.called:
                d.callback((values, refs))

    def close(self):
        """
        Stop watching (nobody waits, or the daemon stops).
        """
        loop, self._loop = self._loop, None
        self._stamp = self._refs = None
        if loop is not None and loop.running:
            loop.stop()
