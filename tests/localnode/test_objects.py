"""
L{annexrelay.localnode.objects.LocalNode} on a directory laid out as a bare
repository's annex, with a stand-in location log writer and a clock.
"""

import os

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.localnode import layout
from annexrelay.localnode.objects import LocalNode

U = b"05552970-1247-44c7-9e16-7a903abc3fc7"
SENDER = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"
KEY = b"WORM-s5-m1700000000--a.txt"


class Records:
    """
    What LocalNode uses of a location log writer.
    """

    def __init__(self):
        self.pending = {}
        self.flushes = []

    def record(self, key, uuid, present):
        self.pending[key] = {uuid: present}

    def overlay(self, key):
        return dict(self.pending.get(key, {}))

    def flush(self):
        d = defer.Deferred()
        self.flushes.append(d)
        return d


class LocalNodeTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.records = Records()
        self.git = os.path.abspath(self.mktemp()).encode()
        os.makedirs(os.path.join(self.git, b"annex"))
        with open(os.path.join(self.git, b"config"), "w") as f:
            f.write("[core]\n\tbare = true\n")
        self.node = LocalNode(self.clock, "n1", U, self.git, SENDER, self.records, diskReserve=0)

    def test_settle_waits_for_the_commit_of_the_key(self):
        self.assertTrue(self.node.settle(KEY).called)
        self.assertEqual(self.records.flushes, [])
        self.records.record(KEY, U, True)
        d = self.node.settle(KEY)
        self.assertFalse(d.called)
        self.records.flushes[0].callback(None)
        self.assertTrue(d.called)

    def test_settle_gives_up(self):
        self.records.record(KEY, U, True)
        d = self.node.settle(KEY, timeout=5)
        self.clock.advance(5)
        self.failureResultOf(d, defer.TimeoutError)
        # The commit coming later is harmless.
        self.records.flushes[0].callback(None)

    def test_gone(self):
        self.assertIsNone(self.node.gone())
        os.rename(self.git, self.git + b".gone")
        # What the node's location log writer makes when it takes the
        # journal lock does not bring it back.
        os.makedirs(os.path.join(self.git, b"annex"))
        self.assertIn("cannot reach node n1", self.node.gone())

    def test_stored_object_drops_the_failed_record(self):
        failed = layout.failed_transfer_file(self.git, SENDER, KEY)
        os.makedirs(os.path.dirname(failed))
        with open(failed, "w") as f:
            f.write("1700000000.5s\nf\n")
        r = self.node.receiving(KEY)
        try:
            self.successResultOf(defer.ensureDeferred(r.start(0)))
            r.write(b"hello")
            self.assertTrue(r.finish(5))
        finally:
            r.close()
        self.assertFalse(os.path.exists(failed))
        self.assertEqual(self.records.pending[KEY], {U: True})
        with open(layout.object_paths(self.git, KEY)[0], "rb") as f:
            self.assertEqual(f.read(), b"hello")
