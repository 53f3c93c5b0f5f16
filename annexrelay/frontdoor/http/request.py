"""
The twisted.web side of the door: a L{Request} that starts handling as
soon as its headers are in, and streams its body instead of buffering it.

twisted.web renders a request only after its whole body has arrived
(C{Request.content}: memory, or a temporary file past 100 kB).  A put
of a large object, and the body of C{keeplocked} (which lasts as long as
the client holds its lock), must be passed on as they arrive, so here:

 - C{gotLength} (called once the headers are parsed) routes the request
   and starts its handler at once;
 - each C{handleContentChunk} goes to the request's L{BodyStream}, which
   passes it to whoever reads the body and, while that reader is slow (or
   not there yet), pauses the connection's transport: the client is held
   back by TCP, nothing piles up in memory;
 - C{process} (the body is complete) only says so; the handler writes the
   response once the body is complete (an earlier response would confuse
   the HTTP channel, which reads the next request after it).

Every request has one owner, its handler: a client that goes away at any
byte fails the body's reader and C{notifyFinish}, and the handler ends
the P2P session it opened.
"""

from zope.interface import implementer
from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.web import http

from annexrelay.directory.tree import split_scope
from annexrelay.frontdoor.http import routes

# Body bytes held before any reader asks for them; past it the client
# is paused.
BODY_BUFFER = 65536


@implementer(IPushProducer)
class BodyStream:
    """
    The request body as it arrives.  It is a push producer for whatever
    consumer its reader writes into (a P2P pipe end): when that consumer
    is full, the HTTP connection is paused.

    @ivar received: bytes received so far.
    """

    def __init__(self, transport):
        self.transport = transport
        self.received = 0
        self.ended = False
        self.failure = None
        self._buffer = []
        self._size = 0
        self._sink = None
        self._pausers = set()
        self._waiters = []

    def feed(self, data):
        self.received += len(data)
        if self._sink is not None:
            self._sink(data)
            return
        self._buffer.append(data)
        self._size += len(data)
        if self._size > BODY_BUFFER:
            self._pause("unread")

    def attach(self, sink):
        """
        Pass the body to C{sink} (a callable taking bytes): what arrived
        already first, the rest as it comes.
        """
        buffered, self._buffer, self._size = self._buffer, [], 0
        self._sink = sink
        for data in buffered:
            sink(data)
        self._resume("unread")

    def discard(self):
        """
        Nobody wants the body: read and drop it.
        """
        self.attach(lambda data: None)
        self._pausers.clear()
        self._resumeTransport()

    @property
    def claimed(self):
        """
        Whether a reader (or L{discard}) took the body.
        """
        return self._sink is not None

    def end(self):
        self.ended = True
        self._fire()

    def lose(self, reason):
        if not self.ended:
            self.failure = reason
            self._fire()

    def whenEnded(self):
        """
        @return: a L{Deferred} firing with the byte count when the body is
            complete, failing when the client went away first.
        """
        d = defer.Deferred()
        self._waiters.append(d)
        if self.ended or self.failure is not None:
            self._fire()
        return d

    def _fire(self):
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if self.ended:
                d.callback(self.received)
            else:
                d.errback(self.failure)

    # IPushProducer, for the consumer the body is written into.

    def pauseProducing(self):
        self._pause("consumer")

    def resumeProducing(self):
        self._resume("consumer")

    def stopProducing(self):
        self._pausers.discard("consumer")

    def _pause(self, who):
        if not self._pausers and not self.ended and self.transport is not None:
            self.transport.pauseProducing()
        self._pausers.add(who)

    def _resume(self, who):
        if who in self._pausers:
            self._pausers.discard(who)
            if not self._pausers:
                self._resumeTransport()

    def _resumeTransport(self):
        if not self.ended and self.transport is not None and self.transport.connected:
            self.transport.resumeProducing()


class _NoContent:
    """
    Stands in for C{Request.content}: the body is never kept.
    """

    def tell(self):
        return 0

    def seek(self, *args):
        return 0

    def read(self, *args):
        return b""

    def close(self):
        pass


class StreamingRequest(http.Request):
    """
    A request of the p2phttp door (set up by L{StreamingFactory}).

    @ivar route: the L{routes.Route} or L{routes.Refusal} for it.
    @ivar body: its L{BodyStream}.
    @ivar bodyComplete: a L{Deferred} firing when the body has arrived.
    """

    door = None
    body = None

    def gotLength(self, length):
        self.content = _NoContent()
        self.body = BodyStream(self.channel.transport)
        self.bodyComplete = defer.Deferred()
        verb, target = _requestLine(self.channel)
        path, _, query = target.partition(b"?")
        headers = {k.lower().decode("latin-1"): v[0] for k, v in self.requestHeaders.getAllRawHeaders()}
        self.verb = verb.decode("latin-1")
        self.scope, path = split_scope(path) if self.door.scoped else ((), path)
        self.route = routes.route(self.verb, path, query, headers)
        self.door.begin(self)

    def handleContentChunk(self, data):
        self.body.feed(data)

    def process(self):
        self.body.end()
        if not self.bodyComplete.called:
            self.bodyComplete.callback(None)

    def connectionLost(self, reason):
        http.Request.connectionLost(self, reason)
        if self.body is not None:  # (None: the headers never ended)
            self.body.lose(reason)

    def gone(self):
        """
        Whether the client is gone.
        """
        return self._disconnected


def _requestLine(channel):
    """
    The method and target of the request whose headers just ended.  The
    channel keeps them in private attributes until the body has arrived;
    this is the one place the door reads them.
    """
    return channel._command, channel._path


class StreamingFactory(http.HTTPFactory):
    """
    The HTTP factory of one p2phttp listener: its requests are
    L{StreamingRequest}s of C{door}; access is logged by the door, one
    structured line per request.
    """

    def __init__(self, door, reactor):
        http.HTTPFactory.__init__(self, reactor=reactor)
        self.door = door
        self.requestClass = type("Request", (StreamingRequest,), {"door": door})

    def buildProtocol(self, addr):
        p = http.HTTPFactory.buildProtocol(self, addr)
        p.requestFactory = self.requestClass
        return p

    def log(self, request):
        pass
