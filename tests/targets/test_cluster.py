"""
Tier 2: a client session to a cluster gateway, the client and every node
in memory.  Node costs are n1 < n2 < n3, so the order nodes are tried in is
known.
"""

from zope.interface.verify import verifyObject
from twisted.internet.error import ConnectionLost
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial import unittest

from annexrelay.interfaces import ITarget
from annexrelay.testing.memory import CLUSTER_UUID, GATEWAY_UUID, KEY, NODE_UUIDS, ClusterPair

U1, U2, U3 = NODE_UUIDS["n1"], NODE_UUIDS["n2"], NODE_UUIDS["n3"]
# Larger than SMALL_OBJECT: the client waits for the nodes' offsets.
BIG = b"SHA256E-s5000000--84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882.bin"
CLIENT_BYPASS = b"99999999-0000-4000-8000-000000000000"


class SessionStartTests(unittest.TestCase):
    def test_interface(self):
        self.assertTrue(verifyObject(ITarget, ClusterPair().target))

    def test_version_without_nodes(self):
        """
        AUTH-SUCCESS names the cluster; VERSION is answered at once and no
        node is contacted.
        """
        p = ClusterPair(version=None)
        self.assertEqual(p.greeting, b"AUTH-SUCCESS " + CLUSTER_UUID + b"\n")
        p.send(b"VERSION 9\n")
        self.assertEqual(p.take(), b"VERSION 4\n")
        self.assertEqual(p.pool.acquired, [])

    def test_nodes_get_client_version_and_bypass(self):
        """
        Each node is opened lazily with the client's version and BYPASS =
        the client's set plus the gateway's UUID.
        """
        p = ClusterPair(version=None)
        p.send(b"VERSION 3\n")
        p.take()
        p.send(b"BYPASS " + CLIENT_BYPASS + b"\n")
        p.send(b"REMOVE " + KEY + b"\n")
        bypass = tuple(sorted([CLIENT_BYPASS, GATEWAY_UUID]))
        self.assertEqual(sorted(p.pool.acquired), [("n1", 3, bypass), ("n2", 3, bypass), ("n3", 3, bypass)])


class ReadTests(unittest.TestCase):
    def test_checkpresent_nobody_logged(self):
        p = ClusterPair()
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.take(), b"FAILURE\n")
        self.assertEqual(p.pool.acquired, [])

    def test_checkpresent_fails_over(self):
        """
        The cheapest holder is unreachable, the next says FAILURE, the third
        has it: the client hears SUCCESS.
        """
        p = ClusterPair()
        p.branch.holding[KEY] = {U1, U2, U3}
        p.pool.unreachable.add("n1")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot("n2"), b"CHECKPRESENT " + KEY + b"\n")
        p.nodeSays("n2", b"FAILURE\n")
        self.assertEqual(p.take(), b"")
        self.assertEqual(p.nodeGot("n3"), b"CHECKPRESENT " + KEY + b"\n")
        p.nodeSays("n3", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")

    def test_get_fails_over_when_node_lacks_content(self):
        p = ClusterPair()
        p.branch.holding[KEY] = {U1, U2}
        p.send(b"GET 0 a.txt " + KEY + b"\n")
        self.assertEqual(p.nodeGot("n1"), b"GET 0 a.txt " + KEY + b"\n")
        p.nodeSays("n1", b"DATA 0\nINVALID\n")
        self.assertEqual(p.nodeGot("n1"), b"FAILURE\n")
        self.assertEqual(p.take(), b"")
        self.assertEqual(p.nodeGot("n2"), b"GET 0 a.txt " + KEY + b"\n")
        p.nodeSays("n2", b"DATA 10\n0123456789VALID\n")
        self.assertEqual(p.take(), b"DATA 10\n0123456789VALID\n")
        p.send(b"SUCCESS\n")
        self.assertEqual(p.nodeGot("n2"), b"SUCCESS\n")
        # A connection's first answer is believed.
        self.assertEqual(p.pool.discarded, [])

    def staleNode(self, reachable):
        """
        n1 served a request; then its repository goes away (moved, a disk
        unmounted): the git-annex-shell already running answers GET as if
        it lacked the content, and (unless C{reachable}) a new one cannot
        start.  n2 has the content.

        @return: the log text.
        """
        p = ClusterPair()
        p.branch.holding[KEY] = {U1, U2}
        with capturedLogs() as events:
            p.send(b"CHECKPRESENT " + KEY + b"\n")
            self.assertEqual(p.nodeGot("n1"), b"CHECKPRESENT " + KEY + b"\n")
            p.nodeSays("n1", b"SUCCESS\n")
            self.assertEqual(p.take(), b"SUCCESS\n")
            stale = p.conn("n1")
            if not reachable:
                p.pool.unreachable.add("n1")
            p.send(b"GET 0 a.txt " + KEY + b"\n")
            self.assertEqual(p.nodeGot("n1"), b"GET 0 a.txt " + KEY + b"\n")
            p.nodeSays("n1", b"DATA 0\nINVALID\n")
            self.assertEqual(stale.transport.value(), b"FAILURE\n")
            self.assertTrue(stale.transport.disconnecting)
            self.assertEqual(p.pool.discarded, ["n1"])
            if reachable:
                # Asked again on a new connection, which says the same.
                self.assertIsNot(p.conn("n1"), stale)
                self.assertEqual(p.nodeGot("n1"), b"GET 0 a.txt " + KEY + b"\n")
                p.nodeSays("n1", b"DATA 0\nINVALID\n")
            self.assertEqual(p.nodeGot("n2"), b"GET 0 a.txt " + KEY + b"\n")
            p.nodeSays("n2", b"DATA 10\n0123456789VALID\n")
            self.assertEqual(p.take(), b"DATA 10\n0123456789VALID\n")
            p.send(b"SUCCESS\n")
            # Checked once per node per session: the new answer is believed.
            p.send(b"CHECKPRESENT " + KEY + b"\n")
            if reachable:
                self.assertEqual(p.nodeGot("n1"), b"FAILURE\nCHECKPRESENT " + KEY + b"\n")
                p.nodeSays("n1", b"FAILURE\n")
            p.nodeSays("n2", b"SUCCESS\n")
            self.assertEqual(p.take(), b"SUCCESS\n")
            self.assertEqual(p.pool.discarded, ["n1"])
            self.assertEqual(p.target.failovers, 2 if reachable else 1)
        return "\n".join(formatEvent(e) for e in events)

    def test_node_gone_is_logged_unreachable(self):
        text = self.staleNode(reachable=False)
        self.assertIn("skipping node n1: cannot reach node n1 (/srv/n1): gone", text)
        self.assertNotIn("does not have it", text)

    def test_lacking_confirmed_by_a_new_connection(self):
        text = self.staleNode(reachable=True)
        self.assertIn("GET " + KEY.decode() + ": node n1 does not have it; trying the next node", text)
        self.assertNotIn("cannot reach", text)

    def test_get_fails_over_when_node_dies(self):
        p = ClusterPair()
        p.branch.holding[KEY] = {U1, U2}
        p.send(b"GET 0 a.txt " + KEY + b"\n")
        p.conn("n1").connectionLost(Failure(ConnectionLost()))
        self.assertEqual(p.nodeGot("n2"), b"GET 0 a.txt " + KEY + b"\n")
        p.nodeSays("n2", b"DATA 10\n0123456789VALID\n")
        self.assertEqual(p.take(), b"DATA 10\n0123456789VALID\n")

    def test_get_nobody_has_it(self):
        """
        As a server without the content: DATA 0, INVALID, and the client's
        verdict is read.
        """
        p = ClusterPair()
        p.branch.holding[KEY] = {U1}
        p.send(b"GET 0 a.txt " + KEY + b"\n")
        p.nodeSays("n1", b"ERROR something broke\n")
        self.assertEqual(p.take(), b"DATA 0\nINVALID\n")
        p.send(b"FAILURE\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot("n1"), b"GET 0 a.txt " + KEY + b"\nCHECKPRESENT " + KEY + b"\n")

    def test_lockcontent_on_a_holding_node(self):
        p = ClusterPair()
        p.branch.holding[KEY] = {U2}
        p.send(b"LOCKCONTENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot("n2"), b"LOCKCONTENT " + KEY + b"\n")
        p.nodeSays("n2", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        self.assertEqual(p.nodeGot("n2"), b"")
        p.send(b"UNLOCKCONTENT\n")
        self.assertEqual(p.nodeGot("n2"), b"UNLOCKCONTENT\n")

    def test_lockcontent_nobody(self):
        p = ClusterPair()
        p.branch.holding[KEY] = {U1}
        p.send(b"LOCKCONTENT " + KEY + b"\n")
        p.nodeSays("n1", b"FAILURE\n")
        self.assertEqual(p.take(), b"FAILURE\n")


def _put(p, offsets, key=BIG):
    """
    Start a PUT and have each node answer PUT-FROM at its offset (or the
    given reply line).
    """
    p.send(b"PUT a.txt " + key + b"\n")
    for name, offset in offsets.items():
        got = p.nodeGot(name)
        assert got == b"PUT a.txt " + key + b"\n", (name, got)
        p.nodeSays(name, offset if isinstance(offset, bytes) else b"PUT-FROM %d\n" % offset)


class PutTests(unittest.TestCase):
    def test_offsets_per_node(self):
        """
        The client sends from the smallest offset; each node gets
        C{DATA total - offset} and only its own part of the stream.
        """
        p = ClusterPair()
        _put(p, {"n1": 20, "n2": 10, "n3": 0})
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        payload = bytes(range(65, 65 + 30))
        p.send(b"DATA 30\n" + payload + b"VALID\n")
        self.assertEqual(p.nodeGot("n1"), b"DATA 10\n" + payload[20:] + b"VALID\n")
        self.assertEqual(p.nodeGot("n2"), b"DATA 20\n" + payload[10:] + b"VALID\n")
        self.assertEqual(p.nodeGot("n3"), b"DATA 30\n" + payload + b"VALID\n")
        p.nodeSays("n3", b"SUCCESS\n")
        p.nodeSays("n1", b"SUCCESS\n")
        self.assertEqual(p.take(), b"")
        p.nodeSays("n2", b"FAILURE\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b" " + U3 + b"\n")
        self.assertEqual(sorted(p.log.records), [(BIG, U1, True), (BIG, U3, True)])

    def test_streamed_offsets(self):
        """
        A payload arriving in pieces is cut per node the same way.
        """
        p = ClusterPair(nodes=2)
        _put(p, {"n1": 5, "n2": 2})
        self.assertEqual(p.take(), b"PUT-FROM 2\n")
        payload = b"abcdefghijklmnopqrst"
        p.send(b"DATA 18\n")
        for i in range(2, 20, 4):
            p.send(payload[i : i + 4])
        p.send(b"VALID\n")
        self.assertEqual(p.nodeGot("n1"), b"DATA 15\n" + payload[5:] + b"VALID\n")
        self.assertEqual(p.nodeGot("n2"), b"DATA 18\n" + payload[2:] + b"VALID\n")

    def test_slow_node_pauses_client(self):
        """
        While any node's transport asks the relay to pause, the client's
        transport is paused; when it resumes, so does the client.
        """
        p = ClusterPair()
        _put(p, {"n1": 0, "n2": 0, "n3": 0})
        p.take()
        p.send(b"DATA 100\n" + b"x" * 10)
        slow = p.conn("n2").transport
        self.assertIsNotNone(slow.producer)
        slow.producer.pauseProducing()
        self.assertEqual(p.client.producerState, "paused")
        slow.producer.resumeProducing()
        self.assertEqual(p.client.producerState, "producing")
        p.send(b"x" * 90 + b"VALID\n")
        for name in ("n1", "n2", "n3"):
            self.assertEqual(p.nodeGot(name), b"DATA 100\n" + b"x" * 100 + b"VALID\n")
            self.assertIsNone(p.conn(name).transport.producer)

    def test_node_dies_mid_stream(self):
        p = ClusterPair()
        _put(p, {"n1": 0, "n2": 0, "n3": 0})
        p.take()
        p.send(b"DATA 100\n" + b"x" * 10)
        p.conn("n2").connectionLost(Failure(ConnectionLost()))
        p.send(b"x" * 90 + b"VALID\n")
        p.nodeSays("n1", b"SUCCESS\n")
        p.nodeSays("n3", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b" " + U3 + b"\n")
        self.assertEqual(p.nodeGot("n3"), b"DATA 100\n" + b"x" * 100 + b"VALID\n")

    def test_stalled_node_dropped_mid_stream(self):
        """
        A node that takes no data for the reply timeout while the others
        wait is closed; the client stream resumes and the others complete.
        """
        p = ClusterPair()
        _put(p, {"n1": 0, "n2": 0, "n3": 0})
        p.take()
        p.send(b"DATA 100\n" + b"x" * 10)
        p.conn("n2").transport.producer.pauseProducing()
        self.assertEqual(p.client.producerState, "paused")
        p.reactor.advance(p.target.replyTimeout)
        self.assertTrue(p.conn("n2").broken)
        self.assertEqual(p.client.producerState, "producing")
        p.send(b"x" * 90 + b"VALID\n")
        p.nodeSays("n1", b"SUCCESS\n")
        p.nodeSays("n3", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b" " + U3 + b"\n")

    def test_unreachable_node_skipped(self):
        p = ClusterPair()
        p.pool.unreachable.add("n2")
        _put(p, {"n1": 0, "n3": 0})
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"DATA 3\nabcVALID\n")
        p.nodeSays("n1", b"SUCCESS\n")
        p.nodeSays("n3", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b" " + U3 + b"\n")
        self.assertIn("unreachable: n2", p.target.summary())

    def test_silent_node_dropped(self):
        """
        A node that does not answer PUT within the reply timeout is closed;
        the others go on.
        """
        p = ClusterPair(nodes=2)
        _put(p, {"n1": 0})
        self.assertEqual(p.take(), b"")
        p.reactor.advance(p.target.replyTimeout)
        self.assertTrue(p.conn("n2").broken)
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"DATA 3\nabcVALID\n")
        p.nodeSays("n1", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b"\n")

    def test_nobody_stored(self):
        p = ClusterPair(nodes=2)
        _put(p, {"n1": 0, "n2": 0})
        p.take()
        p.send(b"DATA 3\nabcVALID\n")
        p.nodeSays("n1", b"FAILURE\n")
        p.nodeSays("n2", b"FAILURE\n")
        self.assertEqual(p.take(), b"FAILURE\n")
        self.assertEqual(p.log.records, [])

    def test_already_have_plus_from_a_gateway_node(self):
        """
        Nodes answering ALREADY-HAVE(-PLUS) are reported, not fatal.
        """
        other = b"44444444-0000-4000-8000-000000000000"
        p = ClusterPair(nodes=2)
        _put(p, {"n1": b"ALREADY-HAVE\n", "n2": b"ALREADY-HAVE-PLUS " + other + b"\n"})
        self.assertEqual(p.take(), b"ALREADY-HAVE-PLUS " + U1 + b" " + U2 + b" " + other + b"\n")

    def test_mixed_already_have_and_store(self):
        p = ClusterPair(nodes=2)
        _put(p, {"n1": b"ALREADY-HAVE\n", "n2": 0})
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"DATA 3\nabcVALID\n")
        self.assertEqual(p.nodeGot("n1"), b"")
        p.nodeSays("n2", b"SUCCESS-PLUS " + CLUSTER_UUID + b"\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b" " + U2 + b"\n")

    def test_plain_replies_below_v2(self):
        p = ClusterPair(nodes=2, version=1)
        _put(p, {"n1": 0, "n2": 0})
        p.take()
        p.send(b"DATA 3\nabcVALID\n")
        p.nodeSays("n1", b"SUCCESS\n")
        p.nodeSays("n2", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")

    def test_candidates_skip_holders(self):
        p = ClusterPair()
        p.branch.holding[BIG] = {U1}
        _put(p, {"n2": 0, "n3": 0})
        self.assertNotIn("n1", p.connected())

    def test_preferred_content(self):
        """
        A node that wants only jpgs is not sent a txt; it is sent a jpg.
        """
        files = {b"preferred-content.log": U1 + b" include=*.jpg timestamp=1795571560s\n"}
        p = ClusterPair(files=files)
        _put(p, {"n2": 0, "n3": 0}, KEY)
        self.assertNotIn("n1", p.connected())
        p.take()
        p.send(b"ERROR never mind\n")
        self.assertEqual(p.nodeGot("n2"), b"ERROR never mind\n")
        self.assertEqual(p.nodeGot("n3"), b"ERROR never mind\n")
        p.send(b"PUT b.jpg " + KEY + b"\n")
        for name in ("n1", "n2", "n3"):
            self.assertEqual(p.nodeGot(name), b"PUT b.jpg " + KEY + b"\n")

    def test_short_client_data_closes_nodes(self):
        p = ClusterPair(nodes=2)
        _put(p, {"n1": 0, "n2": 0})
        p.take()
        p.send(b"DATA 100\nabc")
        p.session.readConnectionLost()
        self.assertTrue(p.conn("n1").broken)
        self.assertTrue(p.conn("n2").broken)
        self.assertEqual(p.session.state, "closed")


class SmallPutTests(unittest.TestCase):
    """
    Objects up to SMALL_OBJECT: PUT-FROM 0 at once, data written to each
    node from its own offset once it answers.
    """

    def test_client_does_not_wait_for_nodes(self):
        p = ClusterPair(nodes=2)
        p.send(b"PUT a.txt " + KEY + b"\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        self.assertEqual(p.nodeGot("n1"), b"PUT a.txt " + KEY + b"\n")
        p.nodeSays("n1", b"PUT-FROM 4\n")
        p.nodeSays("n2", b"PUT-FROM 0\n")
        self.assertEqual(p.nodeGot("n1"), b"DATA 6\n456789VALID\n")
        self.assertEqual(p.nodeGot("n2"), b"PUT a.txt " + KEY + b"\nDATA 10\n0123456789VALID\n")
        p.nodeSays("n1", b"SUCCESS\n")
        p.nodeSays("n2", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b" " + U2 + b"\n")

    def test_everyone_has_it(self):
        p = ClusterPair(nodes=2)
        p.send(b"PUT a.txt " + KEY + b"\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        p.nodeSays("n1", b"ALREADY-HAVE\n")
        p.nodeSays("n2", b"ALREADY-HAVE\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS-PLUS " + U1 + b" " + U2 + b"\n")

    def test_client_gives_up(self):
        p = ClusterPair(nodes=1)
        p.send(b"PUT a.txt " + KEY + b"\n")
        p.send(b"ERROR no\n")
        p.nodeSays("n1", b"PUT-FROM 0\n")
        self.assertEqual(p.nodeGot("n1"), b"PUT a.txt " + KEY + b"\nERROR no\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nFAILURE\n")

    def test_checkpresent_then_put_reads_log_once(self):
        p = ClusterPair(nodes=1)
        reads = []
        original = p.branch.holders
        p.branch.holders = lambda key, extra=(): reads.append(key) or original(key, extra)
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        p.send(b"PUT a.txt " + KEY + b"\n")
        self.assertEqual(reads, [KEY])


class RemoveTests(unittest.TestCase):
    def test_remove_everywhere(self):
        p = ClusterPair()
        p.send(b"REMOVE " + KEY + b"\n")
        for name in ("n1", "n2", "n3"):
            self.assertEqual(p.nodeGot(name), b"REMOVE " + KEY + b"\n")
            p.nodeSays(name, b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b" " + U2 + b" " + U3 + b"\n")
        self.assertEqual(sorted(p.log.records), [(KEY, U1, False), (KEY, U2, False), (KEY, U3, False)])

    def test_remove_partly(self):
        p = ClusterPair()
        p.pool.unreachable.add("n3")
        p.send(b"REMOVE " + KEY + b"\n")
        p.nodeSays("n1", b"SUCCESS\n")
        p.nodeSays("n2", b"FAILURE\n")
        self.assertEqual(p.take(), b"FAILURE-PLUS " + U1 + b"\n")

    def test_remove_nowhere_is_plain(self):
        p = ClusterPair(nodes=2)
        p.send(b"REMOVE " + KEY + b"\n")
        p.nodeSays("n1", b"ERROR locked\n")
        p.nodeSays("n2", b"FAILURE\n")
        self.assertEqual(p.take(), b"ERROR locked\n")

    def test_remove_v1_plain(self):
        p = ClusterPair(nodes=2, version=1)
        p.send(b"REMOVE " + KEY + b"\n")
        p.nodeSays("n1", b"SUCCESS\n")
        p.nodeSays("n2", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")

    def test_timestamps_translated_per_node(self):
        p = ClusterPair(nodes=2)
        p.send(b"GETTIMESTAMP\n")
        self.assertEqual(p.nodeGot("n1"), b"GETTIMESTAMP\n")
        self.assertEqual(p.nodeGot("n2"), b"GETTIMESTAMP\n")
        p.nodeSays("n1", b"TIMESTAMP 100\n")
        p.nodeSays("n2", b"TIMESTAMP 5000\n")
        self.assertEqual(p.take(), b"TIMESTAMP 1000\n")
        p.send(b"REMOVE-BEFORE 1600 " + KEY + b"\n")
        self.assertEqual(p.nodeGot("n1"), b"REMOVE-BEFORE 700 " + KEY + b"\n")
        self.assertEqual(p.nodeGot("n2"), b"REMOVE-BEFORE 5600 " + KEY + b"\n")

    def test_remove_before_without_timestamp(self):
        """
        A node whose clock was not asked yet is asked before REMOVE-BEFORE.
        """
        p = ClusterPair(nodes=1)
        p.clock[0] = 50
        p.send(b"REMOVE-BEFORE 80 " + KEY + b"\n")
        self.assertEqual(p.nodeGot("n1"), b"GETTIMESTAMP\n")
        p.nodeSays("n1", b"TIMESTAMP 7\n")
        self.assertEqual(p.nodeGot("n1"), b"REMOVE-BEFORE 37 " + KEY + b"\n")
        p.nodeSays("n1", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b"\n")


class UnreachableNodeTests(unittest.TestCase):
    """
    The chosen nodes cannot be reached: what the location log says others
    hold is what the client is told.
    """

    def test_put_others_have_it(self):
        p = ClusterPair()
        p.branch.holding[KEY] = {U1}
        p.pool.unreachable.update(["n2", "n3"])
        p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(p.take(), b"ALREADY-HAVE-PLUS " + U1 + b"\n")
        self.assertEqual(p.connected(), [])

    def test_put_nobody_can(self):
        p = ClusterPair()
        p.pool.unreachable.update(["n1", "n2", "n3"])
        p.send(b"PUT f " + BIG + b"\n")
        self.assertEqual(p.take(), b"ERROR no node of cluster c1 could store the content (unreachable: n1, n2, n3)\n")

    def removeWithN3Gone(self, holding):
        p = ClusterPair()
        p.branch.holding[KEY] = holding
        p.pool.unreachable.add("n3")
        p.send(b"REMOVE " + KEY + b"\n")
        p.nodeSays("n1", b"SUCCESS\n")
        p.nodeSays("n2", b"SUCCESS\n")
        return p.take()

    def test_remove_unreachable_node_lacking_it(self):
        """
        An unreachable node the location log says lacks the key does not
        make the removal fail.
        """
        self.assertEqual(self.removeWithN3Gone({U1, U2}), b"SUCCESS-PLUS " + U1 + b" " + U2 + b"\n")

    def test_remove_unreachable_node_holding_it(self):
        self.assertEqual(self.removeWithN3Gone({U1, U3}), b"FAILURE-PLUS " + U1 + b" " + U2 + b"\n")

    def test_put_fails_where_taken_but_others_have_it(self):
        """
        The only node that took the upload fails, but the location log says
        another node has the key: the content is in the cluster.
        """
        p = ClusterPair()
        p.branch.holding[KEY] = {U1, U2}
        p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"DATA 3\nabcVALID\n")
        p.nodeSays("n3", b"PUT-FROM 0\n")
        p.conn("n3").connectionLost(Failure(ConnectionLost()))
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + U1 + b" " + U2 + b"\n")
