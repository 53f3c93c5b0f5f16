"""
The relay's side of a connection to one node: the P2P client role.

A L{NodeConnection} is a L{P2PFramer} over whatever transport a connector
made (the pipes of a spawned C{git-annex-shell p2pstdio}, later a Tor
stream).  It runs the handshake (C{AUTH} with a token when the connector
has one, C{AUTH-SUCCESS}, C{VERSION}, C{BYPASS}) and then offers
L{NodeConnection.request}: send one message, get the next reply.  It does
not know who asked.

A target that starts a request on a connection takes a L{Lease} on it and
finishes the lease when the node is back in step (its last reply read).  A
connection with an unfinished lease is mid-request: whoever gives it back
closes it instead of reusing it.
"""

from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.p2p import messages
from annexrelay.p2p.framing import P2PFramer


class NodeError(Exception):
    """
    A node could not be reached or broke the protocol.
    """


class Lease:
    """
    One request on a node connection, from its first message until the
    node is back in step.  As a context manager it is finished when the
    block ends normally and left open (so the connection is closed, not
    reused) when it raises.
    """

    def __init__(self, conn):
        self.conn = conn
        self.open = True

    def finish(self):
        """
        The request is over and the node is in step.
        """
        if self.open:
            self.open = False
            self.conn._leases -= 1

    def __enter__(self):
        return self

    def __exit__(self, excType, exc, tb):
        if excType is None:
            self.finish()
        return False


class NodeConnection(P2PFramer):
    """
    @ivar node: the L{annexrelay.repo.Node} this connection reaches.
    @ivar version: the protocol version negotiated with the node.
    @ivar inRequest: True while a lease on it is open.
    @ivar broken: whether the connection has ended (or was closed).
    @ivar bypass: the C{BYPASS} set sent to the node.
    @ivar requestedVersion: the version the handshake asked for.
    @ivar processEnded: a L{Deferred} firing when the node's process has
        exited (at once for a node that is not a process).
    @ivar requests: how many requests it was sent (one that served before
        may have outlived its node's repository).
    """

    log = Logger()

    def __init__(self, node):
        P2PFramer.__init__(self)
        self.node = node
        self.version = 0
        self.bypass = ()
        self.broken = False
        self.requestedVersion = 0
        self.processEnded = defer.succeed(None)
        self.requests = 0
        self._leases = 0
        self._stderr = None

    def ranAs(self, ended, stderr):
        """
        The connector ran the node as a process: C{ended} fires when it has
        exited; C{stderr()} is the tail of what it wrote to stderr.
        """
        self.processEnded = ended
        self._stderr = stderr

    def lastWords(self):
        """
        The last line the node's process wrote to stderr, or "".
        """
        tail = self._stderr() if self._stderr is not None else b""
        lines = tail.decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""

    @property
    def inRequest(self):
        return self._leases > 0

    def lease(self):
        """
        Start a request on this connection.

        @return: a L{Lease} to finish when the node is back in step.
        """
        self._leases += 1
        return Lease(self)

    def handshake(self, version, bypass=(), auth=None):
        """
        Send C{AUTH <uuid> <token>} if C{auth} is C{(uuid, token)}, expect
        C{AUTH-SUCCESS <node uuid>}, then negotiate C{version} and send
        C{BYPASS} when the node speaks v2 or later and C{bypass} is not empty.

        @return: a L{Deferred} firing with this connection.
        """
        self.requestedVersion = version
        return defer.ensureDeferred(self._handshake(version, bypass, auth))

    async def _handshake(self, version, bypass, auth):
        if auth is not None:
            self.sendMessage(messages.Message("AUTH", tuple(auth)))
        first = await self.nextMessage()
        if isinstance(first, messages.Message) and first.name == "AUTH-FAILURE":
            raise NodeError("node %s refused the token (AUTH-FAILURE)" % (self.node.name,))
        if not (isinstance(first, messages.Message) and first.name == "AUTH-SUCCESS"):
            raise NodeError("node %s: expected AUTH-SUCCESS, got %r" % (self.node.name, first))
        uuid = first.args[0]
        if self.node.uuid and uuid != self.node.uuid:
            raise NodeError(
                "node %s: expected repository UUID %s but found %s"
                % (self.node.name, self.node.uuid.decode(), uuid.decode())
            )
        if version > 0:
            self.sendMessage(messages.version(version))
            reply = await self.nextMessage()
            if isinstance(reply, messages.Message) and reply.name == "VERSION":
                self.version = min(version, max(reply.args[0], 0))
            elif isinstance(reply, messages.Message) and reply.name == "ERROR":
                self.version = 0
            else:
                raise NodeError("node %s: expected VERSION, got %r" % (self.node.name, reply))
        if bypass and self.version >= 2:
            self.sendMessage(messages.Message("BYPASS", (tuple(sorted(bypass)),)))
        self.bypass = tuple(sorted(bypass))
        return self

    def request(self, msg):
        """
        Send C{msg} and return a L{Deferred} for the node's next message.
        """
        self.requests += 1
        self.sendMessage(msg)
        return self.nextMessage()

    def connectionLost(self, reason):
        self.broken = True
        P2PFramer.connectionLost(self, reason)

    def close(self):
        """
        End the session with the node: close its input so it exits cleanly.
        """
        self.broken = True
        if self.transport is not None:
            self.transport.loseConnection()
