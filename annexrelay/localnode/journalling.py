"""
A local node's own location log record of a store, written as git-annex
writes it (C{Logs.Location.logChange}, C{Annex.Branch.maybeChange}): into
the node's journal before the client is told C{SUCCESS}, with git-annex's
journal lock held.

The log's current content is what git-annex would change: the journal's
copy if there is one, else the committed one (one round trip to a
long-lived C{git cat-file --batch}, L{annexrelay.branch.reader}); the new
content is written to C{annex/othertmp} and renamed into
C{annex/journal}.  From then on every git-annex process on the node sees
it, and a drop made there afterwards is written after it, as between two
git-annex processes.  The node's location log writer commits the journal
to its git-annex branch within the commit delay (L{LocationLogWriter.nudge});
it takes the journal in the same process, so both also hold its
C{journalMutex}.
"""

import os

from twisted.internet import defer

from annexrelay.branch import locationlog
from annexrelay.branch.git import JournalLock


class NodeJournal:
    """
    Location log records of one node's repository, into its journal.

    @param writer: the node's L{annexrelay.branch.writer.LocationLogWriter}.
    @param reader: a L{annexrelay.branch.reader.BranchReader} of the node's
        repository.
    @param now: the wall clock (the reactor's C{seconds}).
    """

    def __init__(self, reactor, gitDir, writer, reader, now=None, onelevel=False):
        self.reactor = reactor
        self.gitDir = gitDir
        self.writer = writer
        self.reader = reader
        self.now = now or reactor.seconds
        self.onelevel = onelevel
        self.journalDir = os.path.join(gitDir, b"annex", b"journal")
        self.tmpDir = os.path.join(gitDir, b"annex", b"othertmp")

    async def record(self, key, uuid, present):
        """
        Journal that C{uuid} has (or lacks) C{key}; a record the log
        already says is not written again.
        """
        path = locationlog.log_path(key, self.onelevel)
        name = locationlog.journal_name(path)
        await self.writer.journalMutex.acquire()
        try:
            lock = JournalLock(self.reactor, os.path.join(self.gitDir, b"annex", b"journal.lck").decode())
            await lock.acquire()
            try:
                current = (await self.reader.read([path]))[path]
                new = locationlog.update(current, {uuid: present}, int(self.now()))
                if new is not None:
                    self._write(name, new)
            finally:
                lock.release()
        finally:
            self.writer.journalMutex.release()
        self.writer.nudge()

    def _write(self, name, content):
        os.makedirs(self.tmpDir, exist_ok=True)
        os.makedirs(self.journalDir, exist_ok=True)
        tmp = os.path.join(self.tmpDir, name)
        with open(tmp, "wb") as f:
            f.write(content)
        os.rename(tmp, os.path.join(self.journalDir, name))

    def close(self):
        """
        At shutdown (a node's own journal, not a core's): commit the
        journal, end the branch reader.

        @return: a L{Deferred}.
        """
        return defer.gatherResults([self.writer.close(), self.reader.close()], consumeErrors=True)
