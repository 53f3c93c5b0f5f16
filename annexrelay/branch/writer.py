"""
The location log writer: records in the proxy repository's git-annex branch
which node got or lost which key, and commits git-annex's journal.

Records are batched: the first one starts a short timer, and when it runs
out everything gathered so far is written as one commit, so a burst of a
thousand transfers makes a handful of commits.

One batch, with git-annex's journal lock held (so git-annex cannot journal
a change meanwhile):
 1. the journal's files are read (L{annexrelay.branch.journal}), and
    C{git cat-file --batch} reads the branch tip and the logs of the
    batch's keys and of the journal's files;
 2. each journal file becomes what git-annex's own commit of the journal
    makes of it (L{journal.merged}), and the batch's records are applied on
    top, the way git-annex writes a log (L{annexrelay.locationlog.update});
 3. C{git fast-import} makes the commit on top of the tip read in 1;
 4. C{git update-ref --stdin} moves C{refs/heads/git-annex} only if it still
    points to that tip (compare-and-swap).  If a client's push or git-annex
    moved it meanwhile, the batch starts again from 1;
 5. the journal files committed are removed.

Why the writer commits the journal: a proxied special remote (or a special
remote that is a cluster node) is served by git-annex's own proxy, a
C{git-annex-shell p2pstdio} in the proxy repository, which journals what
it did (the location log, chunk logs) and commits only when it exits;
annexrelay keeps it in its pool for a minute or more, so a clone pulling
meanwhile would not see the change.  A special node's C{SUCCESS} to a PUT or
REMOVE is recorded here like any node's, so the batch it starts (within
the commit delay) commits what that git-annex-shell journalled.  git-annex
writes the location log only after it has relayed the C{SUCCESS}; if that
comes after the batch, the batch has already put the same status on the
branch, and git-annex, finding it there, journals nothing.  The journal
lock is the contract: git-annex journals only while holding it, and a batch
holds it from reading the journal until its files are removed.  Every
journal file is taken, as git-annex's own commit takes them all (which
process wrote one cannot be told, and need not be): whatever git-annex
journalled is committed as git-annex would commit it, only sooner.  (The
alternatives: a git-annex command run after each batch to commit the
journal costs a process start per batch and merges the remotes' branches
as a side effect; closing the special remote's connection after each
change gives up the pool.)

Everything runs in child processes watched by the reactor; nothing blocks.
"""

import os

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from annexrelay.branch import journal, locationlog
from annexrelay.branch.git import BRANCH, PENDING, GitCommandFailed, JournalLock, RefMoved, parse_cat_file, runGit
from annexrelay.deadline import Deadline
from annexrelay.paths import git_dir

log = Logger()


class LocationLogWriter:
    """
    Batches location log updates into the proxy repository's git-annex
    branch.

    @param delay: seconds between the first record of a batch and its write.
    @param now: a callable giving the wall-clock time (default: the
        reactor's).
    """

    def __init__(self, reactor, repoPath, delay=1.0, gitDir=None, now=None):
        self.reactor = reactor
        self.repoPath = repoPath
        self.gitDir = gitDir or git_dir(repoPath)
        self.journalDir = os.path.join(self.gitDir, "annex", "journal").encode()
        # Records that could not be committed before the daemon stopped.
        self.spool = os.path.join(self.gitDir, "annex", "annexrelay-pending.log")
        self._recovered = False
        self._stopped = False
        self.delay = delay
        self.now = now or reactor.seconds
        self._pending = {}
        self._inFlight = {}
        self._timer = None
        self._writing = None
        self._waiters = []
        self._journalLeft = False
        # Journal files written since the last batch read the journal
        # (L{nudge}).
        self._nudged = False
        # Held with git-annex's journal lock by whatever in this process
        # reads or writes the journal (a POSIX lock does not keep two
        # holders in one process apart): the batches, and a local node's
        # records (L{annexrelay.localnode.journalling}).
        self.journalMutex = defer.DeferredLock()
        self.commits = 0
        self.recordsWritten = 0
        # Why the last commit failed, while commits fail ("" otherwise).
        self.failing = ""
        self._onelevel = None

    def record(self, key, uuid, present):
        """
        Note that C{uuid} now has (C{present=True}) or lacks C{key}.  A key
        that cannot have a location log (L{locationlog.unrecordable}) is
        not recorded, and says so in the log, so it cannot hold up anyone
        else's records.

        @return: whether it was recorded.
        """
        bad = locationlog.unrecordable(key)
        if bad is not None:
            log.warn("not recording {key!r}: {why}", key=key[:100], why=bad)
            return False
        self._pending[(key, uuid)] = present
        if self._timer is None and self._writing is None:
            self._timer = self.reactor.callLater(self.delay, self._write)
        return True

    def pending(self):
        return len(self._pending)

    def overlay(self, key):
        """
        What was recorded for C{key} and is not committed yet: C{{uuid:
        present}}.
        """
        out = {}
        for batch in (self._inFlight, self._pending):
            for (k, uuid), present in batch.items():
                if k == key:
                    out[uuid] = present
        return out

    def nudge(self):
        """
        A journal file was written in this process: commit it with the
        next batch, within the delay.
        """
        self._nudged = True
        if self._timer is None and self._writing is None and not self._stopped:
            self._timer = self.reactor.callLater(self.delay, self._write)

    def flush(self):
        """
        Write whatever is pending now, and whatever git-annex's journal
        holds.

        @return: a L{Deferred} firing once everything recorded before this
            call, and journalled, is committed.
        """
        d = defer.Deferred()
        if not self._pending and self._writing is None and not journal.dirty(self.journalDir):
            d.callback(None)
            return d
        self._waiters.append(d)
        if self._writing is None:
            if self._timer is not None and self._timer.active():
                self._timer.cancel()
            self._write()
        return d

    def close(self, timeout=20.0):
        """
        At shutdown: commit what is pending, for at most C{timeout}
        seconds; what could not be committed by then is kept in L{spool}
        and committed by the next start (L{recover}).

        @return: a L{Deferred} firing when done, within C{timeout}.
        """
        d = self.flush()
        done = defer.Deferred()

        def committed(_):
            if not done.called:
                done.callback(None)

        def late():
            if not done.called:
                self._stopped = True
                if self._timer is not None and self._timer.active():
                    self._timer.cancel()
                self._timer = None
                self._spill()
                done.callback(None)

        d.addBoth(committed)
        deadline = Deadline(self.reactor, timeout, late)
        done.addBoth(lambda r: (deadline.cancel(), r)[1])
        return done

    def _spill(self):
        records = dict(self._inFlight)
        records.update(self._pending)
        if not records:
            return
        lines = b"".join(
            b"%d %s %s\n" % (present, uuid, key.hex().encode()) for (key, uuid), present in sorted(records.items())
        )
        os.makedirs(os.path.dirname(self.spool), exist_ok=True)
        with open(self.spool, "ab") as f:
            f.write(lines)
        log.error(
            "could not commit {n} location log update(s) before stopping; kept in {path} for the next start",
            n=len(records),
            path=self.spool,
        )

    def recover(self):
        """
        At start: record again what an earlier run kept in L{spool}; the
        file goes once they are committed.

        @return: how many records were recovered.
        """
        try:
            with open(self.spool, "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return 0
        n = 0
        for line in lines:
            try:
                present, uuid, key = line.split(b" ")
                key = bytes.fromhex(key.decode("ascii"))
            except ValueError:
                log.warn("skipping a malformed line of {path}: {line!r}", path=self.spool, line=line[:200])
                continue
            if (key, uuid) not in self._pending and self.record(key, uuid, present == b"1"):
                n += 1
        self._recovered = True
        log.info("recording {n} location log update(s) kept by an earlier run", n=n)
        return n

    def _write(self):
        self._timer = None
        self._nudged = False
        batch, self._pending = self._pending, {}
        self._inFlight = batch
        self._writing = defer.ensureDeferred(self._commit(batch))
        self._writing.addBoth(self._written, batch)

    async def _git(self, args, stdin=b""):
        code, out = await runGit(self.reactor, self.repoPath, args, stdin)
        if code != 0:
            raise GitCommandFailed("git %s: exit %s: %s" % (" ".join(args), code, out[-500:].decode("utf-8", "replace")))
        return out

    async def _commit(self, batch):
        if self._onelevel is None:
            code, out = await runGit(self.reactor, self.repoPath, ["config", "--bool", "annex.tune.branchhash1"])
            self._onelevel = out.strip() == b"true"
        byPath = {}
        for (key, uuid), present in batch.items():
            byPath.setdefault(locationlog.log_path(key, self._onelevel), {})[uuid] = present
        lock = JournalLock(self.reactor, os.path.join(self.gitDir, "annex", "journal.lck"))
        for attempt in range(20):
            await self.journalMutex.acquire()
            try:
                await lock.acquire()
                try:
                    return await self._commitOnce(byPath)
                except RefMoved:
                    log.info("the git-annex branch moved while recording; recording again")
                finally:
                    lock.release()
            finally:
                self.journalMutex.release()
        raise GitCommandFailed("the git-annex branch kept moving")

    async def _commitOnce(self, byPath):
        """
        One attempt at a batch, the journal lock held.

        @return: C{(journal files committed, whether more are left)}.
        @raise RefMoved: when the branch moved under it.
        """
        journalled, more = journal.read(self.journalDir)
        fromJournal = {jf.path: jf.content for jf in journalled}
        paths = sorted(set(byPath) | set(fromJournal))
        query = BRANCH + b"\n" + b"".join(BRANCH + b":" + p + b"\n" for p in paths)
        got = parse_cat_file(await self._git(["cat-file", "--batch"], query), len(paths) + 1)
        if got[0] is None:
            raise GitCommandFailed("the repository has no git-annex branch")
        tip = got[0][0]
        inSync = journal.index_tip(self.gitDir) == tip
        now = int(self.now())
        inBranch = []
        for path, blob in zip(paths, got[1:]):
            committed = blob[1] if blob else None
            new = base = committed or b""
            if path in fromJournal:
                new = base = journal.merged(fromJournal[path], committed, inSync)
            if path in byPath:
                new = locationlog.update(base, byPath[path], now) or base
            if new == committed or (committed is None and not new and path not in fromJournal):
                continue
            inBranch.append((path, new))
        if inBranch:
            await self._commitFiles(tip, now, inBranch)
        journal.remove(self.journalDir, journalled)
        return len(journalled), more

    async def _commitFiles(self, tip, now, inBranch):
        stream = [
            b"commit " + PENDING + b"\n",
            b"committer annexrelay <annexrelay@localhost> %d +0000\n" % now,
            b"data 6\nupdate\n",
            b"from " + tip + b"\n",
        ]
        for path, content in inBranch:
            stream.append(b"M 100644 inline " + path + b"\n")
            stream.append(b"data %d\n" % len(content) + content + b"\n")
        await self._git(["fast-import", "--quiet", "--force", "--done"], b"".join(stream) + b"done\n")
        new = (await self._git(["rev-parse", PENDING.decode()])).strip()
        code, out = await runGit(
            self.reactor,
            self.repoPath,
            ["update-ref", "--stdin", "-m", "annexrelay: record transfers"],
            b"update " + BRANCH + b" " + new + b" " + tip + b"\ndelete " + PENDING + b"\n",
        )
        if code != 0:
            _, cur = await runGit(self.reactor, self.repoPath, ["rev-parse", BRANCH.decode()])
            if cur.strip() != tip:
                raise RefMoved()
            raise GitCommandFailed("git update-ref: %s" % (out[-500:].decode("utf-8", "replace"),))

    def _written(self, result, batch):
        self._writing = None
        self._inFlight = {}
        if isinstance(result, Failure):
            self.failing = result.getErrorMessage() or repr(result.value)
            log.error(
                "could not record {n} location log update(s); will retry: {why}",
                n=len(batch),
                why=result.getErrorMessage(),
            )
            for k, v in batch.items():
                self._pending.setdefault(k, v)
            if not self._stopped:
                self._timer = self.reactor.callLater(max(self.delay, 5.0), self._write)
            return None
        journalled, self._journalLeft = result
        self.failing = ""
        self.commits += 1
        self.recordsWritten += len(batch)
        if journalled:
            log.info(
                "recorded {n} location log update(s) and {j} file(s) of git-annex's journal in {repo}'s git-annex branch",
                n=len(batch),
                j=journalled,
                repo=self.repoPath,
            )
        elif batch:
            log.info("recorded {n} location log update(s) in {repo}'s git-annex branch", n=len(batch), repo=self.repoPath)
        if self._recovered:
            self._recovered = False
            try:
                os.remove(self.spool)
            except FileNotFoundError:
                pass
        if self._pending or self._journalLeft or self._nudged:
            if self._waiters:
                self._write()
            else:
                self._timer = self.reactor.callLater(self.delay, self._write)
        else:
            waiters, self._waiters = self._waiters, []
            for d in waiters:
                d.callback(None)
        return None

