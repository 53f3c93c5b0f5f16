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
"""

import random

from zope.interface import implementer
from twisted.internet import defer
from twisted.logger import Logger

from annexrelay import uuidlogs
from annexrelay.clientside import ITarget, SessionAborted
from annexrelay.nodeside import NodeError
from annexrelay.p2p import messages
from annexrelay.p2p.framing import ShortData
from annexrelay.p2p.messages import Message
from annexrelay.placement import ClusterView, key_size
from annexrelay.repo import is_cluster_uuid
from annexrelay.fastwrite import write
from annexrelay.splicing import relayPayload
from annexrelay.targets.proxied import ProxiedRemote, _NodeLost

# Objects up to this size are uploaded without waiting for the nodes'
# resume offsets (see ClusterGateway._putSmall).
SMALL_OBJECT = 1 << 20


def _is(reply, *names):
    return isinstance(reply, Message) and reply.name in names


def _plus(reply):
    """
    The UUIDs a C{-PLUS} reply names, else none.
    """
    if isinstance(reply, Message) and reply.name.endswith("-PLUS"):
        return list(reply.args[0])
    return []


@implementer(ITarget)
class ClusterGateway:
    """
    One client session's view of one cluster.

    @param cluster: the L{annexrelay.repo.Cluster}.
    @param me: the gateway repository's UUID (added to BYPASS).
    @param pool: the L{annexrelay.connectors.NodePool}.
    @param locationLog: the L{annexrelay.branch.LocationLogWriter}.
    @param branch: the L{annexrelay.branchreader.BranchReader}.
    @param clock: the L{IReactorTime} for reply and stall timeouts.
    @param monotonic: the gateway's monotonic clock (GETTIMESTAMP).
    """

    log = Logger()

    # Seconds a node has to answer a request (not the verdict after a
    # payload, which may take as long as hashing the object does), and may
    # hold up a PUT fan-out by taking no data.
    replyTimeout = 120.0

    def __init__(self, cluster, me, pool, locationLog, branch, clock, monotonic, rng=None):
        self.cluster = cluster
        self.clock = clock
        self.uuid = cluster.uuid
        self.me = me
        self.pool = pool
        self.locationLog = locationLog
        self.branch = branch
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self._session = None
        self._view = None
        self._conns = {}
        self._unreachable = {}
        self._timestamps = {}
        self._remotes = {}
        self._last = None
        self.stored = 0
        self.removed = 0
        self.failovers = 0

    # Session

    def negotiate(self, session, version):
        self._session = session
        self._releaseAll()
        self._timestamps.clear()
        return defer.succeed(version)

    def close(self):
        self._releaseAll()

    def summary(self):
        transfers = sum(r.transfers for r in self._remotes.values())
        size = sum(r.bytes for r in self._remotes.values())
        text = "cluster %s: %d transfer(s), %d byte(s), %d store(s) on nodes, %d removal(s)" % (
            self.cluster.name,
            transfers,
            size,
            self.stored,
            self.removed,
        )
        if self.failovers:
            text += ", %d failover(s)" % (self.failovers,)
        if self._unreachable:
            text += ", unreachable: " + ", ".join(sorted(n.name for n in self._unreachable))
        return text

    def _releaseAll(self):
        conns, self._conns = self._conns, {}
        for conn in conns.values():
            if conn.inRequest:
                conn.close()
            else:
                self.pool.release(conn)

    def _bypass(self):
        return tuple(sorted(set(self._session.bypass) | {self.me}))

    # Nodes

    def _remote(self, node):
        """
        The per-node helper that relays a download or holds a lock.
        """
        r = self._remotes.get(node)
        if r is None:
            r = self._remotes[node] = ProxiedRemote(node, self.pool, self.locationLog)
        return r

    async def _connect(self, node):
        """
        This session's connection to C{node}, opened on first use; None if
        the node cannot be reached (it is then skipped for the session).
        """
        conn = self._conns.get(node)
        if conn is not None and not conn.broken:
            return conn
        if conn is not None:
            del self._conns[node]
        if node in self._unreachable:
            return None
        try:
            conn = await self.pool.acquire(node, self._session.version, self._bypass())
        except NodeError as e:
            self._unreachable[node] = str(e)
            self.log.warn("cluster {cluster}: skipping node {node}: {error}", cluster=self.cluster.name, node=node.name, error=str(e))
            return None
        self._conns[node] = conn
        return conn

    def _fail(self, node, why):
        """
        C{node} broke during a request: close it, and go on without it.
        """
        conn = self._conns.pop(node, None)
        if conn is not None:
            conn.close()
        self.log.warn("cluster {cluster}: node {node} failed: {why}", cluster=self.cluster.name, node=node.name, why=why)

    async def _ask(self, node, conn, msg):
        """
        Send C{msg} to C{node}, return its reply, or None if it broke or did
        not answer within L{replyTimeout}.
        """
        d = conn.request(msg)
        d.addTimeout(self.replyTimeout, self.clock)
        try:
            reply = await d
        except defer.TimeoutError:
            self._fail(node, "no answer to %s in %d seconds" % (msg.name, self.replyTimeout))
            return None
        except Exception as e:
            self._fail(node, "connection lost (%s)" % (e.__class__.__name__,))
            return None
        if isinstance(reply, messages.Unparsable):
            self._fail(node, "unparsable reply %r" % (reply.line[:100],))
            return None
        return reply

    async def _read(self, node, conn):
        try:
            reply = await conn.nextMessage()
        except Exception as e:
            self._fail(node, "connection lost (%s)" % (e.__class__.__name__,))
            return None
        if isinstance(reply, messages.Unparsable):
            self._fail(node, "unparsable reply %r" % (reply.line[:100],))
            return None
        return reply

    async def _all(self, nodes):
        """
        Connect to C{nodes} in parallel.

        @return: C{[(node, conn)]} of those reachable.
        """
        conns = await defer.gatherResults([defer.ensureDeferred(self._connect(n)) for n in nodes])
        return [(n, c) for n, c in zip(nodes, conns) if c is not None]

    async def _state(self, key):
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

    def _failover(self, request, key, node, why):
        self.failovers += 1
        self.log.info(
            "cluster {cluster}: {request} {key}: node {node} {why}; trying the next node",
            cluster=self.cluster.name,
            request=request,
            key=key.decode("utf-8", "replace"),
            node=node.name,
            why=why,
        )

    @staticmethod
    def _why(reply):
        if reply is None:
            return "failed"
        return "answered " + messages.format(reply).decode("utf-8", "replace").strip()[:200]

    def _record(self, key, uuids, present):
        self._last = None
        for u in uuids:
            if not is_cluster_uuid(u):
                self.locationLog.record(key, u, present)

    # Requests

    def handle(self, session, msg):
        self._session = session
        return defer.ensureDeferred(self._handle(session, msg))

    async def _handle(self, session, msg):
        # Holders read for a CHECKPRESENT serve the PUT of the same key that
        # follows it (git annex copy); nothing else reuses them.
        last, self._last = self._last, None
        if last is not None and msg.name == "PUT" and msg.args[-1] == last[0]:
            self._last = last
        try:
            await getattr(self, "_" + msg.name.replace("-", "_"))(session, msg)
        except ShortData as e:
            raise SessionAborted("%s" % (e,))
        except _NodeLost as e:
            why = "a node of cluster %s closed the connection%s" % (self.cluster.name, e.args[0] if e.args else "")
            self.log.warn("{why}", why=why)
            session.sendMessage(messages.error(why))

    async def _CHECKPRESENT(self, session, msg):
        key = msg.args[0]
        holders, view = await self._state(key)
        for node in view.holding(holders):
            conn = await self._connect(node)
            if conn is None:
                continue
            reply = await self._ask(node, conn, msg)
            if _is(reply, "SUCCESS"):
                session.sendMessage(messages.SUCCESS)
                return
            self._failover("CHECKPRESENT", key, node, self._why(reply))
        session.sendMessage(messages.FAILURE)

    async def _LOCKCONTENT(self, session, msg):
        key = msg.args[0]
        holders, view = await self._state(key)
        for node in view.holding(holders):
            conn = await self._connect(node)
            if conn is None:
                continue
            conn.inRequest = True
            reply = await self._ask(node, conn, msg)
            if _is(reply, "SUCCESS"):
                session.sendMessage(messages.SUCCESS)
                self.log.info("locked {key} on node {node}", key=key.decode("utf-8", "replace"), node=node.name)
                await self._remote(node).holdLock(session, conn)
                conn.inRequest = False
                return
            conn.inRequest = False
            self._failover("LOCKCONTENT", key, node, self._why(reply))
        session.sendMessage(messages.FAILURE)

    async def _GET(self, session, msg):
        offset, key = msg.args[0], msg.args[2]
        size = key_size(key)
        holders, view = await self._state(key)
        for node in view.holding(holders):
            conn = await self._connect(node)
            if conn is None:
                continue
            conn.inRequest = True
            reply = await self._ask(node, conn, msg)
            if not _is(reply, "DATA"):
                if reply is not None:
                    conn.inRequest = False
                self._failover("GET", key, node, self._why(reply))
                continue
            verdict = None
            if reply.args[0] == 0:
                # DATA 0 then INVALID is how a node says it lacks the content.
                if conn.version >= 1:
                    verdict = await self._read(node, conn)
                    if verdict is None:
                        self._failover("GET", key, node, "failed")
                        continue
                    lacking = _is(verdict, "INVALID")
                else:
                    lacking = size is not None and offset < size
                if lacking:
                    conn.sendMessage(messages.FAILURE)
                    conn.inRequest = False
                    self._failover("GET", key, node, "does not have it")
                    continue
            await self._remote(node).download(session, conn, msg, reply, verdict)
            conn.inRequest = False
            return
        self.log.warn(
            "cluster {cluster}: no reachable node has {key}", cluster=self.cluster.name, key=key.decode("utf-8", "replace")
        )
        # As a server without the content answers.
        session.sendMessage(messages.data(0))
        if session.version >= 1:
            session.sendMessage(messages.INVALID)
        await session.nextMessage()

    async def _GETTIMESTAMP(self, session, msg):
        view = await self._clusterView()
        await self._timestampsOf(await self._all(view.nodes))
        session.sendMessage(Message("TIMESTAMP", (int(self.monotonic()),)))

    async def _timestampsOf(self, reachable):
        """
        Ask each node its clock, then read the gateway's (after, so a
        translated deadline is never later than the client meant).
        """
        replies = await defer.gatherResults(
            [defer.ensureDeferred(self._ask(n, c, Message("GETTIMESTAMP"))) for n, c in reachable]
        )
        now = int(self.monotonic())
        for (node, conn), reply in zip(reachable, replies):
            if _is(reply, "TIMESTAMP"):
                self._timestamps[node] = (reply.args[0], now)

    async def _REMOVE(self, session, msg):
        key = msg.args[-1]
        holders, view = await self._state(key)
        reachable = await self._all(view.nodes)
        failed = len(view.nodes) - len(reachable)
        if msg.name == "REMOVE-BEFORE":
            await self._timestampsOf([(n, c) for n, c in reachable if n not in self._timestamps and c.version >= 3])

        def request(node, conn):
            if msg.name == "REMOVE-BEFORE" and conn.version >= 3:
                if node not in self._timestamps:
                    return None
                theirs, ours = self._timestamps[node]
                return Message("REMOVE-BEFORE", (theirs + (msg.args[0] - ours), key))
            return Message("REMOVE", (key,))

        async def one(node, conn):
            m = request(node, conn)
            if m is None:
                return None
            return await self._ask(node, conn, m)

        replies = await defer.gatherResults([defer.ensureDeferred(one(n, c)) for n, c in reachable])
        removed = []
        firstError = None
        for (node, conn), reply in zip(reachable, replies):
            if _is(reply, "SUCCESS", "SUCCESS-PLUS"):
                if not node.via:
                    removed.append(node.uuid)
                removed.extend(_plus(reply))
                continue
            failed += 1
            removed.extend(_plus(reply))
            if _is(reply, "ERROR") and firstError is None:
                firstError = reply
        removed = [u for u in dict.fromkeys(removed) if not is_cluster_uuid(u)]
        self._record(key, removed, False)
        self.removed += len(removed)
        if not view.nodes:
            session.sendMessage(messages.FAILURE)
            return
        if failed:
            self.log.warn(
                "cluster {cluster}: {key} removed from {n} node(s); {failed} node(s) could not remove it",
                cluster=self.cluster.name,
                key=key.decode("utf-8", "replace"),
                n=len(removed),
                failed=failed,
            )
        plain = session.version < 2 or not removed
        if not failed:
            session.sendMessage(messages.SUCCESS if plain else Message("SUCCESS-PLUS", (tuple(removed),)))
        elif plain:
            session.sendMessage(firstError or messages.FAILURE)
        else:
            session.sendMessage(Message("FAILURE-PLUS", (tuple(removed),)))

    _REMOVE_BEFORE = _REMOVE

    async def _PUT(self, session, msg):
        af, key = msg.args
        file = af.decode("utf-8", "surrogateescape") if af else None
        size = key_size(key)
        holders, view = await self._state(key)
        candidates, unknown = view.putCandidates(holders, file, size)
        for name, terms in sorted(unknown.items()):
            self.log.info(
                "node {node}'s preferred content uses {terms}, not evaluated by annexrelay; it counts as wanting {key}",
                node=name,
                terms=", ".join(sorted(terms)),
                key=key.decode("utf-8", "replace"),
            )
        reachable = await self._all(candidates)
        for _, conn in reachable:
            conn.inRequest = True
        asked = defer.gatherResults([defer.ensureDeferred(self._ask(n, c, msg)) for n, c in reachable])
        if reachable and size is not None and size <= SMALL_OBJECT:
            await self._putSmall(session, key, reachable, asked)
            return
        wanting, have, anyHave = self._sortReplies(reachable, await asked)
        if not wanting:
            self._record(key, have, True)
            if anyHave:
                session.sendMessage(messages.plus_or_plain("ALREADY-HAVE", self._clean(have), session.version))
            else:
                session.sendMessage(
                    messages.error("no node of cluster %s could store the content" % (self.cluster.name,))
                )
            return
        start = min(o for _, _, o in wanting)
        session.sendMessage(Message("PUT-FROM", (start,)))
        nxt = await session.nextMessage()
        if _is(nxt, "DATA"):
            await self._upload(session, key, nxt.args[0], start, wanting)
        elif not self._otherThanData(session, nxt, wanting):
            return
        await self._stored(session, key, wanting, have, anyHave)

    async def _putSmall(self, session, key, reachable, asked):
        """
        A small object: the client is told C{PUT-FROM 0} at once and sends
        while the nodes are still answering C{PUT}; the payload (at most
        L{SMALL_OBJECT} bytes) is then written to each node from its own
        offset.  This takes a round trip to the nodes off every small
        upload; resuming does not matter at this size.
        """
        session.sendMessage(Message("PUT-FROM", (0,)))
        nxt = await session.nextMessage()
        payload = verdict = None
        if _is(nxt, "DATA"):
            n = nxt.args[0]
            if n < 0 or n > SMALL_OBJECT:
                raise SessionAborted("client announced DATA %d for %s" % (n, key.decode("utf-8", "replace")))
            chunks = []
            await session.readData(n, lambda data: chunks.append(bytes(data)))
            payload = b"".join(chunks)
            if session.version >= 1:
                verdict = await session.nextMessage()
                if not _is(verdict, "VALID", "INVALID"):
                    session.sendMessage(messages.EXPECTED_VALID)
                    verdict = messages.INVALID
        wanting, have, anyHave = self._sortReplies(reachable, await asked)
        if payload is None:
            if not self._otherThanData(session, nxt, wanting):
                return
        else:
            for node, conn, offset in wanting:
                offset = min(offset, len(payload))
                self._remote(node)._logTransfer(
                    "PUT {key} to node {node} from offset {offset}: {n} bytes",
                    key=key.decode("utf-8", "replace"),
                    node=node.name,
                    offset=offset,
                    n=len(payload) - offset,
                )
                out = messages.format(messages.data(len(payload) - offset)) + payload[offset:]
                if verdict is not None and conn.version >= 1:
                    out += messages.format(verdict)
                write(conn.transport, out)
        await self._stored(session, key, wanting, have, anyHave)

    def _sortReplies(self, reachable, replies):
        """
        The nodes' answers to C{PUT}.

        @return: C{(wanting, have, anyHave)}: C{[(node, conn, offset)]} of
            those that said C{PUT-FROM}; the UUIDs that already have the key;
            whether any node said it has it.
        """
        have = []
        anyHave = False
        wanting = []
        for (node, conn), reply in zip(reachable, replies):
            if _is(reply, "PUT-FROM"):
                wanting.append((node, conn, max(0, reply.args[0])))
                continue
            conn.inRequest = False
            if _is(reply, "ALREADY-HAVE", "ALREADY-HAVE-PLUS"):
                anyHave = True
                if not node.via:
                    have.append(node.uuid)
                have.extend(_plus(reply))
            elif reply is not None:
                self.log.info("node {node} answered PUT with {reply}", node=node.name, reply=messages.format(reply).strip())
        return wanting, have, anyHave

    def _otherThanData(self, session, nxt, wanting):
        """
        The client answered C{PUT-FROM} with something other than C{DATA}.

        @return: True if the nodes' verdicts are to be awaited (C{DATA-PRESENT}).
        """
        if _is(nxt, "DATA-PRESENT"):
            for node, conn, _ in wanting:
                conn.sendMessage(nxt if conn.version >= 4 else messages.error("expected DATA"))
            return True
        if not _is(nxt, "ERROR"):
            session.sendMessage(messages.EXPECTED_DATA)
            nxt = messages.error("expected DATA")
        for node, conn, _ in wanting:
            conn.sendMessage(nxt)
            conn.inRequest = False
        return False

    async def _stored(self, session, key, wanting, have, anyHave):
        """
        Gather the nodes' verdicts on the upload, record who has the key,
        and answer the client.
        """
        alive = [(n, c) for n, c, _ in wanting if not c.broken]
        finals = await defer.gatherResults([defer.ensureDeferred(self._read(n, c)) for n, c in alive])
        stored = False
        for (node, conn), final in zip(alive, finals):
            conn.inRequest = False
            if _is(final, "SUCCESS", "SUCCESS-PLUS"):
                stored = True
                if not node.via:
                    have.append(node.uuid)
                have.extend(_plus(final))
                self.stored += 1
            elif final is not None:
                self.log.warn(
                    "node {node} did not store {key}: {reply}",
                    node=node.name,
                    key=key.decode("utf-8", "replace"),
                    reply=messages.format(final).strip(),
                )
        have = self._clean(have)
        self._record(key, have, True)
        if not (stored or anyHave):
            session.sendMessage(messages.FAILURE)
        else:
            session.sendMessage(messages.plus_or_plain("SUCCESS", have, session.version))

    def _clean(self, uuids):
        return [u for u in dict.fromkeys(uuids) if not is_cluster_uuid(u)]

    async def _upload(self, session, key, n, start, wanting):
        """
        Stream the client's C{DATA n} (from offset C{start}) to every wanting
        node, each from its own offset, then pass the client's verdict on.
        """
        if n < 0:
            raise SessionAborted("client announced DATA %d" % (n,))
        total = start + n
        for node, conn, offset in wanting:
            self._remote(node)._logTransfer(
                "PUT {key} to node {node} from offset {offset}: {n} bytes",
                key=key.decode("utf-8", "replace"),
                node=node.name,
                offset=offset,
                n=total - offset,
            )
        verdict = None
        if session.buffered() >= n:
            # Small objects: header, payload and verdict in one write each.
            payload = session.takeBuffered(n)
            verdict = session.takeVerdict() if session.version >= 1 else None
            for node, conn, offset in wanting:
                out = messages.format(messages.data(total - offset)) + payload[offset - start :]
                if verdict is not None and conn.version >= 1:
                    out += messages.format(verdict)
                write(conn.transport, out)
        else:
            for node, conn, offset in wanting:
                conn.sendMessage(messages.data(total - offset))
            sinks = [(conn.transport, offset - start) for node, conn, offset in wanting]
            byTransport = {conn.transport: node for node, conn, _ in wanting}

            def dropped(transport, why):
                self._fail(byTransport[transport], "in the middle of PUT data: " + why)

            try:
                await relayPayload(session, n, sinks, self.replyTimeout, self.clock, dropped)
            except ShortData as e:
                for node, conn, _ in wanting:
                    conn.close()
                raise SessionAborted("client stopped sending in the middle of PUT data: %s" % (e,))
            except OSError as e:
                for node, conn, _ in wanting:
                    conn.close()
                raise SessionAborted("PUT data could not be relayed: %s" % (e,))
        if session.version >= 1 and verdict is None:
            verdict = await session.nextMessage()
            if not _is(verdict, "VALID", "INVALID"):
                session.sendMessage(messages.EXPECTED_VALID)
                verdict = messages.INVALID
            for node, conn, _ in wanting:
                if conn.version >= 1 and not conn.broken:
                    conn.sendMessage(verdict)
