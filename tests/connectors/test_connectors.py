"""
Tier 2: reaching nodes: the pool, the process connector, the choice by URL.
"""


from zope.interface.verify import verifyObject
from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.connectors.pool import NodePool
from annexrelay.connectors.process import ProcessConnector
from annexrelay.interfaces import INodeConnector
from annexrelay.nodeside import NodeError
from annexrelay.repo import Node
from annexrelay.testing.memory import NODE_UUID, MemoryPool


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

    def test_discard_closes_that_nodes_idle_connections(self):
        other = Node("n2", b"22222222-0000-4000-8000-000000000000", "/srv/n2")
        old = [self.acquire(4), self.acquire(4), self.acquire(1)]
        theirs = self.successResultOf(self.pool.acquire(other, 4))
        for conn in old + [theirs]:
            self.pool.release(conn)
        self.pool.discard(self.node)
        self.assertTrue(all(c.transport.disconnecting for c in old))
        self.assertEqual(self.pool.idleCount(), 1)
        self.assertEqual(self.clock.getDelayedCalls()[0].getTime(), 10)
        self.assertNotIn(self.acquire(), old)
        self.assertIs(self.successResultOf(self.pool.acquire(other, 4)), theirs)

    def test_close_all_waits_for_processes(self):
        conn = self.acquire()
        conn.processEnded = defer.Deferred()
        self.pool.release(conn)
        done = self.pool.closeAll()
        self.assertTrue(conn.transport.disconnecting)
        self.assertNoResult(done)
        conn.processEnded.callback(None)
        self.successResultOf(done)


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


class LeaseTests(PoolTests):
    """
    A connection given back in the middle of a request is closed, never
    handed to the next session.
    """

    def test_open_lease_closes(self):
        conn = self.acquire()
        lease = conn.lease()
        self.assertTrue(conn.inRequest)
        self.pool.release(conn)
        self.assertEqual(self.pool.idleCount(), 0)
        self.assertTrue(conn.transport.disconnecting)
        lease.finish()

    def test_finished_lease_reused(self):
        conn = self.acquire()
        with conn.lease():
            pass
        self.assertFalse(conn.inRequest)
        self.pool.release(conn)
        self.assertIs(self.acquire(), conn)

    def test_raising_leaves_lease_open(self):
        conn = self.acquire()
        with self.assertRaises(ValueError):
            with conn.lease():
                raise ValueError("the request broke")
        self.assertTrue(conn.inRequest)


class UrlTests(unittest.TestCase):
    """
    What a node's URL says about how it is reached.
    """

    def test_kinds(self):
        from annexrelay.connectors import urls

        for url, kind in [
            ("/srv/n1", urls.LOCAL),
            ("../n1", urls.LOCAL),
            ("~/n1", urls.LOCAL),
            ("file:///srv/n1", urls.LOCAL),
            ("n1", urls.LOCAL),
            ("ssh://user@host:2222/~/srv/repo", urls.SSH),
            ("git+ssh://host/srv", urls.SSH),
            ("host:srv/repo", urls.SSH),
            ("user@host:/srv/repo", urls.SSH),
            ("tor-annex::abcdefghij.onion:5555", urls.TOR_ANNEX),
            ("annex+http://host/git/repo", urls.P2PHTTP),
            ("annex+https://host/git/repo", urls.P2PHTTP),
            ("https://host/repo", urls.OTHER),
        ]:
            self.assertEqual(urls.kind(url), kind, url)

    def test_ssh_location(self):
        from annexrelay.connectors import urls

        self.assertEqual(urls.ssh_location("ssh://user@host:2222/~/srv/repo"), ("user@host", "2222", "srv/repo"))
        self.assertEqual(urls.ssh_location("ssh://[::1]:22/srv"), ("::1", "22", "/srv"))
        self.assertEqual(urls.ssh_location("host:srv/repo"), ("host", None, "srv/repo"))


class NodeConnectorsTests(unittest.TestCase):
    """
    The connector is chosen by the node's URL; kinds without a connector
    are refused with a clear error instead of being run as something else.
    """

    def setUp(self):
        from annexrelay.connectors import NodeConnectors, urls

        self.local = MemoryPool()
        self.connectors = NodeConnectors({urls.LOCAL: self.local, urls.SSH: self.local})

    def test_interface(self):
        self.assertTrue(verifyObject(INodeConnector, self.connectors))

    def test_local_and_ssh(self):
        for url in ("/srv/n1", "ssh://host/srv/n1"):
            conn = self.successResultOf(self.connectors.connect(Node("n1", NODE_UUID, url), 4, ()))
            self.assertEqual(conn.node.url, url)

    def test_refused_kinds(self):
        for url, why in [
            ("tor-annex::abcdefghij.onion:5555", "no connector for tor-annex URLs"),
            ("annex+http://host/git/repo", "annex+http remotes are not supported as nodes yet"),
        ]:
            f = self.failureResultOf(self.connectors.connect(Node("far", NODE_UUID, url), 4, ()), NodeError)
            self.assertEqual(str(f.value), "cannot reach node far (%s): %s" % (url, why))
        self.assertEqual(self.local.acquired, [])
