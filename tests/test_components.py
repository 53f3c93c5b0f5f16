"""
Tier 2: the streaming relay, the node pool, the hand-over front door, the
wiring, and the location log writer.
"""

import json
import os
import subprocess

from zope.interface.verify import verifyClass, verifyObject
from twisted.internet import defer, reactor
from twisted.internet.protocol import Protocol
from twisted.internet.interfaces import IFileDescriptorReceiver, IHalfCloseableProtocol, IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial import unittest

from annexrelay import tap
from annexrelay.branch import LocationLogWriter
from annexrelay.clientside import ClientSession
from annexrelay.connectors import INodeConnector, NodePool, ProcessConnector
from annexrelay.nodeside import NodeError
from annexrelay.repo import Node
from annexrelay.server import HandoverProtocol, RelayCore
from annexrelay.streams import Relay, _SinkProducer
from tests.memory import KEY, NODE_UUID, MemoryPool, RecordingLog


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


class PoolTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.connector = MemoryPool()
        self.pool = NodePool(self.clock, self.connector, idleTimeout=10)
        self.node = Node("n1", NODE_UUID, "/srv/n1")

    def acquire(self, version=4):
        return self.successResultOf(self.pool.acquire(self.node, version))

    def test_reuse_and_idle_timeout(self):
        conn = self.acquire()
        self.pool.release(conn)
        self.assertIs(self.acquire(), conn)
        self.assertEqual(self.pool.opened, 1)
        self.pool.release(conn)
        self.clock.advance(9)
        self.assertEqual(self.pool.idleCount(), 1)
        self.clock.advance(2)
        self.assertEqual(self.pool.idleCount(), 0)
        self.assertTrue(conn.transport.disconnecting)

    def test_idle_connection_that_dies_is_forgotten(self):
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        conn = self.acquire()
        self.pool.release(conn)
        conn.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.pool.idleCount(), 0)
        self.assertIsNot(self.acquire(), conn)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_reuse_does_not_pile_up_watchers(self):
        conn = self.acquire()
        for _ in range(5):
            self.pool.release(conn)
            self.assertIs(self.acquire(), conn)
        self.assertEqual(conn._lostWatchers, [])

    def test_keyed_by_version(self):
        conn = self.acquire(4)
        self.pool.release(conn)
        other = self.acquire(1)
        self.assertIsNot(other, conn)

    def test_broken_not_kept(self):
        conn = self.acquire()
        conn.broken = True
        self.pool.release(conn)
        self.assertEqual(self.pool.idleCount(), 0)

    def test_lazy(self):
        """
        Nothing is opened until asked.
        """
        self.assertEqual(self.connector.conns, [])


class ProcessConnectorTests(unittest.TestCase):
    """
    The connector with a real reactor and real processes.
    """

    def test_interface(self):
        self.assertTrue(verifyObject(INodeConnector, ProcessConnector(reactor, lambda n: [])))

    @defer.inlineCallbacks
    def test_unreachable_node_says_why(self):
        node = Node("gone", NODE_UUID, "/nonexistent")
        connector = ProcessConnector(reactor, lambda n: ["sh", "-c", "echo 'no such repository' >&2; exit 1"])
        with self.assertRaises(NodeError) as e:
            yield connector.connect(node, 4)
        self.assertIn("cannot reach node gone (/nonexistent): no such repository", str(e.exception))

    @defer.inlineCallbacks
    def test_handshake_over_pipes(self):
        node = Node("n1", NODE_UUID, "/srv/n1")
        connector = ProcessConnector(reactor, lambda n: ["sh", "-c", "printf 'AUTH-SUCCESS %s\\n' " + NODE_UUID.decode() + "; read v; echo 'VERSION 3'; cat >/dev/null"])
        conn = yield connector.connect(node, 4)
        self.assertEqual(conn.version, 3)
        conn.close()
        yield conn.processEnded

    @defer.inlineCallbacks
    def test_wrong_uuid(self):
        node = Node("n1", NODE_UUID, "/srv/n1")
        connector = ProcessConnector(reactor, lambda n: ["sh", "-c", "echo 'AUTH-SUCCESS 1234'; cat >/dev/null"])
        with self.assertRaises(NodeError) as e:
            yield connector.connect(node, 4)
        self.assertIn("expected repository UUID", str(e.exception))


class FakeRepository:
    path = "/srv/proxy"
    uuid = b"5be33b88-f077-4dfa-8ff3-5e8cde6218ce"

    def __init__(self):
        self.node = Node("n1", NODE_UUID, "/srv/n1")

    def target(self, uuid):
        return self.node if uuid == NODE_UUID else None

    def cluster(self, uuid):
        return None

    def describe(self, uuid):
        return ""


class HandoverTests(unittest.TestCase):
    def setUp(self):
        self.pool = MemoryPool()
        self.core = RelayCore(MemoryReactorClock(), FakeRepository(), self.pool, RecordingLog())
        self.proto = HandoverProtocol(self.core)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def header(self, **kw):
        h = {"command": "p2pstdio", "client": "c", "target": NODE_UUID.decode(), "mode": "read-write"}
        h.update(kw)
        return json.dumps(h).encode() + b"\n"

    def test_interfaces(self):
        self.assertTrue(verifyObject(IFileDescriptorReceiver, self.proto))
        self.assertTrue(verifyObject(IHalfCloseableProtocol, self.proto))
        self.assertTrue(verifyClass(IHalfCloseableProtocol, ClientSession))

    def test_in_band_session(self):
        """
        Without descriptors the connection itself carries the session, and
        no node is contacted before a request needs one.
        """
        self.proto.dataReceived(self.header())
        self.assertEqual(self.transport.value(), b"OK\nAUTH-SUCCESS " + NODE_UUID + b"\n")
        self.assertEqual(self.pool.conns, [])
        self.transport.clear()
        self.proto.dataReceived(b"VERSION 4\nCHECKPRESENT " + KEY + b"\n")
        self.assertEqual(self.transport.value(), b"VERSION 4\n")
        self.assertEqual(self.pool.conns[0].transport.value(), b"CHECKPRESENT " + KEY + b"\n")

    def test_header_and_data_in_one_read(self):
        self.proto.dataReceived(self.header() + b"VERSION 4\n")
        self.assertEqual(self.transport.value(), b"OK\nAUTH-SUCCESS " + NODE_UUID + b"\nVERSION 4\n")

    def test_self(self):
        self.proto.dataReceived(self.header(target=FakeRepository.uuid.decode()))
        self.assertEqual(self.transport.value(), b"SELF\n")

    def test_unknown_target(self):
        self.proto.dataReceived(self.header(target="11111111-1111-1111-1111-111111111111"))
        self.assertTrue(self.transport.value().startswith(b"FAIL expected repository UUID 1111"))
        self.assertTrue(self.transport.disconnecting)

    def test_bad_header(self):
        self.proto.dataReceived(b"{nonsense\n")
        self.assertTrue(self.transport.value().startswith(b"FAIL bad hand-over header"))

    def test_wrong_repository(self):
        self.proto.dataReceived(self.header(directory="/elsewhere"))
        self.assertTrue(self.transport.value().startswith(b"FAIL this daemon serves /srv/proxy"))

    def test_mode_passed_on(self):
        self.proto.dataReceived(self.header(mode="read-only"))
        self.transport.clear()
        self.proto.dataReceived(b"VERSION 4\nPUT f " + KEY + b"\n")
        self.assertEqual(
            self.transport.value(), b"VERSION 4\nERROR this repository is read-only; write access denied\n"
        )


def _git(cwd, *args):
    return subprocess.run(["git"] + list(args), cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode()


def _have_git_annex():
    from shutil import which

    return which("git-annex") is not None


class WiringTests(unittest.TestCase):
    if not _have_git_annex():
        skip = "git-annex is not on PATH"

    def makeRepo(self, remotes=0):
        path = os.path.abspath(self.mktemp())
        subprocess.run(["git", "init", "-q", path], check=True)
        _git(path, "annex", "init", "-q", "proxy")
        with open(os.path.join(path, ".git", "config"), "a") as f:
            for i in range(remotes):
                f.write(
                    '[remote "r%d"]\n\turl = /srv/r%d\n\tannex-proxy = true\n\tannex-uuid = %08d-0000-4000-8000-000000000000\n'
                    % (i, i, i)
                )
        return path

    def test_thousand_remotes_start_without_a_connection(self):
        path = self.makeRepo(remotes=1000)
        options = tap.Options()
        options.parseOptions(["--repo", path, "--listen", "tcp:0:interface=127.0.0.1"])
        memory = MemoryReactorClock()
        top = tap.makeService(options, reactor=memory)
        top.privilegedStartService()
        top.startService()
        self.assertEqual(len(top.core.repository.nodes), 1000)
        self.assertEqual(memory.spawnedProcesses if hasattr(memory, "spawnedProcesses") else [], [])
        self.assertEqual(top.core.pool.opened, 0)
        self.assertEqual(len(memory.tcpServers), 1)

    def test_default_listener_is_the_repository_socket(self):
        path = self.makeRepo()
        options = tap.Options()
        options.parseOptions(["--repo", path])
        self.assertEqual(len(options["listen"]), 1)
        self.assertTrue(options["listen"][0].startswith("unix:"))
        self.assertIn("annexrelay.sock", options["listen"][0])

    def test_repo_required(self):
        from twisted.python.usage import UsageError

        self.assertRaises(UsageError, tap.Options().parseOptions, [])


class LocationLogWriterTests(unittest.TestCase):
    if not _have_git_annex():
        skip = "git-annex is not on PATH"

    def setUp(self):
        self.path = os.path.abspath(self.mktemp())
        subprocess.run(["git", "init", "-q", self.path], check=True)
        _git(self.path, "annex", "init", "-q", "proxy")

    def commits(self):
        return int(_git(self.path, "rev-list", "--count", "refs/heads/git-annex").strip())

    def logOf(self, key):
        p = _git(self.path, "annex", "examinekey", "--format=${hashdirlower}${key}.log", key).strip()
        return _git(self.path, "cat-file", "-p", "refs/heads/git-annex:" + p)

    @defer.inlineCallbacks
    def test_burst_is_one_commit(self):
        """
        A thousand records gathered within the delay are one commit, in
        git-annex's own location log format.
        """
        before = self.commits()
        writer = LocationLogWriter(reactor, self.path, delay=30)
        u = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"
        for i in range(1000):
            writer.record(b"SHA256E-s%d--%064x" % (i, i), u, True)
        writer.record(b"SHA256E-s0--%064x" % 0, u, False)
        yield writer.flush()
        self.assertEqual(self.commits() - before, 1)
        self.assertRegex(self.logOf("SHA256E-s7--%064x" % 7), r"^\d+s 1 0b531efe-1ddd-4f1a-a22c-16b82487267f\n$")
        self.assertIn(" 0 ", self.logOf("SHA256E-s0--%064x" % 0))

    @defer.inlineCallbacks
    def test_concurrent_git_annex_write_not_lost(self):
        """
        git-annex writing the branch at the same time loses neither update
        (the journal lock keeps them apart).
        """
        writer = LocationLogWriter(reactor, self.path, delay=30)
        u = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"
        ours = b"SHA256E-s1--%064x" % 1
        theirs = "SHA256E-s2--%064x" % 2
        writer.record(ours, u, True)
        d = writer.flush()
        other = subprocess.Popen(
            ["git", "annex", "setpresentkey", theirs, "bb7f77b7-e29f-45fa-bd52-824b160e6907", "1"], cwd=self.path
        )
        yield d
        other.wait()
        _git(self.path, "annex", "merge")
        self.assertIn(u.decode(), self.logOf(ours.decode()))
        self.assertIn("bb7f77b7", self.logOf(theirs))

    @defer.inlineCallbacks
    def test_timer_commits_without_flush(self):
        writer = LocationLogWriter(reactor, self.path, delay=0.01)
        key = b"SHA256E-s3--%064x" % 3
        writer.record(key, b"0b531efe-1ddd-4f1a-a22c-16b82487267f", True)
        self.assertEqual(writer.pending(), 1)
        # The timer starts the write; flush() then only waits for it.
        yield writer.flush()
        self.assertIn("0b531efe", self.logOf(key.decode()))

    @defer.inlineCallbacks
    def test_journaled_key_is_changed_in_the_journal(self):
        """
        A key git-annex has in its journal (not committed yet) is updated
        there, so git-annex's own commit of the journal keeps both changes.
        """
        key = "SHA256E-s4--%064x" % 4
        _git(self.path, "annex", "setpresentkey", key, "bb7f77b7-e29f-45fa-bd52-824b160e6907", "1")
        writer = LocationLogWriter(reactor, self.path, delay=30)
        writer.record(key.encode(), b"0b531efe-1ddd-4f1a-a22c-16b82487267f", True)
        yield writer.flush()
        _git(self.path, "annex", "merge")
        log = self.logOf(key)
        self.assertIn("bb7f77b7", log)
        self.assertIn("0b531efe", log)

    @defer.inlineCallbacks
    def test_branch_moved_meanwhile(self):
        """
        If the branch moves between reading and committing (git-annex, or a
        client's push being merged), the compare-and-swap fails and the
        batch is recorded again on top of the new tip; nothing is lost.
        """
        writer = LocationLogWriter(reactor, self.path, delay=30)
        real = writer._git
        moved = []

        async def racing(args, stdin=b""):
            if args[0] == "fast-import" and not moved:
                # A client's push lands on the branch right now.
                tip = _git(self.path, "rev-parse", "refs/heads/git-annex").strip()
                tree = _git(self.path, "rev-parse", "refs/heads/git-annex^{tree}").strip()
                pushed = _git(self.path, "commit-tree", tree, "-p", tip, "-m", "pushed").strip()
                _git(self.path, "update-ref", "refs/heads/git-annex", pushed)
                moved.append(pushed)
            return await real(args, stdin)

        writer._git = racing
        ours = b"SHA256E-s6--%064x" % 6
        writer.record(ours, b"0b531efe-1ddd-4f1a-a22c-16b82487267f", True)
        yield writer.flush()
        self.assertEqual(len(moved), 1)
        self.assertIn("0b531efe", self.logOf(ours.decode()))
        # Recorded on top of the pushed commit, not over it.
        subprocess.run(["git", "merge-base", "--is-ancestor", moved[0], "refs/heads/git-annex"], cwd=self.path, check=True)


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

        from annexrelay.server import DescriptorTransport
        from annexrelay.targets.proxied import ProxiedRemote

        script = self.NODE % (NODE_UUID.decode(), self.SIZE, self.SIZE)
        node = Node("n1", NODE_UUID, "/srv/n1")
        pool = NodePool(reactor, ProcessConnector(reactor, lambda n: [sys.executable, "-c", script]), idleTimeout=0)
        self.target = ProxiedRemote(node, pool, RecordingLog())
        self.session = ClientSession(self.target)
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
        from annexrelay.splicing import Splice

        return self.check(self.paused(Splice, "_waitForDestination"))

    def test_copied(self):
        from annexrelay import splicing
        from annexrelay.streams import Relay

        self.patch(splicing, "enabled", False)
        return self.check(self.paused(Relay, "_sinkPaused"))


class BranchReaderTests(unittest.TestCase):
    """
    The gateway's view of its branch: committed, journaled, and recorded by
    annexrelay but not yet committed.
    """

    if not _have_git_annex():
        skip = "git-annex is not on PATH"

    def setUp(self):
        from annexrelay.branchreader import BranchReader
        from annexrelay.paths import git_dir

        self.path = os.path.abspath(self.mktemp())
        subprocess.run(["git", "init", "-q", self.path], check=True)
        _git(self.path, "annex", "init", "-q", "proxy")
        self.writer = LocationLogWriter(reactor, self.path, delay=30)
        self.reader = BranchReader(reactor, self.path, git_dir(self.path), writer=self.writer)
        self.addCleanup(self.reader.close)

    @defer.inlineCallbacks
    def test_layers(self):
        key = b"SHA256E-s3--%064x" % 3
        u1 = b"11111111-1ddd-4f1a-a22c-16b82487267f"
        u2 = b"22222222-1ddd-4f1a-a22c-16b82487267f"
        have, files = yield defer.ensureDeferred(self.reader.holders(key, [b"cluster.log"]))
        self.assertEqual((have, files), (set(), {b"cluster.log": b""}))
        # git-annex journals a change (not committed yet): seen.
        _git(self.path, "annex", "setpresentkey", key.decode(), u1.decode(), "1")
        have, _ = yield defer.ensureDeferred(self.reader.holders(key))
        self.assertEqual(have, {u1})
        # Committed: still seen, by the same cat-file process.
        _git(self.path, "annex", "merge", "-q")
        have, _ = yield defer.ensureDeferred(self.reader.holders(key))
        self.assertEqual(have, {u1})
        # Recorded by annexrelay, not committed: seen; after commit too.
        self.writer.record(key, u2, True)
        self.writer.record(key, u1, False)
        have, _ = yield defer.ensureDeferred(self.reader.holders(key))
        self.assertEqual(have, {u2})
        yield self.writer.flush()
        have, _ = yield defer.ensureDeferred(self.reader.holders(key))
        self.assertEqual(have, {u2})


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
        from annexrelay import fanout

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
        from annexrelay.server import DescriptorTransport

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
        from annexrelay import fanout

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
        from annexrelay.splicing import relayPayload

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
        from annexrelay.splicing import relayPayload

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

        from annexrelay.splicing import relayPayload

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
