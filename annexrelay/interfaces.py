"""
The contracts between annexrelay's layers, in one module.

 - a front door authenticates a client (L{IAuthenticator}) and opens a
   session (L{IClientSession}) on a target from the core;
 - a target (L{ITarget}) decides what each request means and speaks only
   through the session's API and node connections;
 - a connector (L{INodeConnector}) turns a node's URL into a handshaken
   node connection.
"""

from zope.interface import Attribute, Interface


class SessionAborted(Exception):
    """
    A client session cannot go on (the client broke framing, a node died
    mid-transfer); the session logs the reason and closes.  Unless the
    relay is in the middle of a payload to the client (where a line would
    be read as payload bytes), the client first gets C{ERROR <reason>}.

    @ivar midPayload: whether the client is in the middle of receiving a
        payload.
    """

    def __init__(self, reason, midPayload=False):
        Exception.__init__(self, reason)
        self.midPayload = midPayload


class ITarget(Interface):
    """
    What the client reaches through the relay: one proxied remote or a
    cluster.  A target is made per client session.
    """

    uuid = Attribute("The UUID the client sees in AUTH-SUCCESS (bytes).")

    def negotiate(session, version):
        """
        The client asked for C{version} (already capped at 4).

        @return: a L{Deferred} firing with the version to answer.
        """

    def handle(session, msg):
        """
        Serve one request message; may read further client messages and
        payload through C{session}.

        @return: a L{Deferred} firing when the request is over.
        """

    def close():
        """
        The session ended: give back node connections.
        """

    def summary():
        """
        @return: a short text for the session's closing log line.
        """


class IClientSession(Interface):
    """
    A client's session as targets use it: protocol state, messages and
    payloads.  Targets never write to its transport themselves.
    """

    version = Attribute("The protocol version negotiated with the client.")
    bypass = Attribute("The client's BYPASS set (a tuple of UUIDs).")
    peer = Attribute("A short description of the client, for logs.")
    transport = Attribute("The transport payloads are streamed from and to (by L{annexrelay.streams}).")
    exactOffsets = Attribute(
        "Whether PUT-FROM must carry the node's own resume offset (the annex+http door learns putoffset from it);"
        " otherwise a target may accept a small object from offset 0 before the node answers."
    )

    say = Attribute(
        "A callable writing one line where the client's user reads it (an ssh session's stderr, which git-annex"
        " shows, where it does not show a PUT's ERROR), or None when the front door has no such channel."
    )

    def sendMessage(msg):
        """
        Send one L{annexrelay.p2p.messages.Message} to the client.
        """

    def sendPayload(payload, verdict=None):
        """
        Send C{DATA n}, the payload and the verdict after it in one write.
        """

    def nextMessage():
        """
        @return: a L{Deferred} firing with the client's next message.
        """

    def readData(n, sink):
        """
        Pass the next C{n} payload bytes to C{sink}; a L{Deferred}.
        """

    def takePayload(n, withVerdict):
        """
        A whole payload already read, with its verdict, or None.
        """

    def takeVerdict():
        """
        A buffered C{VALID}/C{INVALID}, or None.
        """

    def buffered():
        """
        How many bytes were read from the client but not used yet.
        """

    def whenLost():
        """
        @return: a L{Deferred} firing when no more input will come from the
            client.
        """

    def endAfterRequest(reason):
        """
        End the session, for C{reason}, once the request in hand is over.
        """


class INodeConnector(Interface):
    """
    Makes a transport to a node and runs the handshake on it.
    """

    def connect(node, version, bypass):
        """
        @return: a L{Deferred} firing with a handshaken
            L{annexrelay.nodeside.NodeConnection}, or failing with
            L{annexrelay.nodeside.NodeError} saying why the node is
            unreachable.
        """


class IAuthenticator(Interface):
    """
    How a front door lets a client in: the start of a session, up to and
    including C{AUTH-SUCCESS} or C{AUTH-FAILURE}.
    """

    def greet(session):
        """
        Authenticate the client of C{session} (reading its C{AUTH} if the
        front door needs one) and send the greeting.

        @return: a L{Deferred} firing with a L{annexrelay.frontdoor.auth.Grant}
            (the target and the session's mode), or None when the client is
            refused (C{AUTH-FAILURE} was sent).
        """
