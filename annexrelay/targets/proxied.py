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

from annexrelay.clientside import ITarget, SessionAborted
from annexrelay.nodeside import NodeError
from annexrelay.p2p import messages
from annexrelay.p2p.framing import ShortData
from annexrelay.p2p.messages import Message
from annexrelay.fastwrite import write
from annexrelay.splicing import relayPayload

LOG_TRANSFERS_FROM = 1 << 20
_VERDICTS = ("SUCCESS", "FAILURE", "SUCCESS-PLUS", "FAILURE-PLUS")


class _NodeLost(Exception):
    pass


async def _forward(src, dst, header, n, withVerdict):
    """
    Pass C{header} (C{DATA n}) and the C{n} payload bytes that follow it on
    framer C{src} to framer C{dst}: in one write when they are all there
    already, streamed (spliced or relayed, with backpressure) otherwise.

    @return: the C{VALID}/C{INVALID} passed on with the payload, or None if
        it is still to be read.
    @raise ShortData: C{src} ended early.
    @raise OSError: C{dst} broke while a payload was spliced to it.
    """
    whole = _takeWhole(src, header, n, withVerdict)
    if whole is not None:
        data, verdict = whole
        write(dst.transport, data)
        return verdict
    dst.sendMessage(header)
    await relayPayload(src, n, [(dst.transport, 0)])
    return None


def _takeWhole(framer, header, n, withVerdict):
    """
    When C{framer} already holds a whole payload of C{n} bytes (small
    objects usually come in one read), take it, and its C{VALID}/C{INVALID}
    if that is there too, to be passed on with its C{DATA} header in one
    write.

    @return: C{(bytes to write, verdict or None)}, or None when the payload
        is not all there.
    """
    if framer.buffered() < n:
        return None
    payload = framer.takeBuffered(n)
    verdict = framer.takeVerdict() if withVerdict else None
    out = messages.format(header) + payload
    if verdict is not None:
        out += messages.format(verdict)
    return out, verdict


@implementer(ITarget)
class ProxiedRemote:
    """
    One client session's view of one proxied remote.

    @param node: the L{annexrelay.repo.Node}.
    @param pool: the L{annexrelay.connectors.NodePool}.
    @param locationLog: the L{annexrelay.branch.LocationLogWriter}.
    """

    log = Logger()

    def __init__(self, node, pool, locationLog):
        self.node = node
        self.uuid = node.uuid
        self.pool = pool
        self.locationLog = locationLog
        self._conn = None
        self._version = 0
        self.transfers = 0
        self.bytes = 0

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
            if conn.inRequest:
                conn.close()
            else:
                self.pool.release(conn)

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
        return "%d transfer(s), %d byte(s) with node %s" % (self.transfers, self.bytes, self.node.name)

    # Requests

    def handle(self, session, msg):
        return defer.ensureDeferred(self._handle(session, msg))

    async def _handle(self, session, msg):
        try:
            conn = await self._node()
        except NodeError as e:
            session.sendMessage(messages.error(str(e)))
            return
        conn.inRequest = True
        try:
            await getattr(self, "_" + msg.name.replace("-", "_"))(session, conn, msg)
        except _NodeLost as e:
            why = "node %s closed the connection%s" % (self.node.name, e.args[0] if e.args else "")
            self.log.warn("{why}", why=why)
            conn.close()
            session.sendMessage(messages.error(why))
            return
        except ShortData as e:
            raise SessionAborted("%s" % (e,))
        conn.inRequest = False

    async def _ask(self, conn, msg):
        """
        Send C{msg} to the node, return its reply; L{_NodeLost} if it died.
        """
        try:
            return await conn.request(msg)
        except Exception as e:
            stderr = ""
            src = getattr(conn, "stderrSource", None)
            if src is not None and src.stderr:
                stderr = ": " + src.stderr.decode("utf-8", "replace").strip().splitlines()[-1]
            raise _NodeLost(stderr or (": %s" % (e,) if str(e) else ""))

    async def _read(self, conn):
        try:
            return await conn.nextMessage()
        except Exception as e:
            raise _NodeLost(": %s" % (e,) if str(e) else "")

    def _logTransfer(self, fmt, **kw):
        """
        Resumed and large transfers are logged one by one; the others are
        counted for the session's closing line, so a burst of small files
        does not cost a log line each.
        """
        self.transfers += 1
        self.bytes += kw["n"]
        if kw["offset"] or kw["n"] >= LOG_TRANSFERS_FROM:
            self.log.info(fmt, **kw)

    def _relayReply(self, session, reply):
        """
        Pass a node's reply on, turning -PLUS forms into plain ones for
        clients below version 2.
        """
        if isinstance(reply, messages.Unparsable):
            session.sendMessage(messages.error("node %s sent an unparsable reply" % (self.node.name,)))
            return
        if reply.name.endswith("-PLUS") and session.version < 2:
            reply = Message(reply.name[: -len("-PLUS")])
        session.sendMessage(reply)

    async def _CHECKPRESENT(self, session, conn, msg):
        self._relayReply(session, await self._ask(conn, msg))

    _GETTIMESTAMP = _CHECKPRESENT

    async def _REMOVE(self, session, conn, msg):
        key = msg.args[-1]
        if msg.name == "REMOVE-BEFORE" and conn.version < 3:
            msg = Message("REMOVE", (key,))
        reply = await self._ask(conn, msg)
        if isinstance(reply, Message):
            if reply.name in ("SUCCESS", "SUCCESS-PLUS"):
                self.locationLog.record(key, self.node.uuid, False)
            if reply.name in ("SUCCESS-PLUS", "FAILURE-PLUS"):
                for u in reply.args[0]:
                    self.locationLog.record(key, u, False)
        self._relayReply(session, reply)

    _REMOVE_BEFORE = _REMOVE

    async def _LOCKCONTENT(self, session, conn, msg):
        reply = await self._ask(conn, msg)
        self._relayReply(session, reply)
        if isinstance(reply, Message) and reply.name == "SUCCESS":
            await self.holdLock(session, conn)

    async def holdLock(self, session, conn):
        """
        The node locked the content and the client was told so: keep the
        node's lock until the client's C{UNLOCKCONTENT} (or its going away).
        """
        # The lock holds while the client's next message is not here.  If
        # the node goes away meanwhile the lock is gone: the client must not
        # go on believing it holds one.
        lost = conn.whenLost()
        nxt = session.nextMessage()
        try:
            first, which = await defer.DeferredList(
                [nxt, lost], fireOnOneCallback=True, fireOnOneErrback=True, consumeErrors=True
            )
        except defer.FirstError as e:
            # The client went away: release the node's lock.
            lost.cancel()
            conn.sendMessage(messages.UNLOCKCONTENT)
            e.subFailure.raiseException()
        if which == 1:
            raise SessionAborted("node %s went away while the client held a lock" % (self.node.name,))
        lost.cancel()
        conn.sendMessage(messages.UNLOCKCONTENT)
        if not (isinstance(first, Message) and first.name == "UNLOCKCONTENT"):
            session.sendMessage(messages.EXPECTED_UNLOCKCONTENT)

    async def _GET(self, session, conn, msg):
        reply = await self._ask(conn, msg)
        if not (isinstance(reply, Message) and reply.name == "DATA"):
            self._relayReply(session, reply)
            return
        await self.download(session, conn, msg, reply)

    async def download(self, session, conn, msg, reply, verdict=None):
        """
        The node answered C{GET} with C{reply} (C{DATA n}): pass the payload,
        the node's C{VALID}/C{INVALID} (C{verdict} if already read) and the
        client's verdict on.
        """
        n = reply.args[0]
        self._logTransfer(
            "GET {key} from node {node} at offset {offset}: {n} bytes",
            key=msg.args[2].decode("utf-8", "replace"),
            node=self.node.name,
            offset=msg.args[0],
            n=n,
        )
        try:
            if verdict is None:
                verdict = await _forward(conn, session, reply, n, conn.version >= 1)
            else:
                session.sendMessage(reply)
                session.sendMessage(verdict)
        except ShortData as e:
            raise SessionAborted("node %s stopped sending in the middle of GET data: %s" % (self.node.name, e))
        except OSError as e:
            raise SessionAborted("the client went away in the middle of GET data: %s" % (e,))
        if conn.version >= 1 and verdict is None:
            verdict = await self._read(conn)
            self._relayReply(session, verdict)
        answer = await session.nextMessage()
        if isinstance(answer, Message) and answer.name in _VERDICTS:
            if answer.name.endswith("-PLUS") and conn.version < 2:
                answer = Message(answer.name[: -len("-PLUS")])
            conn.sendMessage(answer)
        else:
            session.sendMessage(messages.expected_client_verdict(session.version))
            conn.sendMessage(messages.FAILURE)

    async def _PUT(self, session, conn, msg):
        key = msg.args[1]
        reply = await self._ask(conn, msg)
        if not isinstance(reply, Message) or reply.name not in ("PUT-FROM",):
            if isinstance(reply, Message) and reply.name == "ALREADY-HAVE-PLUS":
                for u in reply.args[0]:
                    self.locationLog.record(key, u, True)
            self._relayReply(session, reply)
            return
        session.sendMessage(reply)
        nxt = await session.nextMessage()
        if isinstance(nxt, Message) and nxt.name == "DATA":
            n = nxt.args[0]
            if n < 0:
                raise SessionAborted("client announced DATA %d" % (n,))
            self._logTransfer(
                "PUT {key} to node {node} from offset {offset}: {n} bytes",
                key=key.decode("utf-8", "replace"),
                node=self.node.name,
                offset=reply.args[0],
                n=n,
            )
            try:
                verdict = await _forward(session, conn, nxt, n, session.version >= 1)
            except ShortData as e:
                # The node got a partial object; it keeps it for resume.
                conn.close()
                raise SessionAborted("client stopped sending in the middle of PUT data: %s" % (e,))
            except OSError as e:
                conn.close()
                raise SessionAborted("node %s failed in the middle of PUT data: %s" % (self.node.name, e))
            if session.version >= 1 and verdict is None:
                verdict = await session.nextMessage()
                if isinstance(verdict, Message) and verdict.name in ("VALID", "INVALID"):
                    conn.sendMessage(verdict)
                else:
                    # As a direct server does: complain, then verify anyway.
                    session.sendMessage(messages.EXPECTED_VALID)
                    conn.sendMessage(messages.INVALID)
        elif isinstance(nxt, Message) and nxt.name == "DATA-PRESENT" and session.version >= 4:
            conn.sendMessage(nxt)
        elif isinstance(nxt, Message) and nxt.name == "ERROR":
            # The client gives up on this PUT; so does the node.
            conn.sendMessage(nxt)
            return
        else:
            session.sendMessage(messages.EXPECTED_DATA)
            conn.sendMessage(messages.error("expected DATA"))
            return
        final = await self._read(conn)
        if isinstance(final, Message) and final.name in ("SUCCESS", "SUCCESS-PLUS"):
            self.locationLog.record(key, self.node.uuid, True)
            if final.name == "SUCCESS-PLUS":
                for u in final.args[0]:
                    self.locationLog.record(key, u, True)
        self._relayReply(session, final)
