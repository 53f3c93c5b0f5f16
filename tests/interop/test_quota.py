"""
C{--quota} with the real client, over ssh (the hand-over door) and over
annex+http: a copy that fits is stored, one that would take the
repository over its quota is refused with the reason shown, and the node
is left with no object and no partial one.
"""

import glob
import os

from tests.interop.test_http import HttpCase
from tests.interop.test_interop import InteropCase

# n1 holds the first file (30 000 bytes) of a 50 000 byte quota; the
# second (30 000 more) does not fit.
QUOTA = ("--quota", ".=50 kB")


class _QuotaTests:
    def partials(self, node):
        return glob.glob(os.path.join(self.s.nodes[node], ".git", "annex", "tmp", "*"))

    def test_copy_over_quota_refused(self):
        self.s.addFile(self.client, "one.bin", os.urandom(30000))
        self.s.addFile(self.client, "two.bin", os.urandom(30000))
        self.annex("copy", "--to", "origin-n1", "one.bin")
        self.assertTrue(self.nodeHas("n1", self.key("one.bin")))
        out = self.annex("copy", "--to", "origin-n2", "two.bin", ok=False)
        self.assertIn(self.shown + "over quota: the repository stores 30 kB of its 50 kB quota; 30 kB more does not fit", out)
        self.assertFalse(self.nodeHas("n2", self.key("two.bin")))
        self.assertEqual(self.partials("n2"), [])
        self.assertIn("refused PUT", self.daemonLog())
        # Dropping makes room.
        self.annex("drop", "--from", "origin-n1", "one.bin")
        self.annex("copy", "--to", "origin-n2", "two.bin")
        self.assertTrue(self.nodeHas("n2", self.key("two.bin")))


class QuotaOverSshTests(_QuotaTests, InteropCase):
    daemonArgs = QUOTA
    # git-annex does not show a PUT's ERROR: the shell says it on stderr.
    shown = "annexrelay-shell: "


class QuotaOverHttpTests(_QuotaTests, HttpCase):
    httpArgs = ("--wideopen",) + QUOTA
    # git-annex shows the status line of a failed put.
    shown = "507 "
