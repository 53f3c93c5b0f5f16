"""
A cluster: the client stores to it once, and the gateway spreads the work
over the cluster's nodes (C{../shared/spec/proxy-and-cluster.md} §4).

Where git-annex's gateway is weak, this one does better, on purpose:
 - a node that cannot be reached is skipped, never fatal to the session;
 - GET, CHECKPRESENT and LOCKCONTENT fail over to the next node the
   location log lists when a node is unreachable, errs or lacks the content
   (for GET, as long as no payload went to the client);
 - PUT goes to every chosen node in parallel from one client stream, each
   node from its own resume offset, paced by the slowest; a node that fails
   mid-stream, or takes no data for two minutes, is dropped and the others
   complete;
 - REMOVE and GETTIMESTAMP go to all nodes in parallel;
 - LOCKCONTENT locks on one node holding the content (git-annex always
   answers FAILURE);
 - a node that is itself a gateway may answer C{-PLUS}.

Every node that stores or drops content is recorded in the gateway's
location log (never the cluster UUID), which is what routes later requests.

This module is the gateway's session and its reads; the session's node
connections are L{annexrelay.targets.nodeset.NodeSet}, the fan-out upload
L{annexrelay.targets.clusterput.ClusterPut}, and which nodes to use and how
their replies combine are pure functions in L{annexrelay.placement} and
L{annexrelay.targets.replies}.
"""

import random

from zope.interface import implementer
from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.branch import locationlog, uuidlogs
from annexrelay.interfaces import ITarget, SessionAborted
from annexrelay.p2p import messages
from annexrelay.p2p.framing import ShortData
from annexrelay.p2p.messages import Message, is_reply
from annexrelay.placement import ClusterView
from annexrelay.repo import is_cluster_uuid
from annexrelay.targets import relaying, replies
from annexrelay.targets.clusterput import ClusterPut, chooseNodes
from annexrelay.targets.nodeset import NodeSet
from annexrelay.targets.relaying import NodeLost

# A node's answer that it lacks the content, as the failover line says it.
LACKING = "does not have it"


@implementer(ITarget)
class ClusterGateway:
    """
    One client session's view of one cluster.

    @param cluster: the L{annexrelay.repo.Cluster}.
    @param me: the gateway repository's UUID (added to BYPASS).
    @param pool: the L{annexrelay.connectors.pool.NodePool}.
    @param locationLog: the L{annexrelay.branch.writer.LocationLogWriter}.
    @param branch: the L{annexrelay.branch.reader.BranchReader}.
    @param clock: the L{IReactorTime} for reply and stall timeouts.
    @param monotonic: the gateway's monotonic clock (GETTIMESTAMP).
    @param streams: the L{annexrelay.streams.Streams} payloads move with.
    @param sizes: the L{annexrelay.branch.sizes.RepoSizes} shared by the
        daemon's sessions, or None.
    """

    log = Logger()

    # Seconds a node has to answer a request (not the verdict after a
    # payload, which may take as long as hashing the object does), and may
    # hold up a PUT fan-out by taking no data.
    replyTimeout = 120.0

    def __init__(self, cluster, me, pool, locationLog, branch, clock, monotonic, streams, rng=None, sizes=None, localFor=None):
        self.cluster = cluster
        # The repositories' sizes (L{annexrelay.branch.sizes.RepoSizes}),
        # for balanced placement under maxsize; None: not tracked.
        self.sizes = sizes
        self.clock = clock
        self.uuid = cluster.uuid
        self.me = me
        self.locationLog = locationLog
        self.branch = branch
        self.monotonic = monotonic
        self.streams = streams
        self.rng = rng or random.Random()
        self.nodes = NodeSet(cluster, pool, clock, self.replyTimeout, self._connectionParams, localFor)
        self._session = None
        self._view = None
        self._timestamps = {}
        self._last = None
        self.stored = 0
        self.removed = 0
        self.failovers = 0
        # (node name, terms) whose expression this session has logged about.
        self.noted = set()

    # Session

    def _connectionParams(self):
        return self._session.version, tuple(sorted(set(self._session.bypass) | {self.me}))

    def negotiate(self, session, version):
        self._session = session
        self.nodes.releaseAll()
        self._timestamps.clear()
        return defer.succeed(version)

    def close(self):
        self.nodes.releaseAll()

    def summary(self):
        transfers, size = self.nodes.totals()
        text = "cluster %s: %d transfer(s), %d byte(s), %d store(s) on nodes, %d removal(s)" % (
            self.cluster.name,
            transfers,
            size,
            self.stored,
            self.removed,
        )
        if self.failovers:
            text += ", %d failover(s)" % (self.failovers,)
        if self.nodes.unreachable:
            text += ", unreachable: " + ", ".join(sorted(n.name for n in self.nodes.unreachable))
        return text

    # What the branch says

    async def state(self, key):
        """
        Who holds C{key}, and the cluster as this session sees it (read from
        the branch once per session, in the same round trip).
        """
        if self._last is not None and self._last[0] == key:
            # The request right before was about the same key (CHECKPRESENT
            # then PUT): nothing was recorded in between.
            return set(self._last[1]), self._view
        extra = [] if self._view is not None else list(uuidlogs.ALL)
        holders, files = await self.branch.holders(key, extra)
        self._last = (key, frozenset(holders))
        return holders, self._makeView(files)

    async def _clusterView(self):
        if self._view is not None:
            return self._view
        return self._makeView(await self.branch.read(list(uuidlogs.ALL)))

    def _makeView(self, files):
        if self._view is None:
            self._view = ClusterView(self.cluster, files, self._session.bypass, self.me, self.rng)
            for name, why in self._view.skipped:
                self.log.info("cluster {cluster}: not using node {node}: {why}", cluster=self.cluster.name, node=name, why=why)
            if not self._view.nodes:
                self.log.warn("cluster {cluster} has no node to use", cluster=self.cluster.name)
        return self._view

    def record(self, key, uuids, present):
        """
        Record in the location log that C{uuids} got (or lost) C{key}.
        """
        self._last = None
        for u in uuids:
            if not is_cluster_uuid(u):
                self.locationLog.record(key, u, present)

    def _logFailover(self, request, key, node, reply):
        """
        Log that C{node} could not serve C{request} (C{reply}: its answer,
        None if it broke, or a text saying why), so the next is tried.
        """
        self.failovers += 1
        if isinstance(reply, str):
            why = reply
        elif reply is None:
            why = "failed"
        else:
            why = "answered " + messages.format(reply).decode("utf-8", "replace").strip()[:200]
        self.log.info(
            "cluster {cluster}: {request} {key}: node {node} {why}; trying the next node",
            cluster=self.cluster.name,
            request=request,
            key=key.decode("utf-8", "replace"),
            node=node.name,
            why=why,
        )

    # Requests

    def handle(self, session, msg):
        self._session = session
        return defer.ensureDeferred(self._handle(session, msg))

    async def _handle(self, session, msg):
        if relaying.refuseNotRelayed(session, msg):
            return
        # Holders read for a CHECKPRESENT serve the PUT of the same key that
        # follows it (git annex copy); nothing else reuses them.
        last, self._last = self._last, None
        if last is not None and msg.name == "PUT" and msg.args[-1] == last[0]:
            self._last = last
        try:
            await relaying.handlerFor(self, msg)(session, msg)
        except ShortData as e:
            raise SessionAborted("%s" % (e,), midPayload=True)
        except NodeLost as e:
            why = "a node of cluster %s closed the connection%s" % (self.cluster.name, e.args[0] if e.args else "")
            self.log.warn("{why}", why=why)
            session.sendMessage(messages.error(why))

    async def _firstServing(self, request, key, serve):
        """
        Offer C{request} to each reachable node the location log says
        holds C{key}, cheapest first, until one serves it.

        @param serve: called as C{serve(node, conn)}; a coroutine returning
            True when the node served the request, or a reason (its reply,
            None if it broke, or a text) to log before trying the next.
        @return: whether a node served it.
        """
        holders, view = await self.state(key)
        for node in view.holding(holders):
            conn = await self.nodes.connect(node)
            if conn is None:
                continue
            outcome = await serve(node, conn)
            lacking = outcome == LACKING or is_reply(outcome, "FAILURE")
            if lacking and self.nodes.inDoubt(node, conn):
                # Believed only from a process that can still start there;
                # one that cannot is logged as unreachable, with why.
                self.log.debug(
                    "cluster {cluster}: asking node {node} again on a new connection", cluster=self.cluster.name, node=node.name
                )
                conn = await self.nodes.renew(node)
                if conn is None:
                    self.failovers += 1
                    continue
                outcome = await serve(node, conn)
            if outcome is True:
                return True
            self._logFailover(request, key, node, outcome)
        return False

    async def _CHECKPRESENT(self, session, msg):
        async def serve(node, conn):
            reply = await self.nodes.ask(node, conn, msg)
            return True if is_reply(reply, "SUCCESS") else reply

        found = await self._firstServing("CHECKPRESENT", msg.args[0], serve)
        session.sendMessage(messages.SUCCESS if found else messages.FAILURE)

    async def _LOCKCONTENT(self, session, msg):
        key = msg.args[0]

        async def serve(node, conn):
            with conn.lease():
                reply = await self.nodes.ask(node, conn, msg)
                if not is_reply(reply, "SUCCESS"):
                    return reply
                session.sendMessage(messages.SUCCESS)
                self.log.info("locked {key} on node {node}", key=key.decode("utf-8", "replace"), node=node.name)
                await relaying.holdLock(session, conn, node.name)
                return True

        if not await self._firstServing("LOCKCONTENT", key, serve):
            session.sendMessage(messages.FAILURE)

    async def _GET(self, session, msg):
        offset, key = msg.args[0], msg.args[2]
        size = locationlog.key_size(key)

        async def serve(node, conn):
            lease = conn.lease()
            reply = await self.nodes.ask(node, conn, msg)
            if not is_reply(reply, "DATA"):
                if reply is not None:
                    lease.finish()
                return reply
            verdict = None
            if reply.args[0] == 0:
                # DATA 0 then INVALID is how a node says it lacks the content.
                if conn.version >= 1:
                    verdict = await self.nodes.read(node, conn)
                    if verdict is None:
                        return None
                    lacking = is_reply(verdict, "INVALID")
                else:
                    lacking = size is not None and offset < size
                if lacking:
                    conn.sendMessage(messages.FAILURE)
                    lease.finish()
                    return LACKING
            await relaying.download(self.streams, self.nodes.transfers(node), session, conn, msg, reply, verdict)
            lease.finish()
            return True

        if await self._firstServing("GET", key, serve):
            return
        self.log.warn(
            "cluster {cluster}: no reachable node has {key}", cluster=self.cluster.name, key=key.decode("utf-8", "replace")
        )
        # As a server without the content answers.
        session.sendMessage(messages.data(0))
        if session.version >= 1:
            session.sendMessage(messages.INVALID)
        await session.nextMessage()

    async def _PUT(self, session, msg):
        af, key = msg.args
        holders, view = await self.state(key)
        candidates = await chooseNodes(view, holders, af, key, self.branch, self.sizes, self.noted)

        def recordStored(have, stored):
            self.record(key, have, True)
            if self.sizes is not None:
                for u in stored:
                    self.sizes.stored(key, u, u in holders)

        holding = [n.uuid for n in view.holdingNodes(holders)]
        put = ClusterPut(session, msg, self.nodes, self.streams, candidates, holding, recordStored, self.cluster.name)
        self.stored += await put.run()

    async def _GETTIMESTAMP(self, session, msg):
        view = await self._clusterView()
        await self._timestampsOf(await self.nodes.connectAll(view.nodes))
        session.sendMessage(Message("TIMESTAMP", (int(self.monotonic()),)))

    async def _timestampsOf(self, reachable):
        """
        Ask each node its clock, then read the gateway's (after, so a
        translated deadline is never later than the client meant).
        """
        answered = await defer.gatherResults(
            [defer.ensureDeferred(self.nodes.ask(n, c, Message("GETTIMESTAMP"))) for n, c in reachable]
        )
        now = int(self.monotonic())
        for (node, conn), reply in zip(reachable, answered):
            if is_reply(reply, "TIMESTAMP"):
                self._timestamps[node] = (reply.args[0], now)

    def _removal(self, msg, node, conn):
        """
        What C{msg} (C{REMOVE} or C{REMOVE-BEFORE}) is for C{node}: a
        deadline in its own clock, or None when its clock is unknown.
        """
        key = msg.args[-1]
        if msg.name == "REMOVE-BEFORE" and conn.version >= 3:
            if node not in self._timestamps:
                return None
            theirs, ours = self._timestamps[node]
            return Message("REMOVE-BEFORE", (theirs + (msg.args[0] - ours), key))
        return Message("REMOVE", (key,))

    async def _REMOVE(self, session, msg):
        key = msg.args[-1]
        holders, view = await self.state(key)
        reachable = await self.nodes.connectAll(view.nodes)
        if msg.name == "REMOVE-BEFORE":
            await self._timestampsOf([(n, c) for n, c in reachable if n not in self._timestamps and c.version >= 3])

        async def one(node, conn):
            m = self._removal(msg, node, conn)
            return None if m is None else await self.nodes.ask(node, conn, m)

        answered = await defer.gatherResults([defer.ensureDeferred(one(n, c)) for n, c in reachable])
        asked = {n for n, _ in reachable}
        unreachable = [n for n in view.nodes if n not in asked]
        # An unreachable node the location log says lacks the key does not
        # stand in the way of its removal.
        lacking = [n for n in unreachable if not view.mayHold(n, holders)]
        for node in lacking:
            self.log.info(
                "cluster {cluster}: REMOVE {key}: node {node} is unreachable, and the location log says it does not have it",
                cluster=self.cluster.name,
                key=key.decode("utf-8", "replace"),
                node=node.name,
            )
        outcome = replies.remove_outcome(
            [(n, r) for (n, _), r in zip(reachable, answered)], len(unreachable) - len(lacking)
        )
        self.record(key, outcome.removed, False)
        if self.sizes is not None:
            for u in outcome.removed:
                self.sizes.removed(key, u, u in holders)
        self.removed += len(outcome.removed)
        if not view.nodes:
            session.sendMessage(messages.FAILURE)
            return
        if outcome.failed:
            self.log.warn(
                "cluster {cluster}: {key} removed from {n} node(s); {failed} node(s) could not remove it",
                cluster=self.cluster.name,
                key=key.decode("utf-8", "replace"),
                n=len(outcome.removed),
                failed=outcome.failed,
            )
        session.sendMessage(replies.remove_reply(outcome, session.version))

    _REMOVE_BEFORE = _REMOVE
