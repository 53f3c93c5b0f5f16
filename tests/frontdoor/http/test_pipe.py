"""
The in-memory pipe between the HTTP door's P2P client and a session:
order, no re-entrant delivery, backpressure both ways, holding, closing.
"""

from zope.interface import implementer
from twisted.internet import error
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.frontdoor.http.pipe import CHUNK, HIGH, pipe


class Collect(Protocol):
    def __init__(self):
        self.data = b""
        self.lost = None

    def dataReceived(self, data):
        assert len(data) <= CHUNK
        self.data += data

    def connectionLost(self, reason):
        self.lost = reason


@implementer(IPushProducer)
class Producer:
    def __init__(self):
        self.events = []

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")

    def stopProducing(self):
        self.events.append("stop")


class PipeTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.left, self.right = Collect(), Collect()
        self.a, self.b = pipe(self.clock, self.left, self.right)

    def test_delivered_later_in_order(self):
        self.a.write(b"one ")
        self.a.write(b"two")
        self.assertEqual(self.right.data, b"")
        self.clock.advance(0)
        self.assertEqual(self.right.data, b"one two")
        self.b.write(b"back")
        self.clock.advance(0)
        self.assertEqual(self.left.data, b"back")

    def test_backpressure(self):
        producer = Producer()
        self.a.registerProducer(producer, True)
        self.b.pauseProducing()  # the receiving protocol wants no more
        self.a.write(b"x" * (HIGH + 1))
        self.assertEqual(producer.events, ["pause"])
        self.clock.advance(0)
        self.assertEqual(self.right.data, b"")
        self.b.resumeProducing()
        self.clock.advance(0)
        self.assertEqual(len(self.right.data), HIGH + 1)
        self.assertEqual(producer.events, ["pause", "resume"])

    def test_hold(self):
        self.b.hold()
        self.a.write(b"held")
        self.clock.advance(0)
        self.b.resumeProducing()  # the protocol's own resume does not undo a hold
        self.clock.advance(0)
        self.assertEqual(self.right.data, b"")
        self.b.release()
        self.clock.advance(0)
        self.assertEqual(self.right.data, b"held")

    def test_lose_connection_flushes_first(self):
        self.a.write(b"last words")
        self.a.loseConnection()
        self.a.write(b"ignored")
        self.clock.advance(0)
        self.assertEqual(self.right.data, b"last words")
        self.right.lost.trap(error.ConnectionDone)
        self.left.lost.trap(error.ConnectionDone)

    def test_abort_stops_producers(self):
        producer = Producer()
        self.b.registerProducer(producer, True)
        self.a.write(b"dropped")
        self.a.abortConnection()
        self.clock.advance(0)
        self.assertEqual(self.right.data, b"")
        self.assertEqual(producer.events, ["stop"])
        self.right.lost.trap(error.ConnectionAborted)
