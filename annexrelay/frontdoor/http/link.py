"""
One HTTP request's P2P session on the core: the HTTP door is a P2P
I{client} of the same L{annexrelay.clientside.ClientSession} every other
door opens, over an in-memory L{annexrelay.frontdoor.http.pipe}.

The session is made by L{annexrelay.core.RelayCore.session} with a
L{annexrelay.frontdoor.auth.Preauthenticated} grant of the target the
request's UUID names (L{annexrelay.core.RelayCore.targetFor}, the
repository itself included) and the mode the HTTP authentication decided.
The client side is a L{annexrelay.nodeside.NodeConnection}: the same
handshake (C{AUTH-SUCCESS}, C{VERSION}, C{BYPASS}) and C{request()} the
relay uses towards its nodes.  So placement, failover, modes and location
log records are the core's, exactly as for ssh and Tor; git-annex's own
p2phttp server is built the same way (a P2P client and server joined in
memory).
"""

from twisted.logger import Logger

from annexrelay.frontdoor.auth import Preauthenticated
from annexrelay.frontdoor.http.limits import within
from annexrelay.frontdoor.http.pipe import pipe
from annexrelay.nodeside import NodeConnection
from annexrelay.repo import Node

log = Logger()


class P2PLink:
    """
    A P2P client session for one HTTP request.

    @ivar conn: the client role (a L{NodeConnection}): C{request()},
        C{nextMessage()}, C{readData()}, C{sendMessage()}.
    @ivar session: the core's L{annexrelay.clientside.ClientSession}.
    @ivar end: the client's L{annexrelay.frontdoor.http.pipe.PipeEnd}.
    """

    def __init__(self, conn, session, end, opened=0.0):
        self.conn = conn
        self.session = session
        self.end = end
        self.opened = opened
        # Whether close() or abort() was called: never to be reused.
        self.ended = False

    @property
    def version(self):
        return self.conn.version

    def close(self):
        """
        End the session once what was sent is delivered: after a complete
        request the core gives its node connections back; in the middle of
        one (a client cut off) the core closes the node connection, and the
        node keeps what it got.
        """
        self.ended = True
        self.end.loseConnection()

    def abort(self):
        """
        The HTTP client went away: end the session now.  A node connection
        in the middle of a request is closed by the core, never reused.
        """
        self.ended = True
        self.end.abortConnection()


class _BoundedConnection(NodeConnection):
    """
    The client role, whose C{request()}s fail with
    L{annexrelay.frontdoor.http.limits.NodeStalled} when the session does
    not answer within C{replyTimeout} seconds (None: never).  Verdicts
    after a payload (C{nextMessage}) are not bounded: a node may take long
    to check a large object.
    """

    clock = None
    replyTimeout = None

    def request(self, msg):
        return within(self.clock, self.replyTimeout, NodeConnection.request(self, msg), msg.name)


async def openLink(reactor, core, target, mode, version, bypass, peer, replyTimeout=None):
    """
    Open a session on C{target} and run the client's handshake.

    @param replyTimeout: seconds the session has to answer the handshake
        and each request (None: no bound).
    @return: a L{P2PLink}.
    """
    session = core.session(Preauthenticated(target, mode), peer, door="http")
    conn = _BoundedConnection(Node(peer, target.uuid, "annex+http"))
    conn.clock, conn.replyTimeout = reactor, replyTimeout
    end, _ = pipe(reactor, conn, session, (peer, "session"))
    link = P2PLink(conn, session, end, reactor.seconds())
    try:
        await within(reactor, replyTimeout, conn.handshake(version, tuple(bypass)), "the handshake")
    except BaseException:
        link.abort()
        raise
    return link
