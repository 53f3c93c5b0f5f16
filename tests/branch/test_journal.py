"""
git-annex's journal as git-annex commits it: file names, incomplete
appends, the union merge when the branch moved (pure), and reading a
journal directory.
"""

import os

from twisted.trial import unittest

from annexrelay.branch import journal
from annexrelay.branch.locationlog import journal_name


class NameTests(unittest.TestCase):
    def test_round_trip(self):
        for path in (
            b"uuid.log",
            b"d91/b11/SHA256E-s6--58_91.txt.log",
            b"a41/2a2/URL--http&ac&s&sexample.com__x.log.cnk",
        ):
            self.assertEqual(journal.branch_path(journal_name(path)), path)
        # Read left to right, as git-annex's fileJournal does ("_/" and "/_"
        # would both be "___"; git-annex makes no such paths).
        self.assertEqual(journal.branch_path(b"a___b"), b"a_/b")

    def test_committable(self):
        self.assertTrue(journal.committable(b"d91/b11/WORM-s3--a b.log"))
        for bad in (b"", b'"quoted', b"/abs", b"a\nb", b"a\x7fb"):
            self.assertFalse(journal.committable(bad))


class MergeTests(unittest.TestCase):
    J = b"2s 0 u1\n1s 1 u2\n"
    B = b"1s 1 u1\n1s 1 u2\n"

    def test_index_in_step_takes_the_journal(self):
        self.assertEqual(journal.merged(self.J, self.B, True), self.J)

    def test_not_on_the_branch_takes_the_journal(self):
        self.assertEqual(journal.merged(self.J, None, False), self.J)

    def test_branch_moved_is_the_union(self):
        # git-annex's Git.UnionMerge.calcMerge: sorted unique lines.
        self.assertEqual(journal.merged(self.J, self.B, False), b"1s 1 u1\n1s 1 u2\n2s 0 u1\n")

    def test_a_file_that_is_the_union_is_kept_as_it_is(self):
        j = b"2s 1 u2\n1s 1 u1\n2s 1 u2\n"
        self.assertEqual(journal.merged(j, b"1s 1 u1\n", False), j)
        self.assertEqual(journal.merged(b"1s 1 u1\n", j, False), j)

    def test_incomplete_append_dropped(self):
        self.assertEqual(journal.discard_incomplete(b"1s 1 u1\n2s 0 u"), b"1s 1 u1\n")
        self.assertEqual(journal.discard_incomplete(b"2s 0 u"), b"")
        self.assertEqual(journal.discard_incomplete(b""), b"")
        self.assertEqual(journal.discard_incomplete(b"1s 1 u1\n"), b"1s 1 u1\n")


class ReadTests(unittest.TestCase):
    def setUp(self):
        self.dir = self.mktemp().encode()
        os.makedirs(self.dir)

    def put(self, path, content):
        with open(os.path.join(self.dir, journal_name(path)), "wb") as f:
            f.write(content)

    def test_reads_files_not_directories(self):
        self.put(b"a/b/k1.log", b"1s 1 u1\n")
        self.put(b"a/b/k2.log", b"1s 1 u1\n2s 0")
        os.makedirs(os.path.join(self.dir, b"sub"))
        files, more = journal.read(self.dir)
        self.assertFalse(more)
        self.assertEqual([(f.path, f.content) for f in files], [(b"a/b/k1.log", b"1s 1 u1\n"), (b"a/b/k2.log", b"1s 1 u1\n")])
        self.assertTrue(journal.dirty(self.dir))
        journal.remove(self.dir, files)
        self.assertEqual(os.listdir(self.dir), [b"sub"])

    def test_limit(self):
        for i in range(5):
            self.put(b"k%d.log" % i, b"1s 1 u1\n")
        files, more = journal.read(self.dir, limit=3)
        self.assertEqual((len(files), more), (3, True))
        journal.remove(self.dir, files)
        files, more = journal.read(self.dir, limit=3)
        self.assertEqual((len(files), more), (2, False))

    def test_no_journal(self):
        missing = os.path.join(self.dir, b"none")
        self.assertEqual(journal.read(missing), ([], False))
        self.assertFalse(journal.dirty(missing))

    def test_index_tip(self):
        git = self.mktemp()
        os.makedirs(os.path.join(git, "annex"))
        self.assertIsNone(journal.index_tip(git))
        with open(os.path.join(git, "annex", "index.lck"), "w") as f:
            f.write("0123abcd\n")
        self.assertEqual(journal.index_tip(git), b"0123abcd")
