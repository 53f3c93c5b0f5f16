"""
The relay's side of a client connection: the P2P server role.

A L{ClientSession} lets its front door's authenticator greet the client
(C{AUTH-SUCCESS} at once for ssh, after C{AUTH} with a token for others),
negotiates the version, screens each request (the server mode, bad keys:
L{annexrelay.requests}), answers bad input, and hands each request to its
target (L{annexrelay.interfaces.ITarget}), one request at a time.  When the
daemon stops it serves no new request (L{ClientSession.drain}).  It does
not know how nodes are reached.

Session states, in order: C{awaiting-auth} (the authenticator runs),
C{greeting} (before the first message after it), C{serving} (between
requests), C{in-request}, C{closed}.
"""

from zope.interface import implementer
from twisted.internet import defer, error
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.python.failure import Failure
from twisted.logger import Logger

from annexrelay import requests
from annexrelay.interfaces import IClientSession, SessionAborted
from annexrelay.p2p import messages, pktline
from annexrelay.p2p.framing import MAX_LINE, LineTooLong, P2PFramer, ShortData
from annexrelay.p2p.messages import Message, Unparsable
from annexrelay.requests import Mode


@implementer(IHalfCloseableProtocol, IClientSession)
class ClientSession(P2PFramer):
    """
    One client's P2P session, from its greeting to its end: it reads as one
    thing, the session's life cycle, because the other things a session
    involves already have names of their own.  The framing is
    L{P2PFramer}'s (this class only adds what a server does with the
    messages); what a request means, step by step, is its target's
    (L{annexrelay.targets}); how a payload moves is L{annexrelay.streams}';
    which requests may go on is L{annexrelay.requests}'s.  What is left
    here: the named states, the version, C{BYPASS}, bad input, and ending
    the session once, with a reason.

    @param authenticator: the front door's L{annexrelay.interfaces.IAuthenticator};
        it names the target and the session's mode.
    @param peer: a short description of the client for logs.
    @param door: the front door's name (C{ssh}, C{tor}, C{http}), for
        metrics and logs.
    @param metrics: the L{annexrelay.operator.metrics.Metrics} every request
        is reported to, or None.
    @ivar target: the L{annexrelay.interfaces.ITarget} serving requests
        (None until the client is authenticated).
    @ivar mode: the L{Mode} of this session.
    @ivar done: a L{Deferred} firing when the session is over.
    """

    log = Logger()

    def __init__(self, authenticator, peer="client", door="ssh", metrics=None, repository=None):
        P2PFramer.__init__(self)
        self.door = door
        # The annex+http door answers putoffset with the node's offset.
        self.exactOffsets = door == "http"
        self.repository = repository
        self.metrics = metrics
        self._transfer = None
        self._lastSent = None
        self._lastError = None
        self.authenticator = authenticator
        self.target = None
        self.grant = None
        self.mode = Mode.READ_ONLY
        self.peer = peer
        self.version = 0
        self.bypass = ()
        self.state = "awaiting-auth"
        self.requests = 0
        self.draining = False
        # An async callable: key -> None, or why a PUT of it is refused
        # (the repository's quota), or None.
        self.admitPut = None
        self.putDone = None
        # A callable telling the user a text beside the protocol (the ssh
        # session's stderr: git-annex shows it, not a PUT's ERROR), or None.
        self.say = None
        self.done = defer.Deferred()
        self._ending = None

    def drain(self):
        """
        The daemon is stopping: no new request is served.  A session
        between requests ends now, telling the client why (C{ERROR shutting
        down}, which the client reads as the answer to its next request);
        one in a request ends, the same way, as soon as that request is
        over; one not yet greeted is refused when it would be.
        """
        self.draining = True
        if self.state in ("greeting", "serving"):
            self._shutDown()

    def _shutDown(self):
        self.sendMessage(messages.SHUTTING_DOWN)
        self._finish("shutting down")

    def readConnectionLost(self):
        """
        The client closed its side: finish the request in hand, answer it,
        then end the session.
        """
        self.inputEnded(Failure(error.ConnectionDone()))

    def writeConnectionLost(self):
        """
        The client no longer reads: nothing left to do for it.
        """
        self.abort()

    def connectionMade(self):
        d = defer.ensureDeferred(self._run())
        d.addErrback(self._crashed)

    def _crashed(self, f):
        self.log.failure("session from {peer} failed", f, peer=self.peer)
        self._finish(str(f.value))

    async def _authenticate(self):
        grant = await self.authenticator.greet(self)
        if grant is None:
            return False
        self.grant = grant
        self.target, self.mode = grant.target, grant.mode
        self.state = "greeting"
        self.log.info(
            "session from {peer} to {target} ({mode})",
            peer=self.peer,
            target=self.target.uuid.decode(),
            mode=self.mode.value,
        )
        return True

    async def _run(self):
        reason = "client closed the session"
        try:
            if not await self._authenticate():
                self._finish("authentication failed")
                return
            if self.draining:
                self._shutDown()
                return
            first = await self.nextMessage()
            if isinstance(first, Message) and first.name == "VERSION":
                await self._negotiate(first.args[0])
                msg = await self.nextMessage()
            else:
                msg = first
            self.state = "serving"
            while True:
                if not await self._serve(msg):
                    reason = self._ending or "client sent ERROR"
                    break
                if self.draining:
                    self._shutDown()
                    return
                msg = await self.nextMessage()
        except SessionAborted as e:
            reason = str(e)
            if not e.midPayload:
                # Never closed without a word: the client learns why.
                self.sendMessage(messages.error(reason))
            self.log.warn("closing session from {peer}: {reason}", peer=self.peer, reason=reason)
        except LineTooLong:
            reason = "line longer than %d bytes" % (MAX_LINE,)
            self.sendMessage(messages.error("protocol error: line too long"))
            self.log.warn("closing session from {peer}: {reason}", peer=self.peer, reason=reason)
        except ShortData as e:
            reason = "client stopped sending in the middle of a payload: %s" % (e,)
            self.log.warn("closing session from {peer}: {reason}", peer=self.peer, reason=reason)
        except (error.ConnectionDone, error.ConnectionLost):
            pass
        self._finish(reason)

    def _finish(self, reason):
        if self.state == "closed":
            return
        self.state = "closed"
        try:
            if self.target is not None:
                self.target.close()
        finally:
            if self.transport is not None:
                self.transport.loseConnection()
            self.log.info(
                "session from {peer} ended after {n} request(s){summary}: {reason}",
                peer=self.peer,
                n=self.requests,
                summary=(", " + self.target.summary()) if self.target is not None else "",
                reason=reason,
            )
            self.done.callback(reason)

    async def _negotiate(self, asked):
        wanted = max(0, min(asked, messages.MAX_VERSION))
        self.version = await self.target.negotiate(self, wanted)
        self.sendMessage(messages.version(self.version))

    async def _serve(self, msg):
        """
        Serve one top-level message.

        @return: False if the session should end.
        """
        if isinstance(msg, Unparsable):
            self.log.info("unparsable line from {peer}: {line!r}", peer=self.peer, line=msg.line[:200])
            self.sendMessage(messages.UNKNOWN_COMMAND)
            return True
        name = msg.name
        if name in requests.REQUESTS:
            refusal = requests.screen(self.mode, msg)
            if refusal is not None:
                self.log.info("refused {request} from {peer}: {why}", request=name, peer=self.peer, why=refusal.why)
                if name == "CONNECT":
                    # The refusal goes to git itself, as an ERR packet in
                    # place of receive-pack's advertisement (git prints it
                    # and ends; git-annex's helper would wait for git on an
                    # ERROR line); then the session ends.
                    self.sendPayload(pktline.error(refusal.reply.args[0]))
                    self.sendMessage(Message("CONNECTDONE", (1,)))
                    self._ending = "refused %s" % (msg.args[0].decode(),)
                    return False
                self.sendMessage(refusal.reply)
                return True
            self.state = "in-request"
            admitted = None
            if name == "PUT" and self.admitPut is not None:
                # Before the target (and so any node) sees it.
                why = await self.admitPut(msg.args[-1])
                if why is not None:
                    self.log.info("refused PUT from {peer}: {why}", peer=self.peer, why=why)
                    self.sendMessage(messages.error(why))
                    if self.say is not None:
                        self.say(why)
                    self.state = "serving"
                    return True
                admitted = msg.args[-1]
            self.requests += 1
            self._lastSent = self._lastError = None
            if self.metrics is not None:
                key = msg.args[-1].decode("utf-8", "replace") if name in requests.KEYED else ""
                self._transfer = self.metrics.requestStarted(
                    self.door, name.lower(), self.target.uuid.decode(), key, self.repository
                )
                self._transfer.progress = self._progress
            try:
                await self.target.handle(self, msg)
            finally:
                if admitted is not None and self.putDone is not None:
                    self.putDone(admitted)
                if self._transfer is not None:
                    self.metrics.requestEnded(self._transfer, self._lastSent, self.peer, self._lastError)
                    self._transfer = None
            self.state = "serving"
            return self._ending is None
        if name == "VERSION":
            await self._negotiate(msg.args[0])
            return True
        if name == "BYPASS":
            self.bypass = msg.args[0]
            return True
        if name == "ERROR":
            self.log.info("client {peer} sent ERROR {text!r}", peer=self.peer, text=msg.args[0])
            return False
        if name == "DATA":
            if msg.args[0] < 0:
                # How much follows cannot be known: the framing is lost.
                raise SessionAborted("protocol error: DATA %d" % (msg.args[0],))
            # Out of place: drop the payload so it is not read as lines.
            await self.readData(msg.args[0], None)
        self.sendMessage(messages.UNEXPECTED_COMMAND)
        return True

    # What the request in hand sends and receives, for its metrics.

    def sendMessage(self, msg):
        self._lastSent = msg.name
        if msg.name == "ERROR":
            self._lastError = msg.args[0].decode("utf-8", "replace")
        if self._transfer is not None:
            self.metrics.firstByte(self._transfer)
            if msg.name == "DATA" and msg.args[0] >= 0:
                self.metrics.payload(self._transfer, "out", msg.args[0])
        P2PFramer.sendMessage(self, msg)

    def sendPayload(self, payload, verdict=None):
        self._lastSent = verdict.name if verdict is not None else "DATA"
        if self._transfer is not None:
            self.metrics.firstByte(self._transfer)
            self.metrics.payload(self._transfer, "out", len(payload))
        P2PFramer.sendPayload(self, payload, verdict)

    def nextMessage(self):
        d = P2PFramer.nextMessage(self)
        if self._transfer is not None:
            d.addCallback(self._received, self._transfer)
        return d

    def _received(self, msg, transfer):
        if isinstance(msg, Message) and msg.name == "DATA" and msg.args[0] >= 0:
            self.metrics.payload(transfer, "in", msg.args[0])
        return msg

    def _progress(self):
        moving = self.payloadProgress()
        return moving[0] if moving is not None else None

    def endAfterRequest(self, reason):
        """
        End the session once the request in hand is over (after C{CONNECT}
        no further request may follow).
        """
        self._ending = reason
