"""
An in-memory connection between two protocols in the same process, with
Twisted's producer/consumer backpressure on both ends: the HTTP door's P2P
client (a L{annexrelay.nodeside.NodeConnection}) on one end, a
L{annexrelay.clientside.ClientSession} from the core on the other.

Bytes written to one end are delivered to the other end's protocol on a
later reactor turn (never re-entrantly), at most L{CHUNK} bytes per
C{dataReceived}.  While the receiving end is paused (its protocol paused
it, or its owner L{PipeEnd.hold}s it) bytes wait; once more than L{HIGH}
are waiting, the producer registered on the writing end is paused, and it
is resumed when they drain below L{LOW}.  So a payload relayed through the
pipe is paced end to end: a slow HTTP reader pauses the node.

C{loseConnection} closes once what was written is delivered;
C{abortConnection} closes both ends at once.  Either way both protocols get
C{connectionLost}, and a producer still registered on an end is stopped
(as Twisted's own transports do), which is how a relay feeding the pipe
learns that its destination went away.
"""

from zope.interface import implementer
from twisted.internet import error
from twisted.internet.address import UNIXAddress
from twisted.internet.interfaces import IConsumer, IPushProducer, ITransport
from twisted.python.failure import Failure

CHUNK = 65536
HIGH = 4 * CHUNK
LOW = CHUNK


@implementer(ITransport, IConsumer, IPushProducer)
class PipeEnd:
    """
    One end of a L{pipe}.

    @ivar protocol: the protocol this end delivers to.
    @ivar peer: the other end.
    """

    def __init__(self, clock, name):
        self.clock = clock
        self.name = name
        self.protocol = None
        self.peer = None
        self.producer = None
        self.disconnecting = False
        self.connected = True
        self._inbox = []
        self._size = 0
        self._paused = False
        self._held = False
        self._call = None
        self._writerPaused = False

    # ITransport (the side that writes into this end)

    def write(self, data):
        if self.connected and not self.disconnecting and data:
            self.peer._receive(data)

    def writeSequence(self, seq):
        self.write(b"".join(seq))

    def loseConnection(self):
        if not self.connected or self.disconnecting:
            return
        self.disconnecting = True
        self.peer._schedule()

    def abortConnection(self):
        if self.connected:
            _close(self, self.peer, error.ConnectionAborted())

    def getPeer(self):
        return UNIXAddress(self.peer.name)

    def getHost(self):
        return UNIXAddress(self.name)

    # IConsumer: a producer writing into this end

    def registerProducer(self, producer, streaming):
        self.producer = producer
        self._writerPaused = False
        if self.peer._size > HIGH:
            self._pauseWriter()

    def unregisterProducer(self):
        self.producer = None
        self._writerPaused = False

    # IPushProducer: whether this end delivers to its protocol

    def pauseProducing(self):
        self._paused = True

    def resumeProducing(self):
        self._paused = False
        self._schedule()

    def stopProducing(self):
        self.loseConnection()

    def hold(self):
        """
        Stop delivering to the protocol until L{release}, whatever the
        protocol itself asks (the owner's reader is slow).
        """
        self._held = True

    def release(self):
        self._held = False
        self._schedule()

    # Delivery

    def _receive(self, data):
        self._inbox.append(data)
        self._size += len(data)
        if self._size > HIGH:
            self.peer._pauseWriter()
        self._schedule()

    def _pauseWriter(self):
        if self.producer is not None and not self._writerPaused:
            self._writerPaused = True
            self.producer.pauseProducing()

    def _resumeWriter(self):
        if self.producer is not None and self._writerPaused:
            self._writerPaused = False
            self.producer.resumeProducing()

    def _schedule(self):
        if self._call is None and self.connected:
            self._call = self.clock.callLater(0, self._deliver)

    def _deliver(self):
        self._call = None
        while self._inbox and not (self._paused or self._held) and self.connected:
            data = self._inbox.pop(0)
            if len(data) > CHUNK:
                self._inbox.insert(0, data[CHUNK:])
                data = data[:CHUNK]
            self._size -= len(data)
            self.protocol.dataReceived(data)
        if not self.connected:
            return
        if self._size < LOW:
            self.peer._resumeWriter()
        if not self._inbox and self.peer.disconnecting:
            _close(self, self.peer, error.ConnectionDone())


def _close(a, b, reason):
    for end in (a, b):
        end.connected = False
        end._inbox = []
        end._size = 0
        if end._call is not None:
            end._call.cancel()
            end._call = None
    for end in (a, b):
        producer, end.producer = end.producer, None
        if producer is not None:
            producer.stopProducing()
        end.protocol.connectionLost(Failure(reason))


def pipe(clock, left, right, names=("http client", "http session")):
    """
    Connect protocols C{left} and C{right}; both get C{makeConnection}.

    @return: the two L{PipeEnd}s, C{left}'s transport first.
    """
    a, b = PipeEnd(clock, names[0]), PipeEnd(clock, names[1])
    a.peer, b.peer = b, a
    a.protocol, b.protocol = left, right
    left.makeConnection(a)
    right.makeConnection(b)
    return a, b
