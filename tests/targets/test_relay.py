"""
Tier 2: a client session relayed to one proxied remote, both sides in
memory.
"""

from zope.interface.verify import verifyObject
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure
from twisted.trial import unittest

from annexrelay.requests import Mode
from annexrelay.interfaces import ITarget
from annexrelay.streams import SPLICE_FROM
from annexrelay.testing.memory import FRONT_DOORS, KEY, NODE_UUID, RelayPair

OTHER = b"bb7f77b7-e29f-45fa-bd52-824b160e6907"
# Larger than SMALL_OBJECT: the client gets the node's own PUT-FROM.
BIG_KEY = b"SHA256E-s2000000--84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882.txt"


class _OverFrontDoor:
    """
    The tests of this module are written once and run over every front
    door (L{FRONT_DOORS}), as the transit relay runs one test class over
    TCP and WebSocket: what a session does must not depend on how the
    client came in.
    """

    frontdoor = None

    def pair(self, **kw):
        return RelayPair(frontdoor=self.frontdoor, **kw)


class SessionStartTests(_OverFrontDoor):
    def test_interface(self):
        p = self.pair()
        self.assertTrue(verifyObject(ITarget, p.target))

    def test_greeting_and_version(self):
        p = self.pair(version=None)
        self.assertEqual(p.greeting, b"AUTH-SUCCESS " + NODE_UUID + b"\n")
        self.assertEqual(p.pool.conns, [])
        p.send(b"VERSION 4\n")
        self.assertEqual(p.take(), b"VERSION 4\n")
        self.assertEqual(len(p.pool.conns), 1)

    def test_version_is_the_nodes(self):
        """
        A single proxy answers the version its node agreed to.
        """
        p = self.pair(version=None, nodeVersion=2)
        p.send(b"VERSION 4\n")
        self.assertEqual(p.take(), b"VERSION 2\n")

    def test_version_capped(self):
        p = self.pair(version=None)
        p.send(b"VERSION 9\n")
        self.assertEqual(p.take(), b"VERSION 4\n")

    def test_version_0_client(self):
        """
        No VERSION: the first message is a request, at version 0.
        """
        p = self.pair(version=None)
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeConn.requestedVersion, 0)
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")

    def test_renegotiation(self):
        p = self.pair()
        p.send(b"VERSION 1\n")
        self.assertEqual(p.take(), b"VERSION 1\n")
        self.assertEqual(p.nodeConn.requestedVersion, 1)

    def test_bypass_ignored(self):
        p = self.pair()
        p.send(b"BYPASS " + OTHER + b"\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")


class RequestTests(_OverFrontDoor):
    def test_checkpresent(self):
        p = self.pair()
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")
        p.nodeSays(b"FAILURE\n")
        self.assertEqual(p.take(), b"FAILURE\n")

    def test_get_framing(self):
        """
        DATA is relayed byte-exact, across chunk boundaries, then VALID, and
        the client's verdict goes back to the node.
        """
        p = self.pair()
        p.send(b"GET 0 my%file " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"GET 0 my%file " + KEY + b"\n")
        p.nodeSays(b"DATA 10\n0123")
        p.nodeSays(b"45678")
        p.nodeSays(b"9VAL")
        p.nodeSays(b"ID\n")
        self.assertEqual(p.take(), b"DATA 10\n0123456789VALID\n")
        p.send(b"SUCCESS\n")
        self.assertEqual(p.nodeGot(), b"SUCCESS\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")

    def test_small_get_in_one_write(self):
        """
        A payload that arrived whole goes on with its DATA header and
        verdict in one write.
        """
        p = self.pair()
        p.send(b"GET 0 f " + KEY + b"\n")
        writes = []
        original = p.client.write
        p.client.write = lambda data: (writes.append(data), original(data))
        p.nodeSays(b"DATA 10\n0123456789VALID\n")
        self.assertEqual(writes, [b"DATA 10\n0123456789VALID\n"])
        p.send(b"SUCCESS\n")
        self.assertEqual(p.nodeGot(), b"GET 0 f " + KEY + b"\nSUCCESS\n")

    def test_get_offset_preserved(self):
        p = self.pair()
        p.send(b"GET 4 f " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"GET 4 f " + KEY + b"\n")

    def test_get_bad_verdict(self):
        """
        A client that answers GET data with something else gets the direct
        server's error, and the node is told FAILURE so it stays in step.
        """
        p = self.pair()
        p.send(b"GET 0 f " + KEY + b"\n")
        p.nodeSays(b"DATA 1\nxVALID\n")
        p.take()
        p.nodeGot()
        p.send(b"VALID\n")
        self.assertEqual(p.take(), b"ERROR expected SUCCESS or SUCCESS-PLUS or FAILURE or FAILURE-PLUS\n")
        self.assertEqual(p.nodeGot(), b"FAILURE\n")

    def test_negative_offset_refused(self):
        p = self.pair()
        p.send(b"GET -1 f " + KEY + b"\n")
        self.assertEqual(p.take(), b"ERROR invalid offset -1\n")
        self.assertEqual(p.nodeGot(), b"")

    def test_put(self):
        p = self.pair()
        p.send(b"PUT f " + BIG_KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + BIG_KEY + b"\n")
        p.nodeSays(b"PUT-FROM 4\n")
        self.assertEqual(p.take(), b"PUT-FROM 4\n")
        p.send(b"DATA 6\n45")
        p.send(b"6789VALID\n")
        self.assertEqual(p.nodeGot(), b"DATA 6\n456789VALID\n")
        self.assertEqual(p.log.records, [])
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        self.assertEqual(p.log.records, [(BIG_KEY, NODE_UUID, True)])

    def test_put_already_have(self):
        p = self.pair()
        p.send(b"PUT f " + BIG_KEY + b"\n")
        p.nodeSays(b"ALREADY-HAVE\n")
        self.assertEqual(p.take(), b"ALREADY-HAVE\n")

    def test_put_plus_downgraded_for_v1(self):
        p = self.pair(version=1, nodeVersion=4)
        p.send(b"PUT f " + BIG_KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.send(b"DATA 1\nxVALID\n")
        p.nodeSays(b"SUCCESS-PLUS " + OTHER + b"\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS\n")
        self.assertEqual(p.log.records, [(BIG_KEY, NODE_UUID, True), (BIG_KEY, OTHER, True)])

    def test_put_data_present(self):
        p = self.pair()
        p.send(b"PUT f " + BIG_KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.send(b"DATA-PRESENT\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + BIG_KEY + b"\nDATA-PRESENT\n")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS\n")

    def test_put_client_gives_up(self):
        p = self.pair()
        p.send(b"PUT f " + BIG_KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.nodeGot()
        p.send(b"ERROR changed my mind\n")
        self.assertEqual(p.nodeGot(), b"ERROR changed my mind\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")

    def test_put_not_data(self):
        p = self.pair()
        p.send(b"PUT f " + BIG_KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.take()
        p.nodeGot()
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.take(), b"ERROR expected DATA\n")
        self.assertEqual(p.nodeGot(), b"ERROR expected DATA\n")

    def test_put_missing_valid(self):
        """
        Like a direct server: complain, and have the node verify anyway.
        """
        p = self.pair()
        p.send(b"PUT f " + BIG_KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.take()
        p.send(b"DATA 1\nxSUCCESS\n")
        self.assertEqual(p.take(), b"ERROR expected VALID or INVALID\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + BIG_KEY + b"\nDATA 1\nxINVALID\n")

    def test_remove_records_absent(self):
        p = self.pair()
        p.send(b"REMOVE " + KEY + b"\n")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        self.assertEqual(p.log.records, [(KEY, NODE_UUID, False)])

    def test_remove_before_to_old_node(self):
        p = self.pair(nodeVersion=2, version=4)
        p.send(b"REMOVE-BEFORE 1646 " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"REMOVE " + KEY + b"\n")

    def test_remove_before_and_timestamp(self):
        p = self.pair()
        p.send(b"GETTIMESTAMP\n")
        p.nodeSays(b"TIMESTAMP 1047\n")
        self.assertEqual(p.take(), b"TIMESTAMP 1047\n")
        p.send(b"REMOVE-BEFORE 1646 " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"GETTIMESTAMP\nREMOVE-BEFORE 1646 " + KEY + b"\n")

    def test_error_reply_relayed(self):
        p = self.pair()
        p.send(b"REMOVE " + KEY + b"\n")
        p.nodeSays(b"ERROR cannot\n")
        self.assertEqual(p.take(), b"ERROR cannot\n")


class EarlyPutTests(_OverFrontDoor):
    """
    A PUT of a small object (the key says at most SMALL_OBJECT bytes) is
    answered PUT-FROM 0 at once; the node's own answer decides what it is
    sent.
    """

    def test_answered_before_the_node(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        self.assertEqual(p.nodeGot(), b"")
        p.nodeSays(b"PUT-FROM 0\n")
        self.assertEqual(p.nodeGot(), b"DATA 10\n0123456789VALID\n")
        self.assertEqual(p.take(), b"")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        self.assertEqual(p.log.records, [(KEY, NODE_UUID, True)])

    def test_node_answers_first(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.send(b"DATA 10\n01234")
        p.send(b"56789VALID\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\nDATA 10\n0123456789VALID\n")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS\n")

    def test_node_has_part(self):
        """
        The node resumes from 4: it gets the client's payload from there.
        """
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        p.nodeGot()
        p.nodeSays(b"PUT-FROM 4\n")
        self.assertEqual(p.nodeGot(), b"DATA 6\n456789VALID\n")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS\n")

    def test_node_has_part_streamed(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.send(b"DATA 10\n01")
        p.nodeGot()
        p.nodeSays(b"PUT-FROM 4\n")
        p.send(b"2345")
        p.send(b"6789VALID\n")
        self.assertEqual(p.nodeGot(), b"DATA 6\n456789VALID\n")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS\n")
        self.assertEqual(p.log.records, [(KEY, NODE_UUID, True)])

    def test_node_has_it(self):
        """
        The client's upload is dropped; it is told the content is stored,
        and the session goes on in step.
        """
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.nodeSays(b"ALREADY-HAVE\n")
        p.send(b"DATA 10\n01234")
        p.send(b"56789VALID\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\n")
        self.assertEqual(p.log.records, [])
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")

    def test_node_has_it_plus(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.nodeSays(b"ALREADY-HAVE-PLUS " + OTHER + b"\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS-PLUS " + OTHER + b"\n")
        self.assertEqual(p.log.records, [(KEY, OTHER, True)])

    def test_node_refuses(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.nodeSays(b"ERROR no room\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nERROR no room\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\nCHECKPRESENT " + KEY + b"\n")

    def test_client_gives_up(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.send(b"ERROR changed my mind\n")
        p.nodeSays(b"PUT-FROM 0\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\nERROR changed my mind\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")

    def test_client_gives_up_node_has_it(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.send(b"ERROR changed my mind\n")
        p.nodeSays(b"ALREADY-HAVE\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")

    def test_not_data(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nERROR expected DATA\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\nERROR expected DATA\n")

    def test_client_dies_before_the_node_answers(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.send(b"DATA 10\n0123")
        conn = p.nodeConn
        p.session.connectionLost(Failure(ConnectionLost()))
        p.nodeSays(b"PUT-FROM 0\n")
        self.assertTrue(conn.transport.disconnecting)
        self.assertNotIn(conn, p.pool.released)
        self.assertEqual(p.log.records, [])

    def test_node_dies_before_it_answers(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        conn = p.nodeConn
        conn.connectionLost(Failure(ConnectionLost()))
        p.send(b"DATA 10\n0123456789VALID\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nERROR node n1 closed the connection: Connection to the other side was lost in a non-clean fashion.\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertIsNot(p.nodeConn, conn)

    def test_exact_offsets(self):
        """
        A session whose client needs the node's own offset (the annex+http
        door's putoffset) is not answered before the node.
        """
        p = self.pair()
        p.session.exactOffsets = True
        p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(p.take(), b"")
        p.nodeSays(b"PUT-FROM 4\n")
        self.assertEqual(p.take(), b"PUT-FROM 4\n")


class LockTests(_OverFrontDoor):
    def test_lock_unlock(self):
        p = self.pair()
        p.send(b"LOCKCONTENT " + KEY + b"\n")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        p.send(b"UNLOCKCONTENT\n")
        self.assertEqual(p.nodeGot(), b"LOCKCONTENT " + KEY + b"\nUNLOCKCONTENT\n")
        self.assertEqual(p.take(), b"")

    def test_no_desync_after_lock(self):
        """
        git-annex's proxy forwards whatever follows a granted lock and
        desynchronises; annexrelay releases the lock and answers itself.
        """
        p = self.pair()
        p.send(b"LOCKCONTENT " + KEY + b"\n")
        p.nodeSays(b"SUCCESS\n")
        p.take()
        p.nodeGot()
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.take(), b"ERROR expected UNLOCKCONTENT\n")
        self.assertEqual(p.nodeGot(), b"UNLOCKCONTENT\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")
        p.nodeSays(b"FAILURE\n")
        self.assertEqual(p.take(), b"FAILURE\n")

    def test_node_lost_while_locked(self):
        """
        If the node goes away while the client holds a lock, the client must
        not go on believing it does: its session is closed.
        """
        p = self.pair()
        p.send(b"LOCKCONTENT " + KEY + b"\n")
        p.nodeSays(b"SUCCESS\n")
        p.nodeConn.connectionLost(Failure(ConnectionLost()))
        self.assertTrue(p.client.disconnecting)
        self.assertTrue(p.session.done.called)

    def test_client_lost_while_locked(self):
        p = self.pair()
        p.send(b"LOCKCONTENT " + KEY + b"\n")
        p.nodeSays(b"SUCCESS\n")
        p.nodeGot()
        p.session.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(p.nodeGot(), b"UNLOCKCONTENT\n")
        self.assertTrue(p.session.done.called)


class ModeTests(_OverFrontDoor):
    def test_read_only(self):
        p = self.pair(mode=Mode.READ_ONLY)
        for line in [b"PUT f " + KEY, b"REMOVE " + KEY, b"REMOVE-BEFORE 5 " + KEY]:
            p.send(line + b"\n")
            self.assertEqual(p.take(), b"ERROR this repository is read-only; write access denied\n")
        self.assertEqual(p.nodeGot(), b"")
        p.send(b"LOCKCONTENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"LOCKCONTENT " + KEY + b"\n")

    def test_append_only(self):
        p = self.pair(mode=Mode.APPEND_ONLY)
        p.send(b"REMOVE " + KEY + b"\n")
        self.assertEqual(p.take(), b"ERROR this repository is append-only; removal denied\n")
        p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"PUT f " + KEY + b"\n")

    def test_from_environment(self):
        self.assertIs(Mode.fromEnvironment({"GIT_ANNEX_SHELL_READONLY": "1"}), Mode.READ_ONLY)
        self.assertIs(
            Mode.fromEnvironment({"GIT_ANNEX_SHELL_READONLY": "1", "GIT_ANNEX_SHELL_APPENDONLY": "1"}), Mode.READ_ONLY
        )
        self.assertIs(Mode.fromEnvironment({"GIT_ANNEX_SHELL_APPENDONLY": "1"}), Mode.APPEND_ONLY)
        self.assertIs(Mode.fromEnvironment({"GIT_ANNEX_SHELL_READONLY": ""}), Mode.READ_WRITE)


class BadInputTests(_OverFrontDoor):
    def test_unparsable(self):
        p = self.pair()
        p.send(b"FOO bar\n")
        self.assertEqual(p.take(), b"ERROR unknown command\n")
        self.assertFalse(p.client.disconnecting)

    def test_out_of_place(self):
        p = self.pair()
        for line in [b"SUCCESS", b"UNLOCKCONTENT", b"PUT-FROM 3", b"AUTH-SUCCESS " + OTHER, b"VALID"]:
            p.send(line + b"\n")
            self.assertEqual(p.take(), b"ERROR unexpected command\n")
        self.assertEqual(p.nodeGot(), b"")

    def test_stray_data_is_skipped(self):
        p = self.pair()
        p.send(b"DATA 5\nSUCCE")
        self.assertEqual(p.take(), b"ERROR unexpected command\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")

    def test_hostile_keys_refused(self):
        """
        Keys no location log can hold are refused before any node sees them.
        """
        p = self.pair()
        for line in (b"PUT f WORM-s3-m1--a\x00b\n", b"REMOVE WORM-s3-m1--a\rb\n", b"CHECKPRESENT WORM--" + b"x" * 300 + b"\n"):
            p.send(line)
            self.assertTrue(p.take().startswith(b"ERROR invalid key: "), line)
        self.assertEqual(p.nodeGot(), b"")
        self.assertEqual(p.log.records, [])

    def test_notifychange_unsupported(self):
        p = self.pair()
        p.send(b"NOTIFYCHANGE\n")
        self.assertEqual(p.take(), b"ERROR NOTIFYCHANGE is not supported on this connection\n")

    def test_line_too_long(self):
        p = self.pair()
        p.send(b"X" * 40000)
        self.assertIn(b"ERROR", p.take())
        self.assertTrue(p.client.disconnecting)

    def test_client_error_ends(self):
        p = self.pair()
        p.send(b"ERROR bye\n")
        self.assertTrue(p.client.disconnecting)
        self.assertEqual(p.pool.released, [p.nodeConn])

    def test_pipelined_requests_served_in_order(self):
        p = self.pair()
        p.send(b"CHECKPRESENT " + KEY + b"\nCHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")
        p.nodeSays(b"FAILURE\n")
        self.assertEqual(p.take(), b"SUCCESS\nFAILURE\n")

    def test_pipelining_is_bounded(self):
        """
        A client that sends far ahead of the replies is not read further
        once 64 KiB wait unanswered.
        """
        p = self.pair()
        line = b"CHECKPRESENT " + KEY + b"\n"
        p.send(line * (70000 // len(line)))
        self.assertEqual(p.client.producerState, "paused")
        for _ in range(70000 // len(line) - 1):
            p.nodeSays(b"FAILURE\n")
        self.assertEqual(p.client.producerState, "producing")


class NodeFailureTests(_OverFrontDoor):
    def test_unreachable_node_gets_clear_error(self):
        """
        git-annex's proxy closes the connection; annexrelay answers VERSION
        and then says why each request cannot be served.
        """
        p = self.pair(reachable=False, version=None)
        p.send(b"VERSION 4\n")
        self.assertEqual(p.take(), b"VERSION 4\n")
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.take(), b"ERROR cannot reach node n1 (/srv/n1): gone\n")
        self.assertFalse(p.client.disconnecting)

    def test_node_dies_mid_get(self):
        """
        A payload streamed to the client (one of at least SPLICE_FROM
        bytes) and cut: the session ends, the client being mid-payload.
        """
        p = self.pair()
        p.send(b"GET 0 f " + BIG_KEY + b"\n")
        p.nodeSays(b"DATA %d\n01234" % (SPLICE_FROM,))
        p.nodeConn.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(p.take(), b"DATA %d\n01234" % (SPLICE_FROM,))
        self.assertTrue(p.client.disconnecting)
        self.assertTrue(p.session.done.called)
        self.assertIn("GET data", p.session.done.result)

    def test_node_dies_mid_small_get(self):
        """
        A small payload is gathered before it is sent: cut, the client has
        had none of it, gets an ERROR, and the session goes on.
        """
        p = self.pair()
        p.send(b"GET 0 f " + KEY + b"\n")
        first = p.nodeConn
        p.nodeSays(b"DATA 10\n01234")
        first.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(p.take(), b"ERROR node n1 closed the connection in the middle of GET data: connection ended after 5 of 10 bytes\n")
        self.assertFalse(p.client.disconnecting)
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertIsNot(p.nodeConn, first)
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")

    def test_small_get_gathered(self):
        """
        A node that writes the DATA line on its own: the client still gets
        header, payload and verdict in one write.
        """
        p = self.pair()
        p.send(b"GET 0 f " + KEY + b"\n")
        writes = []
        original = p.client.write
        p.client.write = lambda data: (writes.append(data), original(data))
        p.nodeSays(b"DATA 10\n")
        p.nodeSays(b"01234")
        p.nodeSays(b"56789VALID\n")
        self.assertEqual(writes, [b"DATA 10\n0123456789VALID\n"])

    def test_node_dies_before_reply(self):
        """
        Between requests a dead node costs the client one ERROR, not the
        session; the next request reconnects.
        """
        p = self.pair()
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        first = p.nodeConn
        first.connectionLost(Failure(ConnectionLost()))
        self.assertTrue(p.take().startswith(b"ERROR node n1 closed the connection"))
        self.assertFalse(p.client.disconnecting)
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertIsNot(p.nodeConn, first)
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")

    def test_client_dies_mid_put(self):
        p = self.pair()
        p.send(b"PUT f " + KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.send(b"DATA 10\n0123")
        conn = p.nodeConn
        p.session.connectionLost(Failure(ConnectionLost()))
        self.assertTrue(conn.transport.disconnecting)
        self.assertNotIn(conn, p.pool.released)


class BackpressureTests(_OverFrontDoor):
    def test_get_client_not_reading_pauses_node(self):
        """
        With the client not reading (its transport's buffer full), the relay
        stops reading from the node, and starts again when it drains.
        """
        p = self.pair()
        p.send(b"GET 0 f " + BIG_KEY + b"\n")
        p.nodeSays(b"DATA %d\n01" % (SPLICE_FROM,))
        producer = p.client.producer
        self.assertIsNotNone(producer)
        self.assertTrue(p.client.streaming)
        producer.pauseProducing()
        self.assertEqual(p.nodeConn.transport.producerState, "paused")
        producer.resumeProducing()
        self.assertEqual(p.nodeConn.transport.producerState, "producing")
        p.nodeSays(b"x" * (SPLICE_FROM - 2) + b"VALID\n")
        self.assertIsNone(p.client.producer)

    def test_put_node_not_reading_pauses_client(self):
        p = self.pair()
        p.send(b"PUT f " + BIG_KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.send(b"DATA %d\n01" % (SPLICE_FROM,))
        producer = p.nodeConn.transport.producer
        producer.pauseProducing()
        self.assertEqual(p.client.producerState, "paused")
        producer.resumeProducing()
        self.assertEqual(p.client.producerState, "producing")


def _overEveryFrontDoor(namespace, mixins):
    for mixin in mixins:
        del namespace[mixin.__name__]
        for door in FRONT_DOORS:
            name = mixin.__name__ + "_" + door.capitalize()
            namespace[name] = type(name, (mixin, unittest.TestCase), {"frontdoor": door, "__module__": __name__})


_overEveryFrontDoor(globals(), [SessionStartTests, RequestTests, EarlyPutTests, LockTests, ModeTests, BadInputTests, NodeFailureTests, BackpressureTests])
