"""
Finding the repositories under a C{--directory} and keeping the
L{annexrelay.directory.tree.RepoIndex} current, incrementally and off the
reactor's back.

A scan walks the tree one folder per step of a L{cooperate} task (the
reactor serves requests between steps).  It remembers each folder's stamp
(modification time, inode): a folder whose stamp is unchanged is not
listed again, only its known subfolders visited, so a rescan costs one
C{stat} per folder, and a new repository (a new entry in its parent
folder) is found by listing just the folders that changed.  A folder
modified in the last seconds is listed again next time (a change in the
same clock tick would not move its stamp).  A repository's git config is
read again only when its stamp changed, by C{git config} subprocesses (a
few at a time), never in the reactor thread.

Scans are requested by L{Scanner.refresh} (a request that found no
repository for its UUID, once authenticated): requests share scans, one
runs at a time, and a new one starts at most every C{interval} seconds,
so unknown UUIDs cannot cause a storm of scans.
"""

import os
import stat

from twisted.internet import defer, task
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import Logger

from annexrelay.directory.tree import Entry, below, classify, subdirectories
from annexrelay.paths import file_stamp, find_repository
from annexrelay.repo import ProxyRepository, RepositoryError, parse_config

log = Logger()

# A folder modified this recently (seconds) is listed again next scan.
RECENT = 2.0


def _gitEnv():
    env = dict(os.environ)
    for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(k, None)
    return env


class Scanner:
    """
    @param root: the directory (str).
    @param index: the L{RepoIndex} kept current.
    @param interval: least seconds between the starts of two scans.
    @param readers: how many C{git config} run at once.
    @ivar repositories: path under the directory -> L{ProxyRepository},
        for the git-annex repositories in the index.
    @ivar scans: how many scans ran.
    @ivar listed: how many folders were listed (not just stat'ed).
    """

    def __init__(self, reactor, root, index, interval=0.5, readers=4, cooperator=None):
        self.reactor = reactor
        self.root = os.path.abspath(root)
        self.index = index
        self.interval = interval
        self.repositories = {}
        self.scans = 0
        self.listed = 0
        self._readers = defer.DeferredSemaphore(readers)
        self._cooperate = cooperator.cooperate if cooperator is not None else task.cooperate
        # folder -> (stamp or None, kind, subfolders)
        self._folders = {}
        self._running = None  # (started, [waiters])
        self._queued = None  # [waiters] of the next scan
        self._call = None
        self._task = None
        self._lastStart = None
        self.stopped = False

    # Requests

    def refresh(self, since):
        """
        @return: a L{Deferred} firing once a scan that began at or after
            C{since} (reactor time) has ended.
        """
        d = defer.Deferred()
        if self.stopped:
            d.callback(None)
        elif self._running is not None and self._running[0] >= since:
            self._running[1].append(d)
        else:
            if self._queued is None:
                self._queued = []
                if self._running is None and self._call is None:
                    self._schedule()
            self._queued.append(d)
        return d

    def reread(self, rel):
        """
        Read repository C{rel}'s git config again if it changed (by a
        C{git config} subprocess, never in the reactor thread).

        @return: a L{Deferred} firing when it is current.
        """
        full = os.path.join(os.fsencode(self.root), *rel)
        d = self._check(rel, os.fsdecode(full))
        return d if d is not None else defer.succeed(None)

    def stop(self):
        self.stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()
        if self._task is not None:
            try:
                self._task.stop()
            except task.TaskDone:
                pass
        for waiters in ([self._running[1]] if self._running else []) + ([self._queued] if self._queued else []):
            for d in waiters:
                if not d.called:
                    d.callback(None)
        self._running = self._queued = None

    def _schedule(self):
        now = self.reactor.seconds()
        wait = 0.0 if self._lastStart is None else max(0.0, self._lastStart + self.interval - now)
        self._call = self.reactor.callLater(wait, self._start)

    def _start(self):
        self._call = None
        now = self.reactor.seconds()
        self._running, self._queued = (now, self._queued or []), None
        self._lastStart = now
        self.scans += 1
        found = len(self.index)
        self._task = self._cooperate(self._walk())
        d = self._task.whenDone()
        d.addErrback(lambda f: None if f.check(task.TaskStopped) else log.failure("scanning {root} failed", f, root=self.root))
        d.addBoth(self._ended, found)

    def _ended(self, _, found):
        self._task = None
        if self.stopped:
            return
        waiters = self._running[1]
        self._running = None
        log.info(
            "scan {n} of {root}: {repos} repositories ({new:+d})",
            n=self.scans, root=self.root, repos=len(self.index), new=len(self.index) - found,
        )
        if self._queued is not None and self._call is None:
            self._schedule()
        for d in waiters:
            d.callback(None)

    # The walk

    def _walk(self):
        pending = []
        stack = [()]
        while stack:
            rel = stack.pop()
            children = self._visit(rel, pending)
            stack.extend(rel + (c,) for c in reversed(children))
            yield None
        if pending:
            yield defer.DeferredList(pending, consumeErrors=True)

    def _visit(self, rel, pending):
        full = os.path.join(os.fsencode(self.root), *rel)
        try:
            st = os.lstat(full)
        except OSError:
            st = None
        if st is None or not stat.S_ISDIR(st.st_mode):
            self._forget(rel)
            return ()
        stamp = (st.st_mtime_ns, st.st_ino)
        known = self._folders.get(rel)
        if known is not None and known[0] == stamp:
            kind, children = known[1], known[2]
        else:
            self.listed += 1
            try:
                with os.scandir(full) as it:
                    entries = {e.name: e.is_dir(follow_symlinks=False) for e in it}
            except OSError:
                self._forget(rel)
                return ()
            kind = classify(entries)
            children = subdirectories(kind, entries)
            if known is not None:
                for gone in set(known[2]) - set(children):
                    self._forget(rel + (gone,))
            recent = self.reactor.seconds() - st.st_mtime_ns / 1e9 < RECENT
            self._folders[rel] = (None if recent else stamp, kind, children)
        if kind is None:
            self._drop(rel)
        else:
            d = self._check(rel, os.fsdecode(full))
            if d is not None:
                pending.append(d)
        return children

    def _forget(self, rel):
        for other in [r for r in self._folders if below(rel, r)]:
            del self._folders[other]
        for other in [r for r in self.index.entries if below(rel, r)]:
            self._drop(other)

    def _drop(self, rel):
        self.index.remove(rel)
        self.repositories.pop(rel, None)

    def _check(self, rel, full):
        path, gitDir = find_repository(full)
        stamp = file_stamp(os.path.join(gitDir, "config"))
        entry = self.index.entries.get(rel)
        if stamp is None or (entry is not None and entry.stamp == stamp):
            return None
        d = self._readers.run(lambda: defer.ensureDeferred(self._read(rel, path, stamp)))
        d.addErrback(lambda f: log.failure("reading the git config of {path} failed", f, path=path))
        return d

    async def _read(self, rel, path, stamp):
        out, err, code = await getProcessOutputAndValue(
            "git", ["config", "-z", "--list"], env=_gitEnv(), path=path, reactor=self.reactor
        )
        if self.stopped:
            return
        if code != 0:
            self._drop(rel)
            return
        config = parse_config(out)
        if not config.get("annex.uuid", [""])[-1]:
            self.repositories.pop(rel, None)
            self.index.put(Entry(rel, b"", frozenset(), stamp))
            return
        repo = self.repositories.get(rel)
        try:
            if repo is None:
                repo = ProxyRepository(path, config)
            else:
                repo.reload(config)
        except RepositoryError as e:
            log.warn("{path}: {why}", path=path, why=str(e))
            self._drop(rel)
            return
        self.repositories[rel] = repo
        self.index.put(Entry(rel, repo.uuid, frozenset({repo.uuid, *repo.nodes, *repo.clusters}), stamp))
