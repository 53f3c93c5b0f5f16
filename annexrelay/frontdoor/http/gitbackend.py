"""
One run of C{git http-backend} as a CGI, streamed both ways.

(twisted.web.twcgi reads the whole request body before it starts the
script; a push's pack would sit in memory or a temporary file.)

 - The request body goes into the CGI's stdin as it arrives: the body's
   L{annexrelay.frontdoor.http.request.BodyStream} is the producer of
   the stdin pipe, so a CGI that reads slowly pauses the client's TCP
   connection.  At the body's end stdin is closed (a chunked body has no
   C{CONTENT_LENGTH}: git reads to the end).
 - Its stdout's head is parsed (L{annexrelay.frontdoor.http.gitcgi.parse_head}),
   then the rest is streamed into the response, this object being the
   response's producer: a client that reads slowly pauses the pipe, so
   the CGI blocks on its writes.  The response starts as soon as the
   head is in, even while the body still arrives (a CGI may answer as it
   reads: holding its output back would stop it reading); it ends when
   both its stdout and the request body have (twisted.web's channel
   reads the next request after it), as a web server ends a CGI's
   response, without waiting for its exit.
 - Bounds: a CGI that takes no input for the door's C{--node-timeout}
   while the body waits, or sends nothing for as long once the body is
   in, is killed (504 before the response started, else the response is
   cut); a client that reads nothing for C{--body-timeout} is cut off.
 - Killing it: SIGTERM (git then ends the C{upload-pack} or
   C{receive-pack} it runs, as git does on its signals), its pipes
   closed, SIGKILL if it is still there after L{KILL_AFTER} seconds.  A
   client that goes away kills it.
"""

from zope.interface import implementer
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger

from annexrelay.frontdoor.http.gitcgi import BadHead, parse_head
from annexrelay.frontdoor.http.replies import Answer

log = Logger()

KILL_AFTER = 5.0
STDERR_KEPT = 4096


@implementer(IPushProducer)
class Backend(protocol.ProcessProtocol):
    """
    @param exchange: the request's L{annexrelay.frontdoor.http.door.Exchange}
        (C{status} and C{bytes} are kept there for its log line).
    @ivar finished: fires (with None) when the process has ended and the
        response is finished, cut or answered.
    """

    def __init__(self, exchange, clock, nodeTimeout=None, bodyTimeout=None):
        self.exchange = exchange
        self.request = exchange.request
        self.clock = clock
        self.nodeTimeout = nodeTimeout
        self.bodyTimeout = bodyTimeout
        self.finished = defer.Deferred()
        self.head = None
        self._raw = b""
        self.started = False
        self.paused = False
        self.outDone = False
        self.exited = False
        self.responded = False
        self.killed = None
        self.stderr = b""
        self._timer = None
        self._hard = None

    # The request's side

    def connectionMade(self):
        body = self.request.body
        self.transport.registerProducer(body, True)
        body.watchConsumer(self.clock, self.nodeTimeout, lambda: self.kill("it took no input for %g s" % (self.nodeTimeout,)))
        body.attach(self._toStdin)
        body.whenEnded().addCallbacks(self._bodyEnded, lambda f: self.kill("the client went away"))
        self.request.bodyComplete.addCallback(lambda _: self._maybeFinish())

    def _toStdin(self, data):
        if not self.exited and self.killed is None:
            self.transport.write(data)

    def _bodyEnded(self, _):
        self.request.body.watchConsumer(None, None, None)
        if not self.exited and self.killed is None:
            self.transport.unregisterProducer()
            self.transport.closeStdin()
        self._arm()

    # The CGI's side

    def outReceived(self, data):
        if self.killed is not None:
            return
        if self.head is None:
            self._raw += data
            try:
                self.head = parse_head(self._raw)
            except BadHead as e:
                self._raw = b""
                self.kill("its output is not CGI: %s" % (e,), status=502)
                return
            if self.head is None:
                return
            data, self._raw = self._raw[self.head.size :], b""
            self._start()
        if self.started and data:
            self._send(data)
        self._arm()

    def errReceived(self, data):
        self.stderr = (self.stderr + data)[-STDERR_KEPT:]

    def _start(self):
        if self.request.gone():
            self.kill("the client went away")
            return
        self.started = True
        request = self.request
        head = self.head
        self.exchange.status = head.status
        request.setResponseCode(head.status, head.reason)
        for name, value in head.headers:
            request.responseHeaders.addRawHeader(name, value)
        request.registerProducer(self, True)

    def _send(self, data):
        self.exchange.bytes += len(data)
        self.request.write(data)

    def childConnectionLost(self, childFD):
        """
        Its stdout ended: the response is complete (as a web server
        finishes a CGI's response, without waiting for its exit).
        """
        if childFD != 1 or self.outDone:
            return
        self.outDone = True
        self._disarm()
        if self.started:
            self._maybeFinish()
        # (Else processEnded answers, with what it said on stderr.)

    def processEnded(self, reason):
        self.exited = True
        self._disarm()
        if self._hard is not None and self._hard.active():
            self._hard.cancel()
        code = getattr(reason.value, "exitCode", None)
        if self.killed is None and (code or not reason.check(error.ProcessDone)):
            log.warn(
                "git http-backend for {peer} ended with {why}: {stderr}",
                peer=self.exchange.peer(), why=str(reason.value), stderr=self.stderr.decode("utf-8", "replace").strip(),
            )
        if self.responded or self.finished.called:
            return
        if self.head is None and self.killed is None:
            self.killed = ("it ended without a response", 502)
        if self.started:
            self._maybeFinish()
        elif self.request.gone():
            self._fire()
        else:
            self._answer(*self.killed)

    def _maybeFinish(self):
        """
        The response ends when the CGI's stdout has and the request body
        is in (what still comes of it once the CGI is gone is dropped);
        at once when it was killed (cut short).
        """
        if self.started and (self.killed is not None or (self.outDone and self.request.bodyComplete.called)):
            self._finish()

    def _finish(self):
        if self.responded:
            return
        self.responded = True
        request = self.request
        if not request.gone():
            request.unregisterProducer()
            if self.killed is not None:
                request.channel.transport.loseConnection()
            else:
                request.finish()
        self._fire()

    def _answer(self, why, status):
        """
        The CGI failed before its response started: answer C{status}
        once the request body is in.
        """
        body = ("git http-backend failed: %s\n" % (why,)).encode()
        d = defer.ensureDeferred(self.exchange.respond(Answer(status, body, json=False)))
        d.addBoth(lambda _: self._fire())

    def _fire(self):
        if not self.finished.called:
            self.finished.callback(None)

    # Ending it

    def kill(self, why, status=504):
        """
        End the run: SIGTERM, its pipes closed, SIGKILL later.
        """
        if self.exited:
            if self.request.gone():
                # (Its answer was waiting for a body that will not come.)
                self._finish() if self.started else self._fire()
            return
        if self.killed is not None:
            return
        self.killed = (why, status)
        self.exchange.cut = self.started or self.request.gone()
        if not self.request.gone():
            self.exchange.log("git http-backend killed: {why}", why=why)
        self._disarm()
        try:
            self.transport.signalProcess("TERM")
        except error.ProcessExitedAlready:
            return
        self.transport.loseConnection()
        self._hard = self.clock.callLater(KILL_AFTER, self._killHard)

    def _killHard(self):
        try:
            self.transport.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass

    # The door's link protocol: the client went away, or the door stops.

    def close(self):
        self.kill("the client went away")

    def abort(self):
        self.kill("the daemon is stopping")

    # IPushProducer, for the response

    def pauseProducing(self):
        self.paused = True
        self.transport.pauseProducing()
        self._arm()

    def resumeProducing(self):
        self.paused = False
        if not self.exited:
            self.transport.resumeProducing()
        self._arm()

    def stopProducing(self):
        self.kill("the client went away")

    # The watch: after the body, the CGI must send within nodeTimeout; a
    # client that holds the response paused must read within bodyTimeout.

    def _arm(self):
        self._disarm()
        if self.outDone or self.killed is not None or not self.request.body.ended:
            return
        if self.paused and self.bodyTimeout is not None:
            self._timer = self.clock.callLater(self.bodyTimeout, self._silentClient)
        elif not self.paused and self.nodeTimeout is not None:
            self._timer = self.clock.callLater(
                self.nodeTimeout, lambda: self.kill("it sent nothing for %g s" % (self.nodeTimeout,))
            )

    def _disarm(self):
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def _silentClient(self):
        self._timer = None
        self.kill("the client read nothing for %g s" % (self.bodyTimeout,))
        self.request.channel.transport.abortConnection()

