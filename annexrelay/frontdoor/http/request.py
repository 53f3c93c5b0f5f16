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
from twisted.internet.interfaces import IProtocolNegotiationFactory, IPushProducer
from twisted.logger import Logger
from twisted.web import http

from annexrelay.directory.tree import split_scope
from annexrelay.frontdoor.http import routes
from annexrelay.frontdoor.http.gitroutes import git_route
from annexrelay.streams import kernel

log = Logger()

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

    def __init__(self, transport, clock=None, idleTimeout=None):
        self.transport = transport
        self.clock = clock
        self.idleTimeout = idleTimeout
        self.stalled = False
        self._idle = None
        self._consumerWatch = None
        self._consumerCall = None
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
        self._disarm()
        self._watch()
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
        self._watch()

    @property
    def claimed(self):
        """
        Whether a reader (or L{discard}) took the body.
        """
        return self._sink is not None

    def end(self):
        self.ended = True
        self._disarm()
        self._fire()

    def lose(self, reason):
        self._disarm()
        if not self.ended:
            self.failure = reason
            self._fire()

    # The idle watch: a client that stops sending while nothing holds it
    # back (no pauser) for idleTimeout seconds is cut off, as if it had
    # gone away.

    def _watch(self):
        if self.ended or self.failure is not None or self._pausers:
            self._disarm()
        elif self._idle is None and self.idleTimeout is not None and self.clock is not None:
            self._idle = self.clock.callLater(self.idleTimeout, self._stalled)

    def _disarm(self):
        if self._idle is not None:
            if self._idle.active():
                self._idle.cancel()
            self._idle = None

    def _stalled(self):
        self._idle = None
        self.stalled = True
        log.info("p2phttp: the request body stopped arriving for {n:g} s: closing the connection", n=self.idleTimeout)
        if self.transport is not None:
            self.transport.abortConnection()

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
        # (The consumer is gone: what still comes is dropped by whoever
        # reads, until the body ends.)
        self._resume("consumer")

    def watchConsumer(self, clock, timeout, stalled):
        """
        Call C{stalled()} when the consumer keeps the body paused for
        C{timeout} seconds (None: never): the node stopped taking data.
        C{watchConsumer(None, None, None)} ends the watch.
        """
        if self._consumerCall is not None and self._consumerCall.active():
            self._consumerCall.cancel()
        self._consumerCall = None
        self._consumerWatch = (clock, timeout, stalled) if stalled is not None else None

    def _pause(self, who):
        if not self._pausers and not self.ended and self.transport is not None:
            self.transport.pauseProducing()
        self._pausers.add(who)
        self._watch()
        if who == "consumer" and self._consumerCall is None and self._consumerWatch is not None:
            clock, timeout, stalled = self._consumerWatch
            if timeout is not None:
                self._consumerCall = clock.callLater(timeout, self._consumerStalled)

    def _consumerStalled(self):
        self._consumerCall = None
        self._consumerWatch[2]()

    def _resume(self, who):
        if who == "consumer" and self._consumerCall is not None:
            if self._consumerCall.active():
                self._consumerCall.cancel()
            self._consumerCall = None
        if who in self._pausers:
            self._pausers.discard(who)
            if not self._pausers:
                self._resumeTransport()
        self._watch()

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
    listener = None
    body = None

    def gotLength(self, length):
        self.content = _NoContent()
        self.bodyComplete = defer.Deferred()
        verb, target, version = _requestLine(self.channel)
        path, _, query = target.partition(b"?")
        headers = {k.lower().decode("latin-1"): v[0] for k, v in self.requestHeaders.getAllRawHeaders()}
        self.verb = verb.decode("latin-1")
        # (Set by twisted.web once the body is in; a response started
        # before, git's CGI's, needs them.)
        self.method, self.clientproto = verb, version
        self.scope, path = split_scope(path) if self.door.scoped else ((), path)
        self.route = routes.route(self.verb, path, query, headers)
        if isinstance(self.route, routes.Refusal) and self.route.status == 404:
            # Not the annex side's: git's smart HTTP, or a 404 still.
            git = git_route(self.verb, target.partition(b"?")[0], query, self.door.scoped)
            if git is not None:
                self.route = git
                self.scope = getattr(git, "scope", ())
        # keeplocked's body lasts as long as the client holds its lock.
        idle = None if getattr(self.route, "action", None) == "keeplocked" else self.door.limits.bodyTimeout
        self.body = BodyStream(self.channel.transport, self.door.clock, idle)
        self.body._watch()
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
    The method, target and version of the request whose headers just ended.  The
    channel keeps them in private attributes until the body has arrived;
    this is the one place the door reads them.
    """
    return channel._command, channel._path, channel._version


class HeaderDeadlineChannel(http.HTTPChannel):
    """
    An C{HTTPChannel} whose requests' headers must all arrive within
    C{headerTimeout} seconds of their first byte (twisted.web's own
    C{timeOut} is an idle timeout, reset by every byte: a client sending a
    byte a minute would hold its connection forever).  The body's own
    watch is L{BodyStream}'s: the channel's idle timeout applies between
    requests and to headers only.
    """

    headerTimeout = None
    _headerCall = None
    _inHeaders = True
    _idleTimeOut = None

    def connectionMade(self):
        # Small answers to small requests, back and forth: they must not
        # wait for the peer's delayed ACK (Nagle), 40 ms a request.
        kernel.noDelay(self.transport)
        http.HTTPChannel.connectionMade(self)

    def dataReceived(self, data):
        kernel.quickAck(self.transport)
        if self._headerCall is None and self._inHeaders and self.headerTimeout is not None and data:
            self._headerCall = self.callLater(self.headerTimeout, self._headersTooSlow)
        http.HTTPChannel.dataReceived(self, data)

    def allHeadersReceived(self):
        self._inHeaders = False
        self._cancelHeaderCall()
        # The channel's idle timeout stays on until the body has arrived,
        # where it would cut a body paused by the door (a slow node) and a
        # keeplocked body, quiet while the client's drop goes on: off from
        # here, the body has its own watch.
        if self.timeOut:
            self._idleTimeOut = self.setTimeout(None)
        http.HTTPChannel.allHeadersReceived(self)

    def allContentReceived(self):
        if self._idleTimeOut is not None:
            # (Back on, so that the channel saves it, and restores it when
            # the response is done, as usual.)
            self.setTimeout(self._idleTimeOut)
            self._idleTimeOut = None
        http.HTTPChannel.allContentReceived(self)

    def requestDone(self, request):
        self._inHeaders = True
        http.HTTPChannel.requestDone(self, request)

    def connectionLost(self, reason):
        self._cancelHeaderCall()
        http.HTTPChannel.connectionLost(self, reason)

    def _cancelHeaderCall(self):
        if self._headerCall is not None:
            if self._headerCall.active():
                self._headerCall.cancel()
            self._headerCall = None

    def _headersTooSlow(self):
        self._headerCall = None
        self._log.info(
            "p2phttp: closing {peer}: its request headers took over {n:g} s",
            peer=str(self.transport.getPeer()), n=self.headerTimeout,
        )
        self.transport.abortConnection()


@implementer(IProtocolNegotiationFactory)
class StreamingFactory(http.HTTPFactory):
    """
    The HTTP factory of one p2phttp listener: its requests are
    L{StreamingRequest}s of C{door}; access is logged by the door, one
    structured line per request.  Over TLS it answers ALPN with
    C{http/1.1} (without it, a client offering ALPN, as curl and so git
    do, gets an internal error alert from the handshake).
    """

    def acceptableProtocols(self):
        return [b"http/1.1"]

    def __init__(self, door, reactor, listener=None):
        http.HTTPFactory.__init__(self, reactor=reactor)
        self.door = door
        self.listener = listener
        self.requestClass = type("Request", (StreamingRequest,), {"door": door, "listener": listener})

    protocol = HeaderDeadlineChannel

    def buildProtocol(self, addr):
        p = http.HTTPFactory.buildProtocol(self, addr)
        p.requestFactory = self.requestClass
        p.headerTimeout = self.door.limits.headerTimeout
        return p

    def log(self, request):
        pass
