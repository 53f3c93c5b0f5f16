"""
The repositories under a C{--directory}, each with its own
L{annexrelay.core.RelayCore}, for the annex+http door.

The door asks L{Directory.resolve} for the core and target of a request:

 - C{/PATH/git-annex/UUID/...} (scoped): the repository at PATH under the
   directory; UUID is resolved only within it (two repositories may proxy
   the same remote, each with its own location log);
 - C{/git-annex/UUID/...} (unscoped, as git-annex's own C{--directory}):
   the repository whose UUID it is, else the first (by path) that proxies
   it.

A request whose repository is not in the index yet waits for a scan
(L{annexrelay.directory.scan.Scanner.refresh}) only when the caller is
allowed in; an unauthenticated caller is answered with its refusal, it
cannot make the daemon scan.  A core is opened on the first request for
its repository and closed at shutdown (drained first).
"""

import os

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from annexrelay.core import TargetUnknown
from annexrelay.directory.scan import Scanner
from annexrelay.directory.tree import RepoIndex

log = Logger()


class Unseen:
    """
    The target of a request for a repository not in the index, from a
    caller the door is about to refuse (401/403): nothing to close.
    """

    uuid = b""

    def close(self):
        pass


class Directory(service.Service):
    """
    @param root: the directory.
    @param openCore: repository -> its L{annexrelay.core.RelayCore}.
    @param grace: seconds the requests in flight may take at shutdown.
    @param interval: least seconds between two scans.
    @param metrics: the daemon's L{annexrelay.operator.metrics.Metrics}
        (each core reports to it too), or None.
    @param idle: a core without a session for this many seconds is
        closed (and opened again when a request needs it), so thousands
        of repositories used now and then do not each keep their
        processes.
    """

    def __init__(self, reactor, root, openCore, grace, interval=0.5, cooperator=None, idle=600.0, metrics=None):
        self.reactor = reactor
        # What the door and the operator's site ask of a core as a whole:
        # the request tracker, and why the daemon cannot take requests
        # (callables returning a reason or "", filled by the door).
        self.metrics = metrics
        self.saturation = []
        self.idle = idle
        self._used = {}
        self._closing = {}
        self._sweep = None
        self.index = RepoIndex()
        self.scanner = Scanner(reactor, root, self.index, interval, cooperator=cooperator)
        self.openCore = openCore
        self.grace = grace
        self.cores = {}
        self.retired = []
        self.stopping = False

    def startService(self):
        service.Service.startService(self)
        self.scanner.refresh(self.reactor.seconds())
        self._sweep = task.LoopingCall(self.closeIdle)
        self._sweep.clock = self.reactor
        self._sweep.start(self.idle / 2, now=False)

    def closeIdle(self):
        """
        Close the cores no session used for L{idle} seconds.  A request
        for one of them meanwhile waits until it is closed, then opens a
        new one (never two location log writers on one repository).
        """
        now = self.reactor.seconds()
        for rel, core in list(self.cores.items()):
            if core.live or now - self._used.get(rel, now) < self.idle or rel in self._closing:
                continue
            del self.cores[rel]
            log.info("closing repository {path} (idle)", path=core.repository.path)
            d = self._closing[rel] = defer.maybeDeferred(core.close)
            d.addErrback(lambda f, path=core.repository.path: log.failure("closing {path} failed", f, path=path))
            d.addBoth(self._closed, rel)

    def _closed(self, _, rel):
        del self._closing[rel]

    def stopService(self):
        service.Service.stopService(self)
        self.stopping = True
        self.scanner.stop()
        if self._sweep is not None and self._sweep.running:
            self._sweep.stop()
        cores = list(self.cores.values()) + self.retired

        def closeAll(_):
            return defer.gatherResults([c.close() for c in cores], consumeErrors=True)

        d = defer.gatherResults([c.drain(self.grace) for c in cores], consumeErrors=True)
        d.addCallback(closeAll)
        d.addCallback(lambda _: defer.DeferredList(list(self._closing.values())))
        d.addErrback(lambda f: log.failure("closing the repositories failed", f))
        return d

    def scopeOf(self, core):
        """
        The path under the directory (segments, bytes) of the repository
        C{core} serves: what its grants name it by.
        """
        rel = os.path.relpath(core.repository.path, self.scanner.root)
        return () if rel == "." else tuple(os.fsencode(s) for s in rel.split(os.sep))

    def _find(self, scope, uuid):
        if scope:
            return self.index.at(scope)
        return self.index.serving(uuid)

    async def repositoryAt(self, scope, mayScan):
        """
        The git-annex repository at exactly C{scope} (git's requests:
        clone, push, C{/config}), or None.  A miss scans only when
        C{mayScan()}; no core is opened (git's side needs none).
        """
        if self.stopping:
            return None
        entry = self.index.entries.get(tuple(scope))
        if (entry is None or not entry.uuid) and mayScan():
            await self.scanner.refresh(self.reactor.seconds())
            entry = self.index.entries.get(tuple(scope))
        if entry is None or not entry.uuid or self.stopping:
            return None
        # (A changed config is read again by a git process of its own.)
        await self.scanner.reread(entry.rel)
        return self.scanner.repositories.get(entry.rel)

    async def resolve(self, scope, uuid, mayScan):
        """
        @param scope: the repository's path under the directory (segments),
            or C{()} for git-annex's unscoped routes.
        @param mayScan: a callable: whether the caller is allowed in (only
            then may a miss start a scan).
        @return: C{(core, target)}; C{(None, L{Unseen})} for a repository
            not in the index when C{mayScan()} is false.
        @raise TargetUnknown: no repository serves C{uuid} there.
        """
        if self.stopping:
            raise TargetUnknown("stopping")
        entry = self._find(scope, uuid)
        if entry is None:
            if not mayScan():
                return None, Unseen()
            await self.scanner.refresh(self.reactor.seconds())
            entry = self._find(scope, uuid)
            if entry is None or self.stopping:
                raise TargetUnknown("no repository serves %s" % (uuid.decode("utf-8", "replace"),))
        # A changed config is read again by a git process of its own (never
        # one in the reactor thread); a UUID the repository does not serve
        # is 404 here, without the core's uuid.log lookup.
        await self.scanner.reread(entry.rel)
        repo = self.scanner.repositories.get(entry.rel)
        if repo is None:
            raise TargetUnknown("repository gone")
        if uuid != repo.uuid and uuid not in repo.nodes and uuid not in repo.clusters:
            raise TargetUnknown("not served by %s" % (repo.path,))
        while entry.rel in self._closing:
            await self._closing[entry.rel]
        if self.stopping:
            raise TargetUnknown("stopping")
        self._used[entry.rel] = self.reactor.seconds()
        core = self.cores.get(entry.rel)
        if core is None or core.repository is not repo:
            if core is not None:
                # Another repository at the same path: the old core is
                # closed at shutdown.
                self.retired.append(core)
            core = self.cores[entry.rel] = self.openCore(repo)
            log.info("opened repository {path} (uuid {uuid})", path=repo.path, uuid=repo.uuid.decode())
        return core, core.targetFor(uuid, own=True)
