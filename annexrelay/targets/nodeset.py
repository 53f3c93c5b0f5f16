"""
One client session's connections to the nodes of a cluster: opened lazily
from the pool, a node that cannot be reached skipped for the rest of the
session, a node that breaks or does not answer in time closed and left out,
and every connection given back (or closed, if mid-request) when the
session ends.
"""

from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.nodeside import NodeError
from annexrelay.p2p import messages
from annexrelay.targets.relaying import Transfers, giveBack


class NodeSet:
    """
    @param cluster: the L{annexrelay.repo.Cluster} (for log lines).
    @param pool: the L{annexrelay.connectors.pool.NodePool}.
    @param clock: the L{IReactorTime} for reply timeouts.
    @param replyTimeout: seconds a node has to answer a request.
    @param params: called when a node is connected to, returns the
        C{(version, bypass)} to open it with.
    @param localFor: called with a node, returns its
        L{annexrelay.localnode.objects.LocalNode} or None (C{--local-store});
        None: no node is written by annexrelay.
    """

    log = Logger()

    def __init__(self, cluster, pool, clock, replyTimeout, params, localFor=None):
        self.cluster = cluster
        self.localFor = localFor
        self.pool = pool
        self.clock = clock
        self.replyTimeout = replyTimeout
        self.params = params
        self._conns = {}
        self._renewed = set()
        self.unreachable = {}
        self._transfers = {}

    def releaseAll(self):
        """
        Give every connection back (a connection mid-request is closed by
        the pool).
        """
        conns, self._conns = self._conns, {}
        for conn in conns.values():
            giveBack(self.pool, conn)

    def transfers(self, node):
        t = self._transfers.get(node)
        if t is None:
            t = self._transfers[node] = Transfers(node.name)
        return t

    def totals(self):
        """
        C{(transfers, bytes)} over every node.
        """
        return (sum(t.count for t in self._transfers.values()), sum(t.bytes for t in self._transfers.values()))

    async def connect(self, node):
        """
        This session's connection to C{node}, opened on first use; None if
        the node cannot be reached (it is then skipped for the session).
        """
        conn = self._conns.get(node)
        if conn is not None and not conn.broken:
            return conn
        if conn is not None:
            del self._conns[node]
        if node in self.unreachable:
            return None
        try:
            version, bypass = self.params()
            conn = await self.pool.acquire(node, version, bypass)
        except NodeError as e:
            self.unreachable[node] = str(e)
            self.log.warn("cluster {cluster}: skipping node {node}: {error}", cluster=self.cluster.name, node=node.name, error=str(e))
            return None
        self._conns[node] = conn
        return conn

    def inDoubt(self, node, conn):
        """
        Whether C{conn}'s answer that C{node} lacks some content is to be
        checked on a new connection: its process served before this
        request, so it may have outlived the node's repository (moved away,
        unmounted), and such a git-annex-shell goes on answering, as if
        every key were missing, where a new one cannot start.  Once per node
        per session.
        """
        return conn.requests > 1 and node not in self._renewed

    async def renew(self, node):
        """
        Replace this session's connection to C{node} (and the pool's idle
        ones, as old) with a new one.

        @return: the new connection, or None if the node cannot be reached
            (logged with why, and skipped for the rest of the session).
        """
        self._renewed.add(node)
        old = self._conns.pop(node, None)
        if old is not None:
            old.close()
        self.pool.discard(node)
        return await self.connect(node)

    async def connectAll(self, nodes):
        """
        Connect to C{nodes} in parallel.

        @return: C{[(node, conn)]} of those reachable.
        """
        conns = await defer.gatherResults([defer.ensureDeferred(self.connect(n)) for n in nodes])
        return [(n, c) for n, c in zip(nodes, conns) if c is not None]

    def fail(self, node, why):
        """
        C{node} broke during a request: close it, and go on without it.
        """
        conn = self._conns.pop(node, None)
        if conn is not None:
            conn.close()
        self.log.warn("cluster {cluster}: node {node} failed: {why}", cluster=self.cluster.name, node=node.name, why=why)

    def _checked(self, node, reply):
        if isinstance(reply, messages.Unparsable):
            self.fail(node, "unparsable reply %r" % (reply.line[:100],))
            return None
        return reply

    async def ask(self, node, conn, msg):
        """
        Send C{msg} to C{node}, return its reply, or None if it broke or did
        not answer within the reply timeout.
        """
        d = conn.request(msg)
        d.addTimeout(self.replyTimeout, self.clock)
        try:
            reply = await d
        except defer.TimeoutError:
            self.fail(node, "no answer to %s in %d seconds" % (msg.name, self.replyTimeout))
            return None
        except Exception as e:
            self.fail(node, "connection lost (%s)" % (e.__class__.__name__,))
            return None
        return self._checked(node, reply)

    async def read(self, node, conn):
        """
        C{node}'s next message (no timeout: a verdict may take as long as
        hashing the object does), or None if it broke.
        """
        try:
            reply = await conn.nextMessage()
        except Exception as e:
            self.fail(node, "connection lost (%s)" % (e.__class__.__name__,))
            return None
        return self._checked(node, reply)
