"""
The door's streams end to end in memory: a key GET whose HTTP client
stops reading pauses the node side, and an upload whose node side stops
reading pauses the HTTP client; the object is never held whole.
"""

from zope.interface import implementer
from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.frontdoor.http import actions, download
from annexrelay.frontdoor.http.link import P2PLink
from annexrelay.frontdoor.http.pipe import CHUNK, HIGH, pipe
from annexrelay.frontdoor.http.request import BodyStream
from annexrelay.frontdoor.http.routes import Route
from annexrelay.nodeside import NodeConnection
from annexrelay.repo import Node

U = b"7685e0b4-cd27-4131-be8d-398f641c7902"
K = b"SHA256E-s1--x"
SIZE = 40 * CHUNK + 5


@implementer(IPushProducer)
class FakeServer(Protocol):
    """
    The session's side, played by the test: answers the handshake, sends
    C{SIZE} bytes for a GET as a push producer, or reads a PUT's data.
    """

    def __init__(self, clock):
        self.clock = clock
        self.lines = b""
        self.sent = 0
        self.paused = False
        self.received = b""
        self.expect = None
        self.seen = []
        self.verdict = b"VALID\n"

    def connectionMade(self):
        self.transport.write(b"AUTH-SUCCESS " + U + b"\n")

    def dataReceived(self, data):
        if self.expect is not None:
            self.received += data
            return
        self.lines += data
        while b"\n" in self.lines:
            line, self.lines = self.lines.split(b"\n", 1)
            self.seen.append(line)
            if line.startswith(b"VERSION"):
                self.transport.write(b"VERSION 4\n")
            elif line.startswith(b"GET"):
                self.transport.write(b"DATA %d\n" % SIZE)
                self.transport.registerProducer(self, True)
                self.clock.callLater(0, self.pump)
            elif line.startswith(b"CHECKPRESENT"):
                self.transport.write(b"SUCCESS\n" if b"present" in line else b"FAILURE\n")
            elif line.startswith(b"PUT "):
                self.transport.write(b"PUT-FROM 0\n")
            elif line.startswith(b"DATA"):
                self.expect = int(line.split()[1])
                self.received = self.lines
                self.lines = b""

    def pump(self):
        if self.paused or self.sent >= SIZE:
            return
        n = min(CHUNK, SIZE - self.sent)
        self.transport.write(b"z" * n)
        self.sent += n
        if self.sent == SIZE:
            self.transport.unregisterProducer()
            self.transport.write(self.verdict)
        else:
            self.clock.callLater(0, self.pump)

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self.clock.callLater(0, self.pump)

    def stopProducing(self):
        self.paused = True


class FakeRequest:
    verb = "GET"

    def __init__(self):
        self.written = []
        self.producer = None
        self.headers = {}

    def setResponseCode(self, code, message=None):
        self.code = code

    def setHeader(self, name, value):
        self.headers[name] = value

    def write(self, data):
        self.written.append(data)

    full = False

    def registerProducer(self, producer, streaming):
        self.producer = producer
        if self.full:
            producer.pauseProducing()

    def unregisterProducer(self):
        self.producer = None


class FakeExchange:
    def __init__(self, request):
        self.request = request
        self.cut = False

    def whenBodyComplete(self):
        return defer.succeed(None)

    def log(self, fmt, **kw):
        pass


class FakeTransport:
    connected = True

    def __init__(self):
        self.paused = False

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False


class _Linked(unittest.TestCase):
    """
    A link whose session side is a L{FakeServer}.
    """

    def setUp(self):
        self.clock = Clock()
        self.server = FakeServer(self.clock)
        self.conn = NodeConnection(Node("http client", U, "annex+http"))
        end, _ = pipe(self.clock, self.conn, self.server)
        self.link = P2PLink(self.conn, None, end)
        d = self.conn.handshake(4)
        self.clock.advance(0)
        self.successResultOf(d)

    def spin(self, turns=200):
        for _ in range(turns):
            self.clock.advance(0)


class StreamingTests(_Linked):
    def test_slow_reader_pauses_the_sender(self):
        request = FakeRequest()
        request.full = True  # the client's TCP buffer is full
        route = Route("key", 4, U, {"key": K, "clientuuid": U, "bypass": ()})
        d = defer.ensureDeferred(download.get(FakeExchange(request), self.link, route))
        self.spin()
        self.assertIsNotNone(request.producer)
        self.assertTrue(self.server.paused)
        self.assertLess(self.server.sent, HIGH + 4 * CHUNK)
        self.assertNoResult(d)
        request.producer.resumeProducing()
        self.spin()
        self.assertEqual(self.successResultOf(d), SIZE)
        self.assertEqual(sum(map(len, request.written)), SIZE)
        self.assertEqual(request.headers[b"X-git-annex-data-length"], b"%d" % SIZE)
        self.assertEqual(self.server.seen[-1], b"SUCCESS")

    def test_slow_node_pauses_the_uploader(self):
        request = FakeRequest()
        request.body = BodyStream(FakeTransport())
        route = Route("put", 4, U, {"key": K, "clientuuid": U, "bypass": (), "datalength": SIZE})
        d = defer.ensureDeferred(actions.put(FakeExchange(request), self.link, route))
        self.spin(5)
        self.link.end.peer.pauseProducing()  # the node side reads no more
        fed = 0
        while not request.body.transport.paused and fed < SIZE:
            request.body.feed(b"u" * CHUNK)
            fed += CHUNK
            self.spin(2)
        self.assertTrue(request.body.transport.paused)
        self.assertLess(fed, HIGH + 4 * CHUNK)
        self.link.end.peer.resumeProducing()
        self.spin()
        self.assertFalse(request.body.transport.paused)
        request.body.feed(b"u" * (SIZE - fed))
        request.body.end()
        self.spin()
        self.assertEqual(len(self.server.received), SIZE + len(b"VALID\n"))
        self.server.transport.write(b"SUCCESS\n")
        self.spin()
        self.assertEqual(self.successResultOf(d).body, b'{"plusuuids":[],"stored":true}')

    def test_invalid_content_is_one_byte_short(self):
        """
        As git-annex signals it: the last byte is held until the verdict,
        and after INVALID never sent (the connection is then closed).
        """
        request = FakeRequest()
        self.server.verdict = b"INVALID\n"
        exchange = FakeExchange(request)
        route = Route("key", 4, U, {"key": K, "clientuuid": U, "bypass": ()})
        d = defer.ensureDeferred(download.get(exchange, self.link, route))
        self.spin()
        self.assertEqual(self.successResultOf(d), SIZE - 1)
        self.assertEqual(sum(map(len, request.written)), SIZE - 1)
        self.assertTrue(exchange.cut)
        self.assertEqual(self.server.seen[-1], b"FAILURE")

    def test_silent_reader_is_cut(self):
        from annexrelay.frontdoor.http.limits import Limits

        class Door:
            clock = self.clock
            limits = Limits(bodyTimeout=120)

        class Channel:
            aborted = False

            def abortConnection(self):
                self.aborted = True

        request = FakeRequest()
        request.full = True
        request.channel = Channel()
        request.channel.transport = request.channel
        exchange = FakeExchange(request)
        exchange.door = Door
        route = Route("key", 4, U, {"key": K, "clientuuid": U, "bypass": ()})
        d = defer.ensureDeferred(download.get(exchange, self.link, route))
        self.spin()
        self.clock.advance(119)
        self.assertFalse(request.channel.aborted)
        self.clock.advance(1)
        self.spin()
        self.assertTrue(request.channel.aborted and exchange.cut)
        self.failureResultOf(d)

    def door(self, **limits):
        from annexrelay.frontdoor.http.limits import Limits

        class Door:
            clock = self.clock

        Door.limits = Limits(**limits)
        return Door

    def test_node_silent_mid_get_ends_the_download(self):
        class Channel:
            lost = False

            def loseConnection(self):
                self.lost = True

        request = FakeRequest()
        request.channel = Channel()
        request.channel.transport = request.channel
        exchange = FakeExchange(request)
        exchange.door = self.door(nodeTimeout=130)
        route = Route("key", 4, U, {"key": K, "clientuuid": U, "bypass": ()})
        self.server.paused = True  # the node sends DATA, then nothing
        d = defer.ensureDeferred(download.get(exchange, self.link, route))
        self.spin()
        self.assertEqual(request.headers[b"X-git-annex-data-length"], b"%d" % SIZE)
        self.clock.advance(129)
        self.assertFalse(request.channel.lost)
        self.clock.advance(1)
        self.spin()
        self.assertTrue(request.channel.lost and exchange.cut)
        self.failureResultOf(d)

    def test_node_that_stops_reading_a_put_ends_it_with_504(self):
        from annexrelay.frontdoor.http.limits import NodeStalled

        request = FakeRequest()
        request.body = BodyStream(FakeTransport())
        exchange = FakeExchange(request)
        exchange.door = self.door(nodeTimeout=130)
        route = Route("put", 4, U, {"key": K, "clientuuid": U, "bypass": (), "datalength": SIZE})
        d = defer.ensureDeferred(actions.put(exchange, self.link, route))
        self.spin(5)
        self.link.end.peer.pauseProducing()  # the node side reads no more
        fed = 0
        while not request.body.transport.paused:
            request.body.feed(b"u" * CHUNK)
            fed += CHUNK
            self.spin(2)
        self.clock.advance(129)
        self.assertTrue(request.body.transport.paused)
        self.clock.advance(1)
        self.spin()
        # The session is ended; the rest of the body is read and dropped.
        self.assertFalse(request.body.transport.paused)
        self.assertNoResult(d)
        request.body.feed(b"u" * (SIZE - fed))
        request.body.end()
        self.spin()
        self.assertEqual(str(self.failureResultOf(d, NodeStalled).value), "the node took no data for 130 seconds")


class HeadTests(_Linked):
    """
    C{HEAD} of a key answers from a C{CHECKPRESENT}: the node is never
    asked for the content.
    """

    def head(self, key, offset=None):
        request = FakeRequest()
        request.verb = "HEAD"
        params = {"key": key, "clientuuid": U, "bypass": ()}
        if offset is not None:
            params["offset"] = offset
        route = Route("key", 4, U, params)
        d = defer.ensureDeferred(download.get(FakeExchange(request), self.link, route))
        self.spin()
        self.assertEqual(self.successResultOf(d), 0)
        self.assertEqual(b"".join(request.written), b"")
        self.assertFalse([l for l in self.server.seen if l.startswith(b"GET")])
        self.assertEqual(self.server.sent, 0)
        self.assertEqual(self.server.seen[-1], b"CHECKPRESENT " + key)
        return request

    def test_present_with_size(self):
        request = self.head(b"SHA256E-s12345--present")
        self.assertEqual(request.code, 200)
        self.assertEqual(request.headers[b"Content-Length"], b"12345")
        self.assertEqual(request.headers[b"X-git-annex-data-length"], b"12345")

    def test_offset(self):
        request = self.head(b"SHA256E-s12345--present", offset=345)
        self.assertEqual(request.headers[b"Content-Length"], b"12000")

    def test_present_without_size(self):
        request = self.head(b"WORM-m1--present")
        self.assertEqual(request.code, 200)
        self.assertNotIn(b"Content-Length", request.headers)
        self.assertNotIn(b"X-git-annex-data-length", request.headers)

    def test_absent(self):
        request = self.head(b"SHA256E-s12345--gone")
        self.assertEqual((request.code, request.headers[b"X-git-annex-data-length"]), (200, b"0"))
