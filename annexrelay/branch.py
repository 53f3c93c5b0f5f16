"""
The location log writer: records in the proxy repository's git-annex branch
which node got or lost which key.

Records are batched: the first one starts a short timer, and when it runs
out everything gathered so far is written in one go, so a burst of a
thousand transfers makes a handful of commits.  Writing goes through
git-annex's own plumbing (C{git annex setpresentkey --batch}, then
C{git annex merge}, which commits the journal): git-annex's journal and
locking keep it exact and safe against git-annex itself, or a client's push
merging, writing the branch at the same time.  The reactor never waits on
git; the child processes are watched asynchronously.
"""

import os

from twisted.internet import defer
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()


class GitCommandFailed(Exception):
    pass


class _Collect(ProcessProtocol):
    def __init__(self, stdin):
        self.stdin = stdin
        self.out = []
        self.done = defer.Deferred()

    def connectionMade(self):
        if self.stdin:
            self.transport.write(self.stdin)
        self.transport.closeStdin()

    def childDataReceived(self, fd, data):
        self.out.append(data)

    def processEnded(self, reason):
        self.done.callback((reason.value.exitCode, b"".join(self.out)))


def runGit(reactor, cwd, args, stdin=b""):
    """
    Run C{git ARGS} in C{cwd} without blocking.

    @return: a L{Deferred} firing with C{(exit code, stdout+stderr)}.
    """
    pp = _Collect(stdin)
    env = dict(os.environ)
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    reactor.spawnProcess(pp, "git", ["git"] + list(args), env=env, path=cwd)
    return pp.done


class LocationLogWriter:
    """
    Batches location log updates into the proxy repository's git-annex
    branch.

    @param delay: seconds between the first record of a batch and its write.
    """

    def __init__(self, reactor, repoPath, delay=1.0):
        self.reactor = reactor
        self.repoPath = repoPath
        self.delay = delay
        self._pending = {}
        self._timer = None
        self._writing = None
        self._waiters = []
        self.commits = 0

    def record(self, key, uuid, present):
        """
        Note that C{uuid} now has (C{present=True}) or lacks C{key}.
        """
        self._pending[(key, uuid)] = present
        if self._timer is None and self._writing is None:
            self._timer = self.reactor.callLater(self.delay, self._write)

    def pending(self):
        return len(self._pending)

    def flush(self):
        """
        Write whatever is pending now.

        @return: a L{Deferred} firing once everything recorded before this
            call is committed.
        """
        d = defer.Deferred()
        if not self._pending and self._writing is None:
            d.callback(None)
            return d
        self._waiters.append(d)
        if self._writing is None:
            if self._timer is not None and self._timer.active():
                self._timer.cancel()
            self._write()
        return d

    def _write(self):
        self._timer = None
        batch, self._pending = self._pending, {}
        self._writing = defer.ensureDeferred(self._commit(batch))
        self._writing.addBoth(self._written, batch)

    async def _commit(self, batch):
        lines = b"".join(
            b"%s %s %s\n" % (key, uuid, b"1" if present else b"0") for (key, uuid), present in batch.items()
        )
        code, out = await runGit(
            self.reactor, self.repoPath, ["annex", "setpresentkey", "--batch"], lines
        )
        if code != 0:
            raise GitCommandFailed("git annex setpresentkey: exit %s: %s" % (code, out[-500:]))
        code, out = await runGit(self.reactor, self.repoPath, ["annex", "merge", "--quiet"])
        if code != 0:
            raise GitCommandFailed("git annex merge: exit %s: %s" % (code, out[-500:]))

    def _written(self, result, batch):
        self._writing = None
        if isinstance(result, Failure):
            log.error(
                "could not record {n} location log update(s); will retry: {why}",
                n=len(batch),
                why=result.getErrorMessage(),
            )
            for k, v in batch.items():
                self._pending.setdefault(k, v)
            self._timer = self.reactor.callLater(max(self.delay, 5.0), self._write)
            return None
        self.commits += 1
        log.info("recorded {n} location log update(s) in the git-annex branch", n=len(batch))
        if self._pending:
            if self._waiters:
                self._write()
            else:
                self._timer = self.reactor.callLater(self.delay, self._write)
        else:
            waiters, self._waiters = self._waiters, []
            for d in waiters:
                d.callback(None)
        return None
