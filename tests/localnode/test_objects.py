"""
Receiving an object into a node's annex as git-annex's P2P server does:
modes, resuming, checking, transfer locks, free space (files in a
temporary directory laid out as a bare repository's annex).
"""

import hashlib
import os
import stat
import subprocess
import sys
import tempfile

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.localnode import layout
from annexrelay.localnode.objects import Busy, LocalNode
from annexrelay.testing.memory import RecordingJournal

UUID = b"c3b14da6-1f84-4224-9094-1a9801d6ba37"
SENDER = b"e32ff237-9a8c-4d57-9207-7d0aa4bf916b"


def key_for(content, ext=b".bin"):
    return b"SHA256E-s%d--%s%s" % (len(content), hashlib.sha256(content).hexdigest().encode(), ext)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class LocalNodeTests(unittest.TestCase):
    def setUp(self):
        self.old = os.umask(0o022)
        self.addCleanup(os.umask, self.old)
        self.dir = tempfile.mkdtemp(prefix="annexrelay-localnode-").encode()
        self.addCleanup(self.cleanup)
        os.makedirs(os.path.join(self.dir, b"annex", b"objects"))
        open(os.path.join(self.dir, b"config"), "wb").close()
        self.records = RecordingJournal()
        self.node = LocalNode(Clock(), "n1", UUID, self.dir, SENDER, self.records, diskReserve=0)
        self.content = os.urandom(5000)
        self.key = key_for(self.content)

    def cleanup(self):
        subprocess.run(["chmod", "-R", "u+w", self.dir])
        subprocess.run(["rm", "-rf", self.dir])

    def receive(self, content, offset=0, expected=None):
        r = self.node.receiving(self.key)
        try:
            self.successResultOf(defer.ensureDeferred(r.start(offset)))
            r.write(content[offset:])
            return self.successResultOf(defer.ensureDeferred(r.finish(len(content) if expected is None else expected)))
        finally:
            r.close()

    def test_stored_as_git_annex_stores(self):
        self.assertFalse(self.node.present(self.key))
        self.assertIsNone(self.node.gone())
        self.assertTrue(self.receive(self.content))
        dest = layout.object_paths(self.dir, self.key)[0]
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), self.content)
        self.assertEqual(mode(dest), 0o444)
        self.assertEqual(mode(os.path.dirname(dest)), 0o555)
        self.assertEqual(mode(os.path.dirname(os.path.dirname(dest))), 0o755)
        self.assertTrue(self.node.present(self.key))
        self.assertFalse(os.path.exists(layout.tmp_path(self.dir, self.key)))
        self.assertEqual(self.records.records, [(self.key, UUID, True)])
        # The transfer locks' files go, as git-annex's do.
        for path in layout.transfer_files(self.dir, SENDER, self.key):
            self.assertFalse(os.path.exists(path))

    def test_resumed(self):
        r = self.node.receiving(self.key)
        self.successResultOf(defer.ensureDeferred(r.start(0)))
        r.write(self.content[:1234])
        r.close()
        r = self.node.receiving(self.key)
        self.assertEqual(r.offset(), 1234)
        r.close()
        self.assertTrue(self.receive(self.content, offset=1234))
        self.assertTrue(self.node.present(self.key))

    def test_wrong_content_deleted(self):
        bad = bytes([self.content[0] ^ 1]) + self.content[1:]
        self.assertFalse(self.receive(bad))
        self.assertFalse(self.node.present(self.key))
        self.assertFalse(os.path.exists(layout.tmp_path(self.dir, self.key)))
        self.assertEqual(self.records.records, [])

    def test_short_kept_for_resuming(self):
        self.assertFalse(self.receive(self.content[:100], expected=len(self.content)))
        self.assertEqual(os.path.getsize(layout.tmp_path(self.dir, self.key)), 100)
        self.assertFalse(self.node.present(self.key))

    def test_already_there_under_the_mixed_hash(self):
        mixed = layout.object_paths(self.dir, self.key)[1]
        os.makedirs(os.path.dirname(mixed))
        with open(mixed, "wb") as f:
            f.write(self.content)
        self.assertTrue(self.node.present(self.key))
        self.assertTrue(self.receive(self.content))
        self.assertFalse(os.path.exists(layout.object_paths(self.dir, self.key)[0]))
        self.assertFalse(os.path.exists(layout.tmp_path(self.dir, self.key)))

    def test_one_receiver_in_the_daemon(self):
        r = self.node.receiving(self.key)
        self.assertRaises(Busy, self.node.receiving, self.key)
        r.close()
        self.node.receiving(self.key).close()

    def test_transfer_lock_held_by_git_annex(self):
        lock = layout.transfer_files(self.dir, SENDER, self.key).lock
        os.makedirs(os.path.dirname(lock))
        holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl,os,sys; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT); "
             "fcntl.lockf(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()", lock],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)
        self.assertEqual(holder.stdout.readline(), b"held\n")
        e = self.assertRaises(Busy, self.node.receiving, self.key)
        self.assertIn("transfer already in progress", str(e))
        holder.stdin.close()
        holder.wait()
        self.node.receiving(self.key).close()

    def test_disk_reserve(self):
        self.node.diskReserve = 1 << 62
        e = self.assertRaises(Busy, self.node.receiving, self.key)
        self.assertIn("not enough free space in node n1", str(e))
        for path in layout.transfer_files(self.dir, SENDER, self.key):
            self.assertFalse(os.path.exists(path))


U = b"05552970-1247-44c7-9e16-7a903abc3fc7"
OTHER_SENDER = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"
KEY = b"WORM-s5-m1700000000--a.txt"



class LocalNodeStateTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.records = RecordingJournal()
        self.git = os.path.abspath(self.mktemp()).encode()
        os.makedirs(os.path.join(self.git, b"annex"))
        with open(os.path.join(self.git, b"config"), "w") as f:
            f.write("[core]\n\tbare = true\n")
        self.node = LocalNode(self.clock, "n1", U, self.git, OTHER_SENDER, self.records, diskReserve=0)


    def test_gone(self):
        self.assertIsNone(self.node.gone())
        os.rename(self.git, self.git + b".gone")
        # What the node's location log writer makes when it takes the
        # journal lock does not bring it back.
        os.makedirs(os.path.join(self.git, b"annex"))
        self.assertIn("cannot reach node n1", self.node.gone())

    def test_stored_object_drops_the_failed_record(self):
        failed = layout.failed_transfer_file(self.git, OTHER_SENDER, KEY)
        os.makedirs(os.path.dirname(failed))
        with open(failed, "w") as f:
            f.write("1700000000.5s\nf\n")
        r = self.node.receiving(KEY)
        try:
            self.successResultOf(defer.ensureDeferred(r.start(0)))
            r.write(b"hello")
            self.assertTrue(self.successResultOf(defer.ensureDeferred(r.finish(5))))
        finally:
            r.close()
        self.assertFalse(os.path.exists(failed))
        self.assertEqual(self.records.records, [(KEY, U, True)])
        with open(layout.object_paths(self.git, KEY)[0], "rb") as f:
            self.assertEqual(f.read(), b"hello")
