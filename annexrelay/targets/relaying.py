"""
What every target does the same way: asking a node and reading its
replies, passing replies on in the client's version, relaying a download,
holding a lock, counting transfers.

Everything here speaks through the session's and the node connection's
APIs (L{annexrelay.interfaces.IClientSession},
L{annexrelay.nodeside.NodeConnection}) and moves payloads with the
target's L{annexrelay.streams.Streams}; nothing writes to a transport.
"""

from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.branch import locationlog
from annexrelay.interfaces import SessionAborted
from annexrelay.p2p import messages
from annexrelay.p2p.framing import ShortData
from annexrelay.streams.kernel import NothingSent
from annexrelay.p2p.messages import Message, is_reply

# Objects up to this size are accepted from the client (PUT-FROM 0) while
# the nodes are still answering PUT: see acceptsEarly.
SMALL_OBJECT = 1 << 20

# Transfers this large, or resumed, get a log line each.
LOG_TRANSFERS_FROM = 1 << 20
VERDICTS = ("SUCCESS", "FAILURE", "SUCCESS-PLUS", "FAILURE-PLUS")

# Requests only the repository itself can serve.
NOT_RELAYED = {
    "NOTIFYCHANGE": "NOTIFYCHANGE is not supported on this connection",
    "CONNECT": "CONNECT is not supported on this connection",
}

log = Logger()


class NodeLost(Exception):
    """
    The node went away in the middle of a request; the argument says what
    it said last (its stderr) or why.
    """


def giveBack(pool, conn):
    """
    A session is done with C{conn}: back to the pool if the node is in
    step, closed if a request on it did not finish.
    """
    if conn.inRequest:
        conn.close()
    else:
        pool.release(conn)


def handlerFor(target, msg):
    """
    The target's method for request C{msg} (C{_PUT}, C{_REMOVE_BEFORE}, ...).
    """
    return getattr(target, "_" + msg.name.replace("-", "_"))


def acceptsEarly(session, key):
    """
    Whether a C{PUT} of C{key} is answered C{PUT-FROM 0} at once, before
    the node says how much of it it has: the key says it is at most
    L{SMALL_OBJECT} bytes (resuming does not matter at that size, and the
    node's answer is a round trip off every small upload), and the client
    does not need the node's own offset (L{IClientSession.exactOffsets}:
    the annex+http door learns C{putoffset} from it).
    """
    if getattr(session, "exactOffsets", False):
        return False
    size = locationlog.key_size(key)
    return size is not None and size <= SMALL_OBJECT


def refuseNotRelayed(session, msg):
    """
    Answer a request that only the repository itself serves.

    @return: True if C{msg} was one.
    """
    why = NOT_RELAYED.get(msg.name)
    if why is None:
        return False
    session.sendMessage(messages.error(why))
    return True


def forVersion(reply, version):
    """
    C{reply} as a peer speaking C{version} understands it: C{-PLUS} forms
    become plain ones below version 2.
    """
    if isinstance(reply, Message) and reply.name.endswith("-PLUS") and version < 2:
        return Message(reply.name[: -len("-PLUS")])
    return reply


def relayReply(session, reply, nodeName):
    """
    Pass a node's reply on in the client's version.
    """
    if isinstance(reply, messages.Unparsable):
        session.sendMessage(messages.error("node %s sent an unparsable reply" % (nodeName,)))
        return
    session.sendMessage(forVersion(reply, session.version))


def _lastWords(conn, e):
    last = conn.lastWords()
    if last:
        return ": " + last
    return ": %s" % (e,) if str(e) else ""


async def ask(conn, msg):
    """
    Send C{msg} to the node, return its reply; L{NodeLost} if it died.
    """
    try:
        return await conn.request(msg)
    except Exception as e:
        raise NodeLost(_lastWords(conn, e))


async def read(conn):
    """
    The node's next message; L{NodeLost} if it died.
    """
    try:
        return await conn.nextMessage()
    except Exception as e:
        raise NodeLost(": %s" % (e,) if str(e) else "")


class Transfers:
    """
    One node's transfers in one session.  Resumed and large transfers are
    logged one by one; the others are counted for the session's closing
    line, so a burst of small files does not cost a log line each.
    """

    def __init__(self, nodeName):
        self.nodeName = nodeName
        self.count = 0
        self.bytes = 0

    def note(self, request, key, offset, n):
        self.count += 1
        self.bytes += n
        if offset or n >= LOG_TRANSFERS_FROM:
            log.info(
                "{request} {key} {way} node {node} {at} offset {offset}: {n} bytes",
                request=request,
                key=key.decode("utf-8", "replace"),
                way="from" if request == "GET" else "to",
                node=self.nodeName,
                at="at" if request == "GET" else "from",
                offset=offset,
                n=n,
            )


async def holdLock(session, conn, nodeName):
    """
    The node locked the content and the client was told so: keep the
    node's lock until the client's C{UNLOCKCONTENT} (or its going away).
    """
    # The lock holds while the client's next message is not here.  If the
    # node goes away meanwhile the lock is gone: the client must not go on
    # believing it holds one.
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
        raise SessionAborted("node %s went away while the client held a lock" % (nodeName,))
    lost.cancel()
    conn.sendMessage(messages.UNLOCKCONTENT)
    if not (isinstance(first, Message) and first.name == "UNLOCKCONTENT"):
        session.sendMessage(messages.EXPECTED_UNLOCKCONTENT)


async def download(streams, transfers, session, conn, msg, reply, verdict=None):
    """
    The node answered C{GET} with C{reply} (C{DATA n}): pass the payload,
    the node's C{VALID}/C{INVALID} (C{verdict} if already read) and the
    client's verdict on.
    """
    n = reply.args[0]
    transfers.note("GET", msg.args[2], msg.args[0], n)
    try:
        if verdict is None:
            verdict = await streams.forward(conn, session, reply, n, conn.version >= 1)
        else:
            session.sendMessage(reply)
            session.sendMessage(verdict)
    except NothingSent as e:
        # The client got nothing of it: the request fails, the session goes on.
        raise NodeLost(" in the middle of GET data: %s" % (e,))
    except ShortData as e:
        raise SessionAborted(
            "node %s stopped sending in the middle of GET data: %s" % (transfers.nodeName, e), midPayload=True
        )
    except OSError as e:
        raise SessionAborted("the client went away in the middle of GET data: %s" % (e,), midPayload=True)
    if conn.version >= 1 and verdict is None:
        verdict = await read(conn)
        relayReply(session, verdict, transfers.nodeName)
    answer = await session.nextMessage()
    if isinstance(answer, Message) and answer.name in VERDICTS:
        conn.sendMessage(forVersion(answer, conn.version))
    else:
        session.sendMessage(messages.expected_client_verdict(session.version))
        conn.sendMessage(messages.FAILURE)


async def clientVerdict(session):
    """
    The client's C{VALID}/C{INVALID} after its payload; C{INVALID} (after
    telling the client) when it sent something else, so the node verifies
    anyway, as a direct server does.
    """
    verdict = await session.nextMessage()
    if is_reply(verdict, "VALID", "INVALID"):
        return verdict
    session.sendMessage(messages.EXPECTED_VALID)
    return messages.INVALID
