"""
Tier 2: moving payloads (memory relay, splice, fan-out), in memory and over real pipes and a real node process.
"""

import os

from zope.interface.verify import verifyClass
from twisted.internet import defer, reactor
from twisted.internet.protocol import Protocol
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from annexrelay.clientside import ClientSession
from annexrelay.requests import Mode
from annexrelay.connectors.pool import NodePool
from annexrelay.connectors.process import ProcessConnector
from annexrelay.frontdoor.auth import Preauthenticated
from annexrelay.repo import Node
from annexrelay.streams import Streams
from annexrelay.streams.memory import Relay, _SinkProducer
from annexrelay.testing.memory import KEY, NODE_UUID, RecordingLog


class RelayTests(unittest.TestCase):
    def setUp(self):
        self.source = StringTransport()
        self.sinks = [StringTransport() for _ in range(3)]

    def test_interfaces(self):
        self.assertTrue(verifyClass(IPushProducer, _SinkProducer))

    def test_per_sink_offsets(self):
        """
        Each sink skips its own prefix of the stream (resume offsets).
        """
        r = Relay(self.source, [(self.sinks[0], 0), (self.sinks[1], 3), (self.sinks[2], 9)])
        r.write(b"0123")
        r.write(b"456789")
        r.finish()
        self.assertEqual([s.value() for s in self.sinks], [b"0123456789", b"3456789", b"9"])
        self.assertEqual(r.written, 10)
        self.assertTrue(all(s.producer is None for s in self.sinks))

    def test_paced_by_the_slowest(self):
        """
        The source is paused while any sink is full, and resumes only when
        all have drained.
        """
        r = Relay(self.source, [(s, 0) for s in self.sinks])
        self.sinks[0].producer.pauseProducing()
        self.sinks[2].producer.pauseProducing()
        self.assertEqual(self.source.producerState, "paused")
        self.sinks[0].producer.resumeProducing()
        self.assertEqual(self.source.producerState, "paused")
        self.sinks[2].producer.resumeProducing()
        self.assertEqual(self.source.producerState, "producing")
        r.finish()

    def test_dropped_sink_does_not_hold_the_others(self):
        r = Relay(self.source, [(s, 0) for s in self.sinks])
        self.sinks[1].producer.pauseProducing()
        self.assertEqual(self.source.producerState, "paused")
        r.dropSink(self.sinks[1])
        self.assertEqual(self.source.producerState, "producing")
        r.write(b"x")
        self.assertEqual([s.value() for s in self.sinks], [b"x", b"", b"x"])
        r.finish()

    def test_stalled_sink_dropped(self):
        """
        A sink that stays full for the stall timeout is dropped and the
        source resumes; one that drains in time is kept.
        """
        clock = Clock()
        r = Relay(self.source, [(s, 0) for s in self.sinks], stallTimeout=30, clock=clock)
        self.sinks[0].producer.pauseProducing()
        clock.advance(20)
        self.sinks[0].producer.resumeProducing()
        self.sinks[1].producer.pauseProducing()
        clock.advance(20)
        self.assertEqual(r.dropped, [])
        self.assertEqual(self.source.producerState, "paused")
        clock.advance(10)
        self.assertEqual(r.dropped, [(self.sinks[1], "it took no data for 30 seconds")])
        self.assertEqual(self.source.producerState, "producing")
        r.finish()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_finish_resumes_a_paused_source(self):
        r = Relay(self.source, [(self.sinks[0], 0)])
        self.sinks[0].producer.pauseProducing()
        r.finish()
        self.assertEqual(self.source.producerState, "producing")


class RealBackpressureTests(unittest.TestCase):
    """
    With real pipes and a real node process: a client that does not read
    makes the relay stop reading from the node, and reading again lets the
    transfer finish.
    """

    SIZE = 8 * 1024 * 1024

    NODE = r"""
import os, sys
out = sys.stdout.buffer
out.write(b"AUTH-SUCCESS %s\n"); out.flush()
sys.stdin.buffer.readline()
out.write(b"VERSION 4\n"); out.flush()
sys.stdin.buffer.readline()
out.write(b"DATA %d\n"); out.flush()
chunk = b"x" * 65536
for _ in range(%d // 65536):
    out.write(chunk)
out.write(b"VALID\n"); out.flush()
sys.stdin.buffer.read()
"""

    def setUp(self):
        import sys

        from annexrelay.streams.kernel import DescriptorTransport
        from annexrelay.targets.proxied import ProxiedRemote

        script = self.NODE % (NODE_UUID.decode(), self.SIZE, self.SIZE)
        node = Node("n1", NODE_UUID, "/srv/n1")
        pool = NodePool(reactor, ProcessConnector(reactor, lambda n: [sys.executable, "-c", script]), idleTimeout=0)
        # test_copied moves payloads through memory (--no-splice).
        streams = Streams(splice=self._testMethodName != "test_copied")
        self.target = ProxiedRemote(node, pool, RecordingLog(), streams)
        self.session = ClientSession(Preauthenticated(self.target, Mode.READ_WRITE))
        self.cin_r, self.cin_w = os.pipe()
        self.cout_r, self.cout_w = os.pipe()
        os.set_blocking(self.cout_r, False)
        DescriptorTransport(self.session, self.cin_r, self.cout_w, reactor)
        self.addCleanup(self.cleanup)

    def cleanup(self):
        # Whatever happened, the session ends once the client is gone.
        for fd in (self.cin_w, self.cout_r):
            try:
                os.close(fd)
            except OSError:
                pass
        d = self.session.done
        conn = getattr(self, "conn", None)
        if conn is not None:
            d.addCallback(lambda _: conn.processEnded)
        return d

    def paused(self, cls, method):
        """
        A Deferred that fires the first time C{cls.method} is called, i.e.
        the first time the relay holds the source back for a full sink.
        """
        d = defer.Deferred()
        original = getattr(cls, method)

        def watch(this, *a, **kw):
            result = original(this, *a, **kw)
            if not d.called:
                d.callback(this)
            return result

        self.patch(cls, method, watch)
        return d

    @defer.inlineCallbacks
    def check(self, watched):
        import fcntl
        import termios
        from twisted.internet.stdio import StandardIO

        os.write(self.cin_w, b"VERSION 4\nGET 0 f " + KEY + b"\n")
        yield watched
        # The client has not read a byte: the relay has stopped reading the
        # node, and what waits in the client's pipe is far from the object.
        self.conn = self.target._conn
        reader = self.conn.transport._reader
        self.assertNotIn(reader, reactor.getReaders())
        pending = fcntl.ioctl(self.cout_r, termios.FIONREAD, b"\0\0\0\0")
        self.assertLess(int.from_bytes(pending, "little"), self.SIZE // 2)

        # Now the client reads; everything arrives, in order.
        expected = b"AUTH-SUCCESS " + NODE_UUID + b"\nVERSION 4\nDATA %d\n" % self.SIZE
        total = len(expected) + self.SIZE + len(b"VALID\n")
        done = defer.Deferred()

        lost = defer.Deferred()

        class Client(Protocol):
            received = []
            count = 0

            def connectionLost(self, reason):
                lost.callback(None)

            def dataReceived(self, data):
                self.received.append(data[:200] if self.count < 200 else data[-16:])
                self.count += len(data)
                if self.count >= total and not done.called:
                    done.callback(self)

        devnull = os.open(os.devnull, os.O_WRONLY)
        client = Client()
        StandardIO(client, stdin=self.cout_r, stdout=devnull, reactor=reactor)
        yield done
        self.assertEqual(client.count, total)
        self.assertTrue(b"".join(client.received).startswith(expected))
        self.assertTrue(client.received[-1].endswith(b"VALID\n"))
        os.write(self.cin_w, b"SUCCESS\n")
        os.close(self.cin_w)
        yield self.session.done
        client.transport.loseConnection()
        yield lost
        os.close(devnull)

    def test_spliced(self):
        from annexrelay.streams.splice import Splice

        return self.check(self.paused(Splice, "_waitForDestination"))

    def test_copied(self):
        return self.check(self.paused(Relay, "_sinkPaused"))


class _Collector:
    """
    The far end of a sink pipe, read by the reactor; fires C{full} once
    C{want} bytes came.
    """

    def __init__(self, want):
        self.want = want
        self.data = bytearray()
        self.full = defer.Deferred()

    def childDataReceived(self, name, data):
        self.data += data
        if len(self.data) >= self.want and not self.full.called:
            self.full.callback(bytes(self.data))

    def childConnectionLost(self, name, reason=None):
        pass


class FanoutTests(unittest.TestCase):
    """
    splice/tee fan-out over real pipes: per-sink offsets, pacing by the
    slowest sink, a sink breaking mid-stream.
    """

    SIZE = 6 * 1024 * 1024 + 123

    def setUp(self):
        from annexrelay.streams import fanout

        if not fanout.available:
            raise unittest.SkipTest("no tee(2) here")
        self.transports = []
        self.held = []
        self.readers = []
        self.addCleanup(self.closeAll)

    def closeAll(self):
        for t in self.transports:
            t.abortConnection()
        for r in self.readers:
            if r.connected:
                r.stopReading()
                os.close(r.fileno())
        for fd in self.held:
            os.close(fd)

    def transport(self, proto, fdIn, fdOut):
        from annexrelay.streams.kernel import DescriptorTransport

        DescriptorTransport(proto, fdIn, fdOut, reactor)
        self.transports.append(proto.transport)
        return proto.transport

    def build(self, skips):
        from twisted.internet.process import ProcessReader
        from twisted.internet.protocol import Protocol

        from annexrelay.p2p.framing import P2PFramer

        self.payload = os.urandom(self.SIZE)
        src_r, src_w = os.pipe()
        idle_r, idle_w = os.pipe()
        self.framer = P2PFramer()
        self.transport(self.framer, src_r, idle_w)
        self.transport(Protocol(), idle_r, src_w).write(self.payload)
        self.sinks, self.collectors = [], []
        for skip in skips:
            r, w = os.pipe()
            hold_r, hold_w = os.pipe()
            self.held.append(hold_w)
            t = self.transport(Protocol(), hold_r, w)
            c = _Collector(self.SIZE - skip)
            self.readers.append(ProcessReader(reactor, c, "r", r))
            self.readers[-1].stopReading()
            self.sinks.append((t, skip))
            self.collectors.append(c)

    def waits(self, index):
        """
        Fires the first time the fan-out waits for sink C{index} to drain.
        """
        from annexrelay.streams import fanout

        d = defer.Deferred()
        original = fanout.Fanout._waitFor

        def watch(this, s):
            original(this, s)
            if s.index == index and not d.called:
                d.callback(s)

        self.patch(fanout.Fanout, "_waitFor", watch)
        return d

    @defer.inlineCallbacks
    def test_offsets_and_slowest_paces(self):
        from annexrelay.streams import relayPayload

        self.build([0, 1000, 3 * 1024 * 1024 + 7])
        waited = self.waits(1)
        self.readers[0].startReading()
        self.readers[2].startReading()
        done = defer.ensureDeferred(relayPayload(self.framer, self.SIZE, self.sinks))
        yield waited
        # Once the read that filled it returns (the next reactor turn), the
        # slow sink (not read) holds the source: it is not being read.
        from twisted.internet.task import deferLater

        yield deferLater(reactor, 0, lambda: None)
        self.assertNotIn(self.framer.transport._reader, reactor.getReaders())
        self.assertFalse(done.called)
        self.readers[1].startReading()
        yield done
        for c, (_, skip) in zip(self.collectors, self.sinks):
            got = yield c.full
            self.assertEqual(len(got), self.SIZE - skip)
            self.assertEqual(got, self.payload[skip:])

    @defer.inlineCallbacks
    def test_sink_breaks(self):
        from annexrelay.streams import relayPayload

        self.build([0, 0, 0])
        waited = self.waits(1)
        self.readers[0].startReading()
        self.readers[2].startReading()
        done = defer.ensureDeferred(relayPayload(self.framer, self.SIZE, self.sinks))
        yield waited
        # The slow sink's reader goes away: the others complete.
        os.close(self.readers.pop(1).fileno())
        yield done
        for i in (0, 2):
            got = yield self.collectors[i].full
            self.assertEqual(got, self.payload)

    @defer.inlineCallbacks
    def test_stalled_sink_dropped(self):
        """
        A sink that takes nothing for the stall timeout while the fan-out
        waits for it is dropped and reported; the others complete.
        """
        from twisted.internet.task import deferLater

        from annexrelay.streams import relayPayload

        self.build([0, 0])
        waited = self.waits(1)
        self.readers[0].startReading()
        clock = Clock()
        dropped = []
        done = defer.ensureDeferred(
            relayPayload(self.framer, self.SIZE, self.sinks, 30, clock, lambda t, why: dropped.append((t, why)))
        )
        slow = yield waited
        fast = slow.fanout._sinks[0]
        # The reactor delivers the fast sink's round; then only the slow
        # sink holds the upload up.
        while fast.waiting or fast.pending:
            yield deferLater(reactor, 0, lambda: None)
        self.assertFalse(done.called)
        clock.advance(30)
        self.assertEqual(dropped, [(self.sinks[1][0], "it took no data for 30 seconds")])
        yield done
        got = yield self.collectors[0].full
        self.assertEqual(got, self.payload)
        self.assertEqual(clock.getDelayedCalls(), [])


class SourceLostTests(unittest.TestCase):
    """
    The source of a payload moved in the kernel goes away in the middle (a
    client killed mid-upload, its descriptors closed by the daemon): the
    payload ends with ShortData at once, nothing is left on the reactor,
    and the session can end.
    """

    timeout = 20
    SIZE = 8 * 1024 * 1024
    SENT = 60 * 1024  # fits in a pipe: the write does not block

    def setUp(self):
        from annexrelay.streams import pipes

        if not pipes.HAVE_SPLICE:
            raise unittest.SkipTest("no splice(2) here")
        self.cleanups = []
        self.addCleanup(lambda: [f() for f in self.cleanups])

    def pipeTransport(self, proto, fdIn, fdOut):
        from annexrelay.streams.kernel import DescriptorTransport

        DescriptorTransport(proto, fdIn, fdOut, reactor)
        self.cleanups.append(proto.transport.abortConnection)
        return proto.transport

    def collector(self, fd, want):
        from twisted.internet.process import ProcessReader

        c = _Collector(want)
        r = ProcessReader(reactor, c, "r", fd)
        self.cleanups.append(lambda: (r.stopReading(), os.close(fd)) if r.connected else None)
        return c

    @defer.inlineCallbacks
    def check(self, sinks):
        from annexrelay.p2p.framing import P2PFramer, ShortData
        from annexrelay.streams import relayPayload

        src_r, src_w = os.pipe()
        idle_r, idle_w = os.pipe()
        self.cleanups.append(lambda: os.close(idle_r))
        framer = P2PFramer()
        self.pipeTransport(framer, src_r, idle_w)
        targets, collectors = [], []
        for _ in range(sinks):
            r, w = os.pipe()
            hold_r, hold_w = os.pipe()
            self.cleanups.append(lambda fd=hold_w: os.close(fd))
            targets.append((self.pipeTransport(Protocol(), hold_r, w), 0))
            collectors.append(self.collector(r, self.SENT))
        os.write(src_w, b"x" * self.SENT)
        done = defer.ensureDeferred(relayPayload(framer, self.SIZE, targets))
        for c in collectors:
            got = yield c.full
            self.assertEqual(len(got), self.SENT)
        # The client is gone: the daemon closes its descriptors.
        framer.transport.abortConnection()
        os.close(src_w)
        e = yield self.assertFailure(done, ShortData)
        self.assertEqual((e.announced, e.received), (self.SIZE, self.SENT))

    def test_spliced(self):
        return self.check(1)

    def test_fanned_out(self):
        from annexrelay.streams import fanout

        if not fanout.available:
            raise unittest.SkipTest("no tee(2) here")
        return self.check(2)
