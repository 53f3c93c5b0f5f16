"""
Reading the gateway's git-annex branch as git-annex would see it: the
committed branch, with git-annex's journal (changes not yet committed) on
top, and with what annexrelay has recorded but not yet committed on top of
that.

One long-lived C{git cat-file --batch} per daemon answers the reads; a
request's files are asked for in one write, so a read costs one round trip
to a process that is already running.
"""

import os
from collections import deque

from twisted.internet import defer, error
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

from annexrelay.branch import locationlog
from annexrelay.branch.git import BRANCH, cat_file_size

log = Logger()


class _CatFile(ProcessProtocol):
    """
    C{git cat-file --batch}: one object name per line in, C{<sha> <type>
    <size>\\n<content>\\n} or C{<name> missing\\n} out, in order.
    """

    def __init__(self):
        self._buffer = bytearray()
        self._waiting = deque()  # Deferreds, one per object asked for
        self._size = None
        self.ended = False
        self.whenEnded = defer.Deferred()

    def ask(self, names):
        ds = []
        for _ in names:
            d = defer.Deferred()
            self._waiting.append(d)
            ds.append(d)
        self.transport.write(b"".join(n + b"\n" for n in names))
        return ds

    def outReceived(self, data):
        self._buffer += data
        while self._waiting:
            if self._size is None:
                nl = self._buffer.find(b"\n")
                if nl < 0:
                    return
                header = bytes(self._buffer[:nl])
                del self._buffer[: nl + 1]
                size = cat_file_size(header)
                if size is None:
                    self._waiting.popleft().callback(None)
                    continue
                self._size = size
            if len(self._buffer) < self._size + 1:
                return
            content = bytes(self._buffer[: self._size])
            del self._buffer[: self._size + 1]
            self._size = None
            self._waiting.popleft().callback(content)

    def errReceived(self, data):
        log.warn("git cat-file: {text}", text=data.decode("utf-8", "replace").strip())

    def processEnded(self, reason):
        self.ended = True
        self.whenEnded.callback(None)
        waiting, self._waiting = self._waiting, deque()
        for d in waiting:
            d.errback(error.ProcessTerminated("git cat-file ended"))


class BranchReader:
    """
    @param gitDir: the repository's git directory (for the journal).
    @param onelevel: C{annex.tune.branchhash1} of the repository.
    @param writer: the L{annexrelay.branch.LocationLogWriter} whose
        uncommitted records are overlaid, or None.
    """

    def __init__(self, reactor, repoPath, gitDir, onelevel=False, writer=None):
        self.reactor = reactor
        self.repoPath = repoPath
        self.journal = os.path.join(gitDir, "annex", "journal").encode()
        self.onelevel = onelevel
        self.writer = writer
        self._catfile = None

    def _process(self):
        if self._catfile is None or self._catfile.ended:
            env = dict(os.environ)
            env.pop("GIT_DIR", None)
            env.pop("GIT_WORK_TREE", None)
            self._catfile = _CatFile()
            self.reactor.spawnProcess(
                self._catfile, "git", ["git", "-C", self.repoPath, "cat-file", "--batch"], env=env
            )
        return self._catfile

    async def read(self, paths):
        """
        The current content of branch files C{paths}: the journal's copy if
        git-annex has one, else the committed one (empty when absent).

        @return: C{{path: bytes}}.
        """
        result = {}
        ask = []
        for path in paths:
            try:
                with open(os.path.join(self.journal, locationlog.journal_name(path)), "rb") as f:
                    result[path] = f.read()
            except OSError:
                # Not journaled (or a name no journal file can have).
                ask.append(path)
        if ask:
            got = await defer.gatherResults(self._process().ask([BRANCH + b":" + p for p in ask]), consumeErrors=True)
            for path, content in zip(ask, got):
                result[path] = content or b""
        return result

    async def holders(self, key, extra=()):
        """
        The UUIDs holding C{key}, by the location log with annexrelay's own
        uncommitted records applied.  C{extra} are more branch files to read
        in the same round trip; their contents come back too.

        @return: C{(set of UUIDs, {path: content})}.
        """
        path = locationlog.log_path(key, self.onelevel)
        files = await self.read([path] + list(extra))
        have = set(locationlog.holders(files.pop(path)))
        if self.writer is not None:
            for uuid, present in self.writer.overlay(key).items():
                if present:
                    have.add(uuid)
                else:
                    have.discard(uuid)
        return have, files

    def close(self):
        """
        End the cat-file process.

        @return: a L{Deferred} firing when it has exited.
        """
        if self._catfile is None or self._catfile.ended:
            return defer.succeed(None)
        self._catfile.transport.closeStdin()
        return self._catfile.whenEnded
