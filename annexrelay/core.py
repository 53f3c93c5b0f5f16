"""
The shared core of one daemon: what every front door and session shares
(the proxy repository, the node pool, the branch reader and the location
log writer, the streams' options), and the one place a UUID is resolved
to a target.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger

from annexrelay import quota
from annexrelay.branch import uuidlogs
from annexrelay.branch.git import runGit
from annexrelay.branch.locationlog import key_size
from annexrelay.branch.reader import BranchReader
from annexrelay.branch.refs import RefsWatcher
from annexrelay.branch.sizes import RepoSizes
from annexrelay.branch.writer import LocationLogWriter
from annexrelay.clientside import ClientSession
from annexrelay.connectors import connectorsFor
from annexrelay.connectors.tor import DEFAULT_SOCKS
from annexrelay.connectors.pool import NodePool
from annexrelay.connectors.process import GitServices
from annexrelay.deadline import Deadline
from annexrelay.streams import Streams
from annexrelay.targets.cluster import ClusterGateway
from annexrelay.targets.proxied import ProxiedRemote
from annexrelay.targets.repository import OwnRepository

log = Logger()

UUID_LOG_REF = "refs/heads/git-annex:" + uuidlogs.UUID_LOG.decode()


class TargetUnknown(Exception):
    """
    The proxy repository does not serve the UUID a client asked for.
    """


class RelayCore:
    """
    What every session of one daemon shares.

    @param streams: the L{Streams} payloads move with.
    @param monotonic: the gateway's monotonic clock (for GETTIMESTAMP).
    """

    def __init__(self, reactor, repository, pool, locationLog, branch, streams, monotonic, sizes=None, refs=None, metrics=None):
        self.reactor = reactor
        self.refs = refs
        self.sizes = sizes
        self.repository = repository
        self.pool = pool
        self.locationLog = locationLog
        self.branch = branch
        self.streams = streams
        self.monotonic = monotonic
        # The request tracker every session reports to, or None, and the
        # daemon's snapshot built on it (L{annexrelay.operator.status}).
        self.metrics = metrics
        self.status = None
        # The repository's label in per-repository metrics (its path under
        # --directory), or None.
        self.label = None
        self.git = GitServices(reactor)
        self.sessions = 0
        # The sessions going on, and whether the daemon is stopping.
        self.live = set()
        self.stopping = False
        # Callables saying why the daemon takes no new requests now, or ""
        # (the annex+http door's admission queue when full): /readyz.
        self.saturation = []
        # The repository's quota in bytes (--quota), or None.
        self.quota = None
        self._reserved = 0
        # uuid.log's descriptions, read in the background (describe).
        self._descriptions = {}
        self._describing = None
        self._described = float("-inf")
        # The daemon's L{annexrelay.localnode.nodes.LocalNodes} (--local-store)
        # or None, and the repository itself as a local node (made once).
        self.localNodes = None
        self._ownLocal = None

    def servedUUIDs(self):
        """
        The UUIDs whose content counts as this repository's: itself, its
        proxied remotes and its clusters' nodes.
        """
        repo = self.repository
        uuids = {repo.uuid}
        uuids.update(repo.nodes)
        for cluster in repo.clusters.values():
            uuids.update(n.uuid for n in cluster.nodes)
        return uuids

    async def quotaRefusal(self, key):
        """
        Whether a C{PUT} of C{key} would take the repository's stored
        content over its quota (L{annexrelay.quota}), counted from the
        same repository sizes cluster placement uses.

        @return: None, or the error the client is shown.
        """
        if self.quota is None or self.sizes is None:
            return None
        sizes = await self.sizes.sizes()
        size = key_size(key)
        # Uploads admitted and not over yet count too, so that uploads
        # running at once cannot go over together.
        why = quota.refusal(self.quota, quota.used_by(sizes, self.servedUUIDs()) + self._reserved, size)
        if why is None:
            self._reserved += size or 0
        return why

    def quotaDone(self, key):
        """
        A PUT L{quotaRefusal} admitted is over (what it stored is in the
        repository sizes by now).
        """
        self._reserved = max(0, self._reserved - (key_size(key) or 0))

    def targetFor(self, uuid: bytes, own=False):
        """
        @param own: serve the repository itself too (for Tor clients; an ssh
            client's session with it is git-annex-shell's).
        @return: an L{annexrelay.interfaces.ITarget} for C{uuid} (a proxied
            remote, a cluster, with C{own} the repository itself), or None
            when it is the repository itself, which git-annex-shell serves.
        @raise TargetUnknown: when this repository does not proxy C{uuid}.
        """
        repo = self.repository
        node = repo.target(uuid)
        if node is not None:
            return ProxiedRemote(node, self.pool, self.locationLog, self.streams, self.sizes, self._localFor(node))
        cluster = repo.cluster(uuid)
        if cluster is not None:
            return ClusterGateway(
                cluster, repo.uuid, self.pool, self.locationLog, self.branch, self.reactor, self.monotonic, self.streams,
                sizes=self.sizes, localFor=self._localFor,
            )
        if uuid == repo.uuid:
            if own:
                return OwnRepository(repo, self.pool, self.streams, self.refs, self.git, self.sizes, self.ownLocal())
            return None
        desc = self.describe(uuid)
        if desc:
            raise TargetUnknown("not configured to proxy for repository %s" % (desc,))
        raise TargetUnknown(
            "expected repository UUID %s but found UUID %s" % (uuid.decode("utf-8", "replace"), repo.uuid.decode())
        )

    def _localFor(self, node):
        if self.localNodes is None:
            return None
        return self.localNodes.forNode(node, self.repository)

    def ownLocal(self):
        """
        The repository itself as a local node (C{--local-store}), or None.
        """
        if self.localNodes is None:
            return None
        if self._ownLocal is None:
            self._ownLocal = self.localNodes.forRepository(self.repository, self.locationLog, self.branch) or False
        return self._ownLocal or None

    def describe(self, uuid):
        """
        C{uuid}'s description in uuid.log as last read, for error messages
        (never a git process in the reactor thread: a miss reads uuid.log
        again in the background, at most one at a time and one a second,
        for the next error).
        """
        known = self._descriptions.get(uuid, "")
        if not known and self._describing is None and self.reactor.seconds() - self._described >= 1.0:
            self._described = self.reactor.seconds()
            self._describing = defer.maybeDeferred(runGit, self.reactor, self.repository.path, ["cat-file", "blob", UUID_LOG_REF])
            self._describing.addCallback(self._gotDescriptions)
            self._describing.addErrback(lambda f: log.warn("reading uuid.log failed: {why}", why=str(f.value)))
            self._describing.addBoth(self._describedDone)
        return known

    def _gotDescriptions(self, result):
        code, out = result
        if code == 0:
            self._descriptions = uuidlogs.descriptions(out)

    def _describedDone(self, _):
        self._describing = None

    def session(self, authenticator, peer, door="ssh"):
        """
        A new L{ClientSession}, greeted by C{authenticator}, of front door
        C{door} (C{ssh}, C{tor}, C{http}).
        """
        self.sessions += 1
        session = ClientSession(
            authenticator, peer="%s#%d" % (peer, self.sessions), door=door, metrics=self.metrics, repository=self.label
        )
        if self.quota is not None:
            session.admitPut = self.quotaRefusal
            session.putDone = self.quotaDone
        self.live.add(session)
        if self.metrics is not None:
            self.metrics.sessionOpened(door)
            session.done.addBoth(lambda r: (self.metrics.sessionClosed(door), r)[1])
        session.done.addBoth(lambda r: (self.live.discard(session), r)[1])
        if self.stopping:
            session.draining = True
        return session

    def drain(self, grace):
        """
        Stop serving: sessions between requests end now, those in a request
        as soon as it is over; whatever is still going after C{grace}
        seconds is cut (a node keeps what it received, so a retried PUT
        resumes).

        @return: a L{Deferred} firing when every session has ended.
        """
        self.stopping = True
        for session in list(self.live):
            session.drain()
        if not self.live:
            return defer.succeed(None)
        log.info("stopping: {n} session(s) finishing their requests (at most {grace:.0f} s)", n=len(self.live), grace=grace)
        result = defer.Deferred()

        def over(_=None):
            if not result.called:
                deadline.cancel()
                result.callback(None)

        def cut():
            for session in list(self.live):
                log.warn("stopping: cutting the session from {peer} (still busy after {grace:.0f} s)", peer=session.peer, grace=grace)
                session.abort()
            # A session whose transport never reports its end is not
            # waited for much longer.
            self.reactor.callLater(1.0, over)

        deadline = Deadline(self.reactor, grace, cut)
        defer.DeferredList([s.done for s in self.live], consumeErrors=True).addBoth(over)
        return result

    def close(self):
        """
        At shutdown, after L{drain}: close idle node connections, stop the
        branch reader, and once the nodes' processes have exited (a special
        remote's git-annex-shell journals until then), commit what the
        location log writer holds and git-annex's journal.

        @return: a L{Deferred} firing when it is all done.
        """
        ended = self.pool.closeAll()
        if self.refs is not None:
            self.refs.close()
        ended.addCallback(lambda _: self.locationLog.close())
        if self.localNodes is not None:
            ended.addCallback(lambda _: self.localNodes.close())
        return defer.gatherResults([self.branch.close(), ended])


def makeCore(
    reactor, repository, idleTimeout=60.0, commitDelay=1.0, splice=True, monotonic=None, torSocks=DEFAULT_SOCKS, metrics=None,
    quota=None, localNodes=None,
):
    """
    A L{RelayCore} for C{repository}: its node pool (connectors chosen by
    node URL), location log writer and branch reader.
    """
    pool = NodePool(reactor, connectorsFor(reactor, repository, torSocks), idleTimeout=idleTimeout)
    writer = LocationLogWriter(reactor, repository.path, delay=commitDelay)
    writer.recover()
    branch = BranchReader(reactor, repository.path, repository.gitDir, repository.onelevel, writer)
    core = RelayCore(
        reactor,
        repository,
        pool,
        writer,
        branch,
        Streams(splice),
        monotonic or time.monotonic,
        RepoSizes(reactor, repository.path),
        RefsWatcher(reactor, repository.path, repository.gitDir),
        metrics,
    )
    core.quota = quota
    core.localNodes = localNodes
    return core
