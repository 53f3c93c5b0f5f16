"""
The key GET: C{GET offset af key} on the request's P2P session, the
node's C{DATA n} streamed into the HTTP response.

 - The response carries C{X-git-annex-data-length: n} (as git-annex) and,
   beyond git-annex, C{Content-Length: n}.  C{HEAD} gets the headers
   alone, from a C{CHECKPRESENT} and the key's recorded size: no transfer
   from the node is started (a key without a recorded size gets no
   length headers).
 - The response is a producer of the twisted.web request: while the
   client reads slowly, the pipe end is held, which pauses the core's
   relay, which pauses the node.  Nothing is buffered beyond the
   transports' own buffers.  A client that reads nothing for the door's
   C{--body-timeout} is cut off.
 - Content the node finds invalid (C{INVALID} after the data) is
   signalled as git-annex does, by a body one byte short of the announced
   length: the last byte is held back until the verdict is in, and after
   C{INVALID} the connection is closed without it.
 - A key the target cannot send is 200 with a length of 0 and no body,
   as git-annex answers; an unreachable node is 502.
"""

from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from annexrelay.branch.locationlog import key_size
from annexrelay.frontdoor.http import replies
from annexrelay.p2p import messages
from annexrelay.p2p.messages import Message, is_reply


@implementer(IPushProducer)
class _Pacer:
    """
    The response's producer: the client's TCP buffer full holds the pipe.
    A client that takes nothing for C{timeout} seconds (the door's
    C{--body-timeout}) is cut off: a GET is safe to cut, the client
    retries, and a silent reader would hold its request slot for good.
    """

    def __init__(self, end, exchange, clock=None, timeout=None, nodeTimeout=None):
        self.end = end
        self.exchange = exchange
        self.clock = clock
        self.timeout = timeout
        self.nodeTimeout = nodeTimeout
        self.paused = False
        self._watch = None
        self._node = None

    def pauseProducing(self):
        self.paused = True
        self._disarmNode()
        self.end.hold()
        if self._watch is None and self.timeout is not None:
            self._watch = self.clock.callLater(self.timeout, self._silent)

    def resumeProducing(self):
        self.paused = False
        self._disarmClient()
        self.kick()
        self.end.release()

    def stopProducing(self):
        # The client's connection is gone.
        self._disarm()
        self.exchange.cut = True
        self.end.abortConnection()

    def kick(self):
        """
        Bytes came from the node (or the client wants more): the node has
        C{nodeTimeout} seconds for the next ones, unless the client is
        the slow one.
        """
        if self.paused or self.nodeTimeout is None:
            self._disarmNode()
        elif self._node is not None and self._node.active():
            # Once per chunk: moving the deadline is cheaper than a new call.
            self._node.reset(self.nodeTimeout)
        else:
            self._node = self.clock.callLater(self.nodeTimeout, self._nodeStalled)

    def _disarm(self):
        self._disarmClient()
        self._disarmNode()

    def _disarmClient(self):
        if self._watch is not None:
            if self._watch.active():
                self._watch.cancel()
            self._watch = None

    def _disarmNode(self):
        if self._node is not None:
            if self._node.active():
                self._node.cancel()
            self._node = None

    def _nodeStalled(self):
        # The headers are sent: the client learns it by a short body.
        self._node = None
        self.exchange.log("the node sent nothing for {n:g} s: ending the download", n=self.nodeTimeout)
        self.exchange.cut = True
        self.end.abortConnection()
        self.exchange.request.channel.transport.loseConnection()

    def _silent(self):
        self._watch = None
        self.exchange.log("stopped reading for {n:g} s: closing its connection", n=self.timeout)
        self.exchange.cut = True
        self.end.abortConnection()
        self.exchange.request.channel.transport.abortConnection()


def _headers(request, length):
    request.setResponseCode(200)
    request.setHeader(b"Content-Type", b"application/octet-stream")
    request.setHeader(b"X-git-annex-data-length", b"%d" % (length,))


async def _head(exchange, conn, key, offset):
    """
    C{HEAD} of a key: a C{CHECKPRESENT}, never a transfer from the node;
    the length is the key's size (less the offset) when the key records
    it, else the headers carry none.
    """
    request = exchange.request
    reply = await conn.request(Message("CHECKPRESENT", (key,)))
    if replies.unreachable(reply):
        await exchange.respond(replies.failure(reply))
        return None
    size = key_size(key)
    if not is_reply(reply, "SUCCESS"):
        # Absent: as the GET of an absent key, an empty object.
        _headers(request, 0)
    elif size is None:
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"application/octet-stream")
    else:
        n = max(0, size - offset)
        _headers(request, n)
        request.setHeader(b"Content-Length", b"%d" % (n,))
    await exchange.whenBodyComplete()
    request.write(b"")
    return 0


async def get(exchange, link, route):
    """
    Serve one key GET on C{link}.

    @return: the response's byte count, or None when the response was
        already answered by C{exchange.respond}.
    """
    request = exchange.request
    offset = 0 if route.generic else route.params.get("offset", 0)
    af = route.params.get("associatedfile", b"")
    conn = link.conn
    if request.verb == "HEAD":
        return await _head(exchange, conn, route.params["key"], offset)
    reply = await conn.request(Message("GET", (offset, af, route.params["key"])))
    if not is_reply(reply, "DATA"):
        if replies.unreachable(reply):
            await exchange.respond(replies.failure(reply))
            return None
        # Absent, or refused: git-annex answers an empty object.
        _headers(request, 0)
        await exchange.whenBodyComplete()
        request.write(b"")
        return 0
    n = reply.args[0]
    _headers(request, n)
    request.setHeader(b"Content-Length", b"%d" % (n,))
    await exchange.whenBodyComplete()
    withVerdict = conn.version >= 1
    held = []
    sent = [0]

    def sink(data):
        if withVerdict:
            # Keep the last byte until the node's verdict.
            if sent[0] + len(data) == n:
                data, held[:] = data[:-1], [data[-1:]]
        sent[0] += len(data)
        pacer.kick()
        if data:
            request.write(data)

    door = getattr(exchange, "door", None)
    watch = (door.clock, door.limits.bodyTimeout, door.limits.nodeTimeout) if door is not None else ()
    pacer = _Pacer(link.end, exchange, *watch)
    request.registerProducer(pacer, True)
    pacer.kick()
    try:
        await conn.readData(n, sink)
        pacer._disarmNode()
        verdict = await conn.nextMessage() if withVerdict else messages.VALID
    finally:
        pacer._disarm()
        request.unregisterProducer()
    if is_reply(verdict, "VALID") or n == 0:
        # (An empty object is served whatever the verdict: a node that
        # lacks the key answers DATA 0 and INVALID, and git-annex answers
        # that with an empty body of length 0.)
        if held:
            request.write(held[0])
        conn.sendMessage(messages.SUCCESS if is_reply(verdict, "VALID") else messages.FAILURE)
        return n
    # INVALID (or nonsense): one byte short, as git-annex signals it.
    conn.sendMessage(messages.FAILURE)
    exchange.log("content of {key} was invalid: sent one byte short", key=route.params["key"])
    exchange.cut = True
    return max(n - 1, 0)
