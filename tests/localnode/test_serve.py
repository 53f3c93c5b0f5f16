"""
Tier 2: a client session to a proxied remote whose node annexrelay writes
itself (--local-store), in memory: CHECKPRESENT and PUT never reach the
node's git-annex-shell; everything else does.
"""

import hashlib
import os
import subprocess
import tempfile

from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.localnode import layout
from annexrelay.localnode.objects import LocalNode
from annexrelay.testing.memory import KEY as TEN, NODE_UUID, NODE_UUIDS, ClusterPair, RecordingJournal, RelayPair

SENDER = b"e32ff237-9a8c-4d57-9207-7d0aa4bf916b"
CONTENT = b"some content, locally stored\n"
KEY = b"SHA256E-s%d--%s.txt" % (len(CONTENT), hashlib.sha256(CONTENT).hexdigest().encode())


def bare(case):
    """
    A temporary directory with enough of a bare repository for a
    LocalNode (removed after C{case}, frozen directories included).
    """
    path = tempfile.mkdtemp(prefix="annexrelay-serve-").encode()
    case.addCleanup(lambda: subprocess.run(["rm", "-rf", path]) and None)
    case.addCleanup(lambda: subprocess.run(["chmod", "-R", "u+w", path]) and None)
    os.makedirs(os.path.join(path, b"annex"))
    open(os.path.join(path, b"config"), "wb").close()
    return path


class LocalStoreSessionTests(unittest.TestCase):
    def setUp(self):
        self.dir = bare(self)
        self.nodeRecords = RecordingJournal()
        self.local = LocalNode(Clock(), "n1", NODE_UUID, self.dir, SENDER, self.nodeRecords, diskReserve=0)
        self.p = RelayPair(local=self.local)
        self.p.nodeGot()

    def put(self, payload, verdict=b"VALID"):
        p = self.p
        p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"DATA %d\n" % len(payload) + payload + verdict + b"\n")
        return p.take()

    def test_put_stored_without_the_node(self):
        self.assertEqual(self.put(CONTENT), b"SUCCESS\n")
        self.assertEqual(self.p.nodeGot(), b"")
        self.assertTrue(self.local.present(KEY))
        # The proxy's location log and the node's own.
        self.assertEqual(self.p.log.records, [(KEY, NODE_UUID, True)])
        self.assertEqual(self.nodeRecords.records, [(KEY, NODE_UUID, True)])
        self.p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(self.p.take(), b"SUCCESS\n")
        self.p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(self.p.take(), b"ALREADY-HAVE\n")
        self.assertEqual(self.p.nodeGot(), b"")

    def test_checkpresent_absent(self):
        self.p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(self.p.take(), b"FAILURE\n")
        self.assertEqual(self.p.nodeGot(), b"")

    def test_wrong_content(self):
        self.assertEqual(self.put(CONTENT.upper()), b"FAILURE\n")
        self.assertFalse(self.local.present(KEY))
        self.assertEqual(self.p.log.records, [])

    def test_more_than_the_key_holds_is_dropped(self):
        self.assertEqual(self.put(CONTENT + b"x" * 1000), b"FAILURE\n")
        self.assertEqual(os.path.getsize(layout.tmp_path(self.dir, KEY)), 0)
        self.assertEqual(self.put(CONTENT), b"SUCCESS\n")

    def test_invalid_verdict_checked_anyway(self):
        self.assertEqual(self.put(CONTENT, b"INVALID"), b"SUCCESS\n")

    def test_resumes_from_the_partial_object(self):
        tmp = layout.tmp_path(self.dir, KEY)
        os.makedirs(os.path.dirname(tmp))
        with open(tmp, "wb") as f:
            f.write(CONTENT[:10])
        self.p.send(b"PUT f " + KEY + b"\n")
        self.assertEqual(self.p.take(), b"PUT-FROM 10\n")
        rest = CONTENT[10:]
        self.p.send(b"DATA %d\n" % len(rest) + rest + b"VALID\n")
        self.assertEqual(self.p.take(), b"SUCCESS\n")

    def test_client_goes_away_mid_payload(self):
        from twisted.internet.error import ConnectionLost
        from twisted.python.failure import Failure

        self.p.send(b"PUT f " + KEY + b"\n")
        self.p.take()
        self.p.send(b"DATA %d\n" % len(CONTENT) + CONTENT[:7])
        self.p.session.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(os.path.getsize(layout.tmp_path(self.dir, KEY)), 7)
        self.assertFalse(self.local.present(KEY))
        # The transfer locks are free again.
        self.local.receiving(KEY).close()

    def test_data_present_and_giving_up(self):
        self.p.send(b"PUT f " + KEY + b"\n")
        self.p.send(b"DATA-PRESENT\n")
        self.assertEqual(self.p.take(), b"PUT-FROM 0\nFAILURE\n")
        self.p.send(b"PUT f " + KEY + b"\n")
        self.p.send(b"ERROR changed my mind\n")
        self.assertEqual(self.p.take(), b"PUT-FROM 0\n")
        self.p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(self.p.take(), b"FAILURE\n")

    def test_partial_object_cannot_be_opened(self):
        tmp = layout.tmp_path(self.dir, KEY)
        os.makedirs(tmp)  # a directory where the partial object goes
        self.p.send(b"PUT f " + KEY + b"\n")
        self.assertTrue(self.p.take().startswith(b"ERROR node n1 cannot receive it: "))
        self.p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(self.p.take(), b"FAILURE\n")

    def test_node_moved_away(self):
        os.rename(self.dir, self.dir + b".gone")
        self.addCleanup(os.rename, self.dir + b".gone", self.dir)
        self.p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertTrue(self.p.take().startswith(b"ERROR cannot reach node n1 ("))
        self.p.send(b"PUT f " + KEY + b"\n")
        self.assertTrue(self.p.take().startswith(b"ERROR cannot reach node n1 ("))
        self.assertEqual(self.p.nodeGot(), b"")
        self.assertFalse(os.path.exists(self.dir))

    def test_other_requests_and_other_keys_go_to_the_node(self):
        self.p.send(b"REMOVE " + KEY + b"\n")
        self.assertEqual(self.p.nodeGot(), b"REMOVE " + KEY + b"\n")
        self.p.nodeSays(b"SUCCESS\n")
        self.assertEqual(self.p.take(), b"SUCCESS\n")
        skein = b"SKEIN256E-s3--abc.txt"
        self.p.send(b"PUT f " + skein + b"\n")
        self.assertEqual(self.p.nodeGot(), b"PUT f " + skein + b"\n")


class LocalClusterNodeTests(unittest.TestCase):
    """
    A cluster's small upload: the node annexrelay writes itself stores it
    in the daemon, beside the others, which get it as always.
    """

    def setUp(self):
        self.dir = bare(self)
        self.local = LocalNode(Clock(), "n1", NODE_UUIDS["n1"], self.dir, SENDER, RecordingJournal(), diskReserve=0)
        self.p = ClusterPair(nodes=2, localFor=lambda node: self.local if node.name == "n1" else None)

    def test_small_put(self):
        p = self.p
        p.send(b"PUT a.txt " + TEN + b"\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        p.nodeSays("n2", b"PUT-FROM 0\n")
        self.assertEqual(p.nodeGot("n2"), b"PUT a.txt " + TEN + b"\nDATA 10\n0123456789VALID\n")
        p.nodeSays("n2", b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS-PLUS " + NODE_UUIDS["n1"] + b" " + NODE_UUIDS["n2"] + b"\n")
        self.assertEqual(p.connected(), ["n2"])
        self.assertTrue(self.local.present(TEN))
        self.assertEqual(sorted(u for _, u, _ in p.log.records), [NODE_UUIDS["n1"], NODE_UUIDS["n2"]])

    def test_local_node_has_it(self):
        p = self.p
        p.send(b"PUT a.txt " + TEN + b"\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        p.nodeSays("n2", b"PUT-FROM 0\n")
        p.nodeSays("n2", b"SUCCESS\n")
        p.take()
        p.send(b"PUT a.txt " + TEN + b"\n")
        p.send(b"DATA 10\n0123456789VALID\n")
        p.nodeSays("n2", b"ALREADY-HAVE\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\nSUCCESS-PLUS " + NODE_UUIDS["n1"] + b" " + NODE_UUIDS["n2"] + b"\n")

    def test_client_gives_up(self):
        p = self.p
        p.send(b"PUT a.txt " + TEN + b"\n")
        p.send(b"ERROR no\n")
        p.nodeSays("n2", b"PUT-FROM 0\n")
        self.assertEqual(p.take(), b"PUT-FROM 0\n")
        self.assertFalse(self.local.present(TEN))
        self.local.receiving(TEN).close()

