"""
The relay's side of a client connection: the P2P server role.

A L{ClientSession} lets its front door's authenticator greet the client
(C{AUTH-SUCCESS} at once for ssh, after C{AUTH} with a token for others),
negotiates the version, enforces the server mode (read-only, append-only),
answers bad input, and hands each request to its target
(L{annexrelay.interfaces.ITarget}), one request at a time.  It does not
know how nodes are reached.

Session states, in order: C{awaiting-auth} (the authenticator runs),
C{greeting} (before the first message after it), C{serving} (between
requests), C{in-request}, C{closed}.
"""

import enum

from zope.interface import implementer
from twisted.internet import defer, error
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.python.failure import Failure
from twisted.logger import Logger

from annexrelay.branch import locationlog
from annexrelay.interfaces import IClientSession
from annexrelay.p2p import messages
from annexrelay.p2p.framing import MAX_LINE, LineTooLong, P2PFramer, ShortData
from annexrelay.p2p.messages import Message, Unparsable


class Mode(enum.Enum):
    """
    Server modes, as selected by C{GIT_ANNEX_SHELL_READONLY} and
    C{GIT_ANNEX_SHELL_APPENDONLY}.
    """

    READ_WRITE = "read-write"
    APPEND_ONLY = "append-only"
    READ_ONLY = "read-only"

    @classmethod
    def fromEnvironment(cls, env):
        if env.get("GIT_ANNEX_SHELL_READONLY"):
            return cls.READ_ONLY
        if env.get("GIT_ANNEX_SHELL_APPENDONLY"):
            return cls.APPEND_ONLY
        return cls.READ_WRITE


class SessionAborted(Exception):
    """
    The session cannot go on (a node died mid-transfer, the client broke
    framing); the reason is logged and the client connection closed.
    """


# Requests a target serves; everything else at top level is the session's.
REQUESTS = frozenset(
    ["CHECKPRESENT", "LOCKCONTENT", "REMOVE", "REMOVE-BEFORE", "GETTIMESTAMP", "GET", "PUT", "CONNECT", "NOTIFYCHANGE"]
)
# Requests naming a key (its last argument).
_KEYED = frozenset(["CHECKPRESENT", "LOCKCONTENT", "REMOVE", "REMOVE-BEFORE", "GET", "PUT"])
_WRITES = frozenset(["PUT"])
_REMOVALS = frozenset(["REMOVE", "REMOVE-BEFORE"])


@implementer(IHalfCloseableProtocol, IClientSession)
class ClientSession(P2PFramer):
    """
    One client's P2P session.

    @param authenticator: the front door's L{annexrelay.interfaces.IAuthenticator};
        it names the target and the session's mode.
    @param peer: a short description of the client for logs.
    @ivar target: the L{annexrelay.interfaces.ITarget} serving requests
        (None until the client is authenticated).
    @ivar mode: the L{Mode} of this session.
    @ivar done: a L{Deferred} firing when the session is over.
    """

    log = Logger()

    def __init__(self, authenticator, peer="client"):
        P2PFramer.__init__(self)
        self.authenticator = authenticator
        self.target = None
        self.grant = None
        self.mode = Mode.READ_ONLY
        self.peer = peer
        self.version = 0
        self.bypass = ()
        self.state = "awaiting-auth"
        self.requests = 0
        self.done = defer.Deferred()
        self._ending = None

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
                msg = await self.nextMessage()
        except SessionAborted as e:
            reason = str(e)
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
        if name in REQUESTS:
            refusal = self._refusal(msg)
            if refusal is not None:
                self.log.info(
                    "refused {request} from {peer}: {mode} session", request=name, peer=self.peer, mode=self.mode.value
                )
                if name == "CONNECT":
                    # The refusal goes to git itself, as an ERR packet in
                    # place of receive-pack's advertisement (git prints it
                    # and ends; git-annex's helper would wait for git on an
                    # ERROR line); then the session ends.
                    text = b"ERR " + refusal.args[0] + b"\n"
                    self.sendPayload(b"%04x" % (len(text) + 4,) + text)
                    self.sendMessage(Message("CONNECTDONE", (1,)))
                    self._ending = "refused %s" % (msg.args[0].decode(),)
                    return False
                self.sendMessage(refusal)
                return True
            if name == "GET" and msg.args[0] < 0:
                self.sendMessage(messages.error("invalid offset %d" % msg.args[0]))
                return True
            if name in _KEYED:
                bad = locationlog.unrecordable(msg.args[-1])
                if bad is not None:
                    self.log.info("refused {request} from {peer}: {why}", request=name, peer=self.peer, why=bad)
                    self.sendMessage(messages.error("invalid key: " + bad))
                    return True
            self.state = "in-request"
            self.requests += 1
            await self.target.handle(self, msg)
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
                self.sendMessage(messages.error("protocol error: DATA %d" % (msg.args[0],)))
                raise SessionAborted("client sent DATA %d" % (msg.args[0],))
            # Out of place: drop the payload so it is not read as lines.
            await self.readData(msg.args[0], None)
        self.sendMessage(messages.UNEXPECTED_COMMAND)
        return True

    def endAfterRequest(self, reason):
        """
        End the session once the request in hand is over (after C{CONNECT}
        no further request may follow).
        """
        self._ending = reason

    def _refusal(self, msg):
        name = msg.name
        if name == "CONNECT" and msg.args[0] == b"git-receive-pack" and self.mode is not Mode.READ_WRITE:
            return messages.READ_ONLY
        if self.mode is Mode.READ_ONLY and (name in _WRITES or name in _REMOVALS):
            return messages.READ_ONLY
        if self.mode is Mode.APPEND_ONLY and name in _REMOVALS:
            return messages.APPEND_ONLY
        return None
