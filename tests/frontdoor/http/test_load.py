"""
The door's bounds, in memory on a L{Clock} (no sleeps): HTTP bytes in
through the door's own channel on a C{StringTransport}, a scripted P2P
session on the other side of the pipe.  A request over --max-requests
waits and is then served, or gets 503 and Retry-After past the queue
timeout; keeplocked never waits; headers that do not end in time close
their connection while others are served; a put body that stops ends its
request with what arrived delivered to the session; a session that does
not answer ends the request with 504.
"""

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionAborted
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest

from annexrelay.frontdoor.http.door import HttpFrontDoor
from annexrelay.frontdoor.http.limits import Limits
from annexrelay.frontdoor.http.users import Policy
from annexrelay.operator.metrics import Metrics

U = b"7685e0b4-cd27-4131-be8d-398f641c7902"
CU = b"22222222-3333-4444-5555-666666666666"
K = b"SHA256E-s1000--x"


class Session(Protocol):
    """
    The core's session, scripted: answers the handshake unless C{silent};
    C{CHECKPRESENT} waits for L{answer} when C{hold}, else succeeds; a PUT
    gets C{PUT-FROM 0} and its data is kept in C{data}.
    """

    def __init__(self, silent=False, hold=False, mute=False):
        self.silent = silent
        self.hold = hold
        self.mute = mute
        self.lines = b""
        self.data = None
        self.waiting = []
        self.lost = None
        self.done = defer.Deferred()

    def connectionMade(self):
        if not self.silent:
            self.transport.write(b"AUTH-SUCCESS " + U + b"\n")

    def dataReceived(self, data):
        if self.data is not None:
            self.data += data
            return
        self.lines += data
        while b"\n" in self.lines and self.data is None:
            line, self.lines = self.lines.split(b"\n", 1)
            if line.startswith(b"VERSION"):
                self.transport.write(b"VERSION 4\n")
            elif line.startswith(b"CHECKPRESENT"):
                if self.mute:
                    continue
                self.waiting.append(line)
                if not self.hold:
                    self.answer()
            elif line.startswith(b"LOCKCONTENT"):
                self.transport.write(b"SUCCESS\n")
            elif line.startswith(b"PUT "):
                self.transport.write(b"PUT-FROM 0\n")
            elif line.startswith(b"DATA"):
                self.data, self.lines = self.lines, b""

    def answer(self):
        self.waiting.pop(0)
        self.transport.write(b"SUCCESS\n")

    def connectionLost(self, reason):
        self.lost = reason


class Target:
    uuid = U

    def close(self):
        pass


class Core:
    def __init__(self, metrics, sessions):
        self.metrics = metrics
        self.saturation = []
        self.sessions = sessions
        self.opened = []

    def targetFor(self, uuid, own=False):
        return Target()

    def session(self, authenticator, peer, door):
        s = self.sessions()
        self.opened.append(s)
        return s


def connect(factory, clock, host):
    """
    A client at C{host} connected to the door's C{factory} over a
    L{StringTransport}, its timers on C{clock}: C{(protocol, transport)}.
    """
    address = IPv4Address("TCP", host, 40000)
    proto = factory.buildProtocol(address)
    proto.callLater = clock.callLater
    t = StringTransport(peerAddress=address)
    t.connected = True
    proto.makeConnection(t)
    return proto, t


class LoadTests(unittest.TestCase):
    def door(self, sessions=Session, **limits):
        self.clock = Clock()
        self.metrics = Metrics(CollectorRegistry(), self.clock)
        self.core = Core(self.metrics, sessions)
        door = HttpFrontDoor(self.clock, self.core, Policy(wideopen=True))
        door.applyLimits(Limits(**limits))
        self.factory = door.factory()
        self.factory.reactor = self.clock
        return door

    def connect(self, host="10.0.0.1"):
        return connect(self.factory, self.clock, host)

    def request(self, path, host="10.0.0.1", headers=b"", body=b""):
        proto, t = self.connect(host)
        head = b"POST /git-annex/%s/v4/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n" % (U, path, len(body), headers)
        proto.dataReceived(head + body)
        self.clock.advance(0)
        self.clock.advance(0)
        return proto, t

    def checkpresent(self, host="10.0.0.1"):
        return self.request(b"checkpresent?key=%s&clientuuid=%s" % (K, CU), host)

    def settle(self):
        for _ in range(10):
            self.clock.advance(0)

    def queued(self):
        return self.metrics.queued._value.get()

    def test_wait_then_serve(self):
        self.door(sessions=lambda: Session(hold=True), maxRequests=1, queueTimeout=10)
        _, a = self.checkpresent()
        _, b = self.checkpresent(host="10.0.0.2")
        self.settle()
        self.assertEqual((len(self.core.opened), self.queued()), (1, 1))
        self.clock.advance(9)
        self.core.opened[0].answer()
        self.settle()
        self.assertIn(b'{"present":true}', a.value())
        # The first request's session, between requests, serves the next.
        self.assertEqual((len(self.core.opened), self.queued()), (1, 0))
        self.core.opened[0].answer()
        self.settle()
        self.assertIn(b'{"present":true}', b.value())
        self.assertEqual(self.metrics.refusals._value.get(), 0)

    def test_503_and_retry_after_past_the_timeout(self):
        self.door(sessions=lambda: Session(hold=True), maxRequests=1, queueTimeout=10)
        self.checkpresent()
        _, b = self.checkpresent()
        self.clock.advance(10)
        self.settle()
        out = b.value()
        self.assertTrue(out.startswith(b"HTTP/1.1 503 "), out)
        self.assertIn(b"Retry-After: 10\r\n", out)
        self.assertIn(b"no request slot came free in 10 seconds", out)
        self.assertEqual((self.queued(), self.metrics.refusals._value.get()), (0, 1))
        self.assertEqual(len(self.core.opened), 1)

    def test_client_gone_while_waiting(self):
        self.door(sessions=lambda: Session(hold=True), maxRequests=1, queueTimeout=10)
        self.checkpresent()
        proto, _ = self.checkpresent()
        self.assertEqual(self.queued(), 1)
        proto.connectionLost(Failure(ConnectionAborted()))
        self.settle()
        self.assertEqual(self.queued(), 0)
        self.core.opened[0].answer()
        self.settle()
        self.assertEqual(len(self.core.opened), 1)

    def test_keeplocked_never_waits(self):
        self.door(sessions=lambda: Session(hold=True), maxRequests=1, queueTimeout=10)
        self.checkpresent()
        _, k = self.request(b"keeplocked?lockid=nosuchlock&clientuuid=%s" % (CU,), body=b'{"unlock":true}\n')
        self.settle()
        self.assertIn(b'{"locked":false}', k.value())
        self.assertEqual(self.queued(), 0)

    def test_slow_headers_closed_others_served(self):
        self.door(headerTimeout=30)
        slow, st = self.connect()
        slow.dataReceived(b"POST /git-annex/%s/v4/checkpresent HTTP/1.1\r\nHost: x\r\n" % (U,))
        self.clock.advance(20)
        slow.dataReceived(b"X-A: b\r\n")  # (a byte now and then does not help)
        _, ok = self.checkpresent()
        self.settle()
        self.assertIn(b'{"present":true}', ok.value())
        self.clock.advance(9)
        self.assertFalse(st.disconnecting)
        self.clock.advance(1)
        self.assertTrue(st.disconnected)
        self.assertFalse(ok.disconnecting)

    def test_stalled_put_body_ends_the_request_and_delivers_what_came(self):
        self.door(bodyTimeout=120)
        proto, t = self.connect()
        proto.dataReceived(
            b"POST /git-annex/%s/v4/put?key=%s&clientuuid=%s HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 1000\r\nX-git-annex-data-length: 1000\r\n\r\n" % (U, K, CU) + b"z" * 300
        )
        self.settle()
        session = self.core.opened[0]
        self.clock.advance(100)
        proto.dataReceived(b"z" * 100)  # (the watch restarts at each byte)
        self.clock.advance(119)
        self.settle()
        self.assertFalse(t.disconnected)
        self.clock.advance(1)
        self.assertTrue(t.disconnected)
        proto.connectionLost(Failure(ConnectionAborted()))
        self.settle()
        self.assertEqual(session.data, b"z" * 400)
        self.assertIsNotNone(session.lost)

    def test_stalled_node_504(self):
        self.door(sessions=lambda: Session(mute=True), nodeTimeout=130)
        _, t = self.checkpresent()
        self.clock.advance(129)
        self.settle()
        self.assertEqual(t.value(), b"")
        self.clock.advance(1)
        self.settle()
        out = t.value()
        self.assertTrue(out.startswith(b"HTTP/1.1 504 "), out)
        self.assertIn(b"no answer from the node to CHECKPRESENT in 130 seconds", out)
        self.assertIsNotNone(self.core.opened[0].lost)

    def test_silent_handshake_504(self):
        self.door(sessions=lambda: Session(silent=True), nodeTimeout=5)
        _, t = self.checkpresent()
        self.clock.advance(5)
        self.settle()
        self.assertIn(b"no answer from the node to the handshake in 5 seconds", t.value())
        self.assertTrue(t.value().startswith(b"HTTP/1.1 504 "))

    def test_quiet_keeplocked_body_is_not_timed_out(self):
        self.door()
        proto, t = self.connect()
        line = b'{"unlock":false}\n'
        proto.dataReceived(
            b"POST /git-annex/%s/v4/keeplocked?lockid=L&clientuuid=%s HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (U, CU, len(line), line)
        )
        self.clock.advance(3600)
        self.assertFalse(t.disconnecting)
        proto.dataReceived(b"0\r\n\r\n")
        self.settle()
        self.assertIn(b'{"locked":false}', t.value())

    def test_lockedfiles(self):
        self.door(lockedFiles=1)
        _, a = self.request(b"lockcontent?key=%s&clientuuid=%s" % (K, CU))
        _, b = self.request(b"lockcontent?key=%s&clientuuid=%s" % (K, CU))
        self.settle()
        self.assertIn(b'{"locked":true,"lockid":"', a.value())
        self.assertIn(b'{"locked":false}', b.value())
        self.assertEqual(len(self.core.opened), 2)
        self.assertIsNone(self.core.opened[0].lost)
