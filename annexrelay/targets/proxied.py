"""
A single proxied remote: every request is relayed to one node.

Differences from git-annex's own proxy, on purpose:
 - a node that cannot be reached gets the client a clear C{ERROR} per
   request instead of a silently closed connection;
 - a client line after C{LOCKCONTENT}/C{SUCCESS} that is not
   C{UNLOCKCONTENT} is answered C{ERROR expected UNLOCKCONTENT} by the relay
   (the node's lock is released) instead of being forwarded blindly, which
   desynchronises git-annex's proxy;
 - a bad client verdict after C{GET} data, or a missing C{VALID}/C{INVALID}
   after C{PUT} data, is answered by the relay and the node is kept in step.
"""

from zope.interface import implementer
from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.interfaces import ITarget, SessionAborted
from annexrelay.localnode import serve as localserve
from annexrelay.nodeside import NodeError
from annexrelay.p2p import messages
from annexrelay.p2p.framing import ShortData
from annexrelay.p2p.messages import Message, is_reply, plus_uuids
from annexrelay.targets import relaying
from annexrelay.targets.relaying import NodeLost, ask, read, relayReply


@implementer(ITarget)
class ProxiedRemote:
    """
    One client session's view of one proxied remote.

    @param node: the L{annexrelay.repo.Node}.
    @param pool: the L{annexrelay.connectors.pool.NodePool}.
    @param locationLog: the L{annexrelay.branch.writer.LocationLogWriter}.
    @param streams: the L{annexrelay.streams.Streams} payloads move with.
    @param sizes: the L{annexrelay.branch.sizes.RepoSizes} kept current
        with what this remote stores and removes (quotas), or None.
    @param local: the node as a L{annexrelay.localnode.objects.LocalNode}
        when annexrelay writes it itself (C{--local-store}): C{CHECKPRESENT}
        and C{PUT} are then answered without its git-annex-shell.
    """

    log = Logger()

    def __init__(self, node, pool, locationLog, streams, sizes=None, local=None):
        self.node = node
        self.local = local
        self.sizes = sizes
        self.uuid = node.uuid
        self.pool = pool
        self.locationLog = locationLog
        self.streams = streams
        self.transfers = relaying.Transfers(node.name)
        self._conn = None
        self._version = 0

    # Connection management

    async def _acquire(self, version):
        try:
            conn = await self.pool.acquire(self.node, version)
        except NodeError as e:
            self.log.warn("{error}", error=str(e))
            raise
        self._conn = conn
        return conn

    def _giveBack(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            relaying.giveBack(self.pool, conn)

    async def negotiate(self, session, version):
        self._giveBack()
        self._version = version
        try:
            conn = await self._acquire(version)
        except NodeError:
            # Answer anyway; each request will say why it cannot be served.
            return version
        return conn.version

    async def _node(self):
        if self._conn is not None and not self._conn.broken:
            return self._conn
        self._giveBack()
        return await self._acquire(self._version)

    def close(self):
        self._giveBack()

    def summary(self):
        return "%d transfer(s), %d byte(s) with node %s" % (self.transfers.count, self.transfers.bytes, self.node.name)

    # Requests

    def handle(self, session, msg):
        return defer.ensureDeferred(self._handle(session, msg))

    async def _handle(self, session, msg):
        if relaying.refuseNotRelayed(session, msg):
            return
        if localserve.serves(self.local, msg):
            await self._served(session, msg)
            return
        try:
            conn = await self._node()
        except NodeError as e:
            session.sendMessage(messages.error(str(e)))
            return
        try:
            # A request that raises leaves its lease open: the connection
            # is then closed when given back, never reused out of step.
            with conn.lease():
                await relaying.handlerFor(self, msg)(session, conn, msg)
        except NodeLost as e:
            why = "node %s closed the connection%s" % (self.node.name, e.args[0] if e.args else "")
            self.log.warn("{why}", why=why)
            conn.close()
            session.sendMessage(messages.error(why))
        except ShortData as e:
            raise SessionAborted("%s" % (e,), midPayload=True)

    async def _served(self, session, msg):
        """
        A request annexrelay answers itself for a local node.
        """
        if msg.name == "CHECKPRESENT":
            session.sendMessage(localserve.checkPresent(self.local, msg))
            return
        key = msg.args[1]
        final = await localserve.put(self.local, session, msg, self.transfers)
        if final is None:
            return
        if is_reply(final, "SUCCESS"):
            self._stored(key, [self.node.uuid])
        elif is_reply(final, "ERROR") and session.say is not None:
            # git-annex shows the ssh session's stderr, not a PUT's ERROR
            # (its own server's "transfer already in progress" goes there).
            session.say(final.args[0].decode("utf-8", "replace"))
        session.sendMessage(final)

    def _stored(self, key, uuids):
        for u in uuids:
            self.locationLog.record(key, u, True)
            if self.sizes is not None:
                self.sizes.stored(key, u, False)

    def _relayReply(self, session, reply):
        relayReply(session, reply, self.node.name)

    async def _CHECKPRESENT(self, session, conn, msg):
        self._relayReply(session, await ask(conn, msg))

    _GETTIMESTAMP = _CHECKPRESENT

    async def _REMOVE(self, session, conn, msg):
        key = msg.args[-1]
        if msg.name == "REMOVE-BEFORE" and conn.version < 3:
            msg = Message("REMOVE", (key,))
        reply = await ask(conn, msg)
        removed = [self.node.uuid] if is_reply(reply, "SUCCESS", "SUCCESS-PLUS") else []
        for u in removed + list(plus_uuids(reply)):
            self.locationLog.record(key, u, False)
            if self.sizes is not None:
                self.sizes.removed(key, u, True)
        self._relayReply(session, reply)

    _REMOVE_BEFORE = _REMOVE

    async def _LOCKCONTENT(self, session, conn, msg):
        reply = await ask(conn, msg)
        self._relayReply(session, reply)
        if is_reply(reply, "SUCCESS"):
            await relaying.holdLock(session, conn, self.node.name)

    async def _GET(self, session, conn, msg):
        reply = await ask(conn, msg)
        if not is_reply(reply, "DATA"):
            self._relayReply(session, reply)
            return
        await relaying.download(self.streams, self.transfers, session, conn, msg, reply)

    async def _PUT(self, session, conn, msg):
        key = msg.args[1]
        if relaying.acceptsEarly(session, key):
            await self._earlyPut(session, conn, msg)
            return
        reply = await ask(conn, msg)
        if not is_reply(reply, "PUT-FROM"):
            if is_reply(reply, "ALREADY-HAVE-PLUS"):
                for u in reply.args[0]:
                    self.locationLog.record(key, u, True)
            self._relayReply(session, reply)
            return
        session.sendMessage(reply)
        await self._upload(session, conn, key, await session.nextMessage(), reply.args[0], 0)

    async def _earlyPut(self, session, conn, msg):
        """
        A small object: the node is asked C{PUT} and the client is told
        C{PUT-FROM 0} at once, so the client sends while the node is still
        answering (a round trip to the node off every small upload).  What
        the node already has of it is skipped when the payload is passed
        on; a node that takes nothing gets nothing, and the client, whose
        payload is dropped, is answered as after an upload.
        """
        key = msg.args[1]
        asked = defer.ensureDeferred(ask(conn, msg))
        session.sendMessage(messages.PUT_FROM_0)
        try:
            nxt = await session.nextMessage()
        except BaseException:
            asked.addErrback(lambda f: None)
            raise
        try:
            reply = await asked
        except NodeLost:
            if await self._dropUpload(session, nxt):
                raise
            # The client gave up on this PUT: it expects no answer.
            conn.close()
            return
        if is_reply(reply, "PUT-FROM"):
            await self._upload(session, conn, key, nxt, reply.args[0], reply.args[0])
            return
        if not await self._dropUpload(session, nxt):
            return
        if is_reply(reply, "ALREADY-HAVE", "ALREADY-HAVE-PLUS"):
            # The node has it: the upload the client made is not needed.
            have = reply.args[0] if reply.name == "ALREADY-HAVE-PLUS" else ()
            for u in have:
                self.locationLog.record(key, u, True)
            self._relayReply(session, messages.plus_or_plain("SUCCESS", have, session.version))
            return
        what = messages.format(reply).strip() if isinstance(reply, Message) else b"an unparsable line"
        self.log.info("node {node} answered PUT with {reply}", node=self.node.name, reply=what.decode("utf-8", "replace"))
        self._relayReply(session, reply)

    async def _dropUpload(self, session, nxt):
        """
        The client's answer C{nxt} to an early C{PUT-FROM 0} when the node
        takes nothing: its payload and verdict are read and dropped.

        @return: whether the client now waits for the PUT's outcome (it
            sent C{DATA} or C{DATA-PRESENT}); otherwise it gave up or was
            told C{ERROR expected DATA}.
        """
        if is_reply(nxt, "DATA"):
            if nxt.args[0] < 0:
                raise SessionAborted("client announced DATA %d" % (nxt.args[0],))
            await session.readData(nxt.args[0], None)
            if session.version >= 1:
                await relaying.clientVerdict(session)
            return True
        if is_reply(nxt, "DATA-PRESENT") and session.version >= 4:
            return True
        if not is_reply(nxt, "ERROR"):
            session.sendMessage(messages.EXPECTED_DATA)
        return False

    async def _upload(self, session, conn, key, nxt, offset, skip):
        """
        The client's answer C{nxt} to C{PUT-FROM}: pass its payload on
        without its first C{skip} bytes (the node resumes from C{offset}),
        then the node's verdict back.
        """
        if is_reply(nxt, "DATA"):
            n = nxt.args[0]
            if n < 0:
                raise SessionAborted("client announced DATA %d" % (n,))
            skip = min(skip, n)
            self.transfers.note("PUT", key, offset, n - skip)
            try:
                verdict = await self._passOn(session, conn, nxt, n, skip)
            except ShortData as e:
                # The node got a partial object; it keeps it for resume.
                conn.close()
                raise SessionAborted("client stopped sending in the middle of PUT data: %s" % (e,))
            except OSError as e:
                conn.close()
                raise SessionAborted("node %s failed in the middle of PUT data: %s" % (self.node.name, e))
            if session.version >= 1 and verdict is None:
                conn.sendMessage(await relaying.clientVerdict(session))
        elif is_reply(nxt, "DATA-PRESENT") and session.version >= 4:
            conn.sendMessage(nxt)
        elif is_reply(nxt, "ERROR"):
            # The client gives up on this PUT; so does the node.
            conn.sendMessage(nxt)
            return
        else:
            session.sendMessage(messages.EXPECTED_DATA)
            conn.sendMessage(messages.error("expected DATA"))
            return
        final = await read(conn)
        if is_reply(final, "SUCCESS", "SUCCESS-PLUS"):
            self._stored(key, [self.node.uuid] + list(plus_uuids(final)))
        self._relayReply(session, final)

    async def _passOn(self, session, conn, header, n, skip):
        """
        The client's C{DATA n} payload to the node, less its first C{skip}
        bytes.

        @return: the verdict passed on with it, or None.
        """
        if not skip:
            return await self.streams.forward(session, conn, header, n, session.version >= 1)
        whole = session.takePayload(n, session.version >= 1)
        if whole is not None:
            payload, verdict = whole
            conn.sendPayload(payload[skip:], verdict)
            return verdict
        conn.sendMessage(messages.data(n - skip))
        await self.streams.payload(session, n, [(conn, skip)])
        return None
