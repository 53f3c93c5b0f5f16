"""
The branch layer against real repositories: the location log writer and the branch reader.
"""

import os
import subprocess

from twisted.internet import defer, reactor
from twisted.trial import unittest

from annexrelay.branch.writer import LocationLogWriter

from annexrelay.testing.gitrepos import annexRepository, git as _git, have_git_annex as _have_git_annex


class LocationLogWriterTests(unittest.TestCase):
    if not _have_git_annex():
        skip = "git-annex is not on PATH"

    def setUp(self):
        self.path = annexRepository(self.mktemp())

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
    def test_hostile_keys_touch_nobody_else(self):
        """
        A key with a space is recorded where git-annex reads it; keys that
        cannot have a log (NUL, CR, 300 bytes) are refused; the batch they
        came in is committed for everyone else, and the next one too.
        """
        writer = LocationLogWriter(reactor, self.path, delay=30)
        u = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"
        good = b"SHA256E-s1--%064x" % 1
        self.assertTrue(writer.record(b"WORM-s3-m1--a b", u, True))
        for bad in (b"WORM-s3-m1--a\x00b", b"WORM-s3-m1--a\rb", b"WORM-s3-m1--" + b"x" * 300):
            self.assertFalse(writer.record(bad, u, False))
        writer.record(good, u, True)
        yield writer.flush()
        out = _git(self.path, "annex", "whereis", "--key", "WORM-s3-m1--a b")
        self.assertIn(u.decode(), out)
        self.assertIn(" 1 " + u.decode(), self.logOf(good.decode()))
        later = b"SHA256E-s2--%064x" % 2
        writer.record(later, u, True)
        yield writer.flush()
        self.assertIn(" 1 " + u.decode(), self.logOf(later.decode()))

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

    def journal(self):
        d = os.path.join(self.path, ".git", "annex", "journal")
        return os.listdir(d) if os.path.isdir(d) else []

    @defer.inlineCallbacks
    def test_journal_committed_with_the_batch(self):
        """
        A key git-annex has in its journal (not committed yet) is committed
        with the batch, the batch's record on top; the journal is emptied.
        """
        key = "SHA256E-s4--%064x" % 4
        other = "SHA256E-s5--%064x" % 5
        _git(self.path, "annex", "setpresentkey", key, "bb7f77b7-e29f-45fa-bd52-824b160e6907", "1")
        _git(self.path, "annex", "setpresentkey", other, "bb7f77b7-e29f-45fa-bd52-824b160e6907", "1")
        self.assertEqual(len(self.journal()), 2)
        writer = LocationLogWriter(reactor, self.path, delay=30)
        writer.record(key.encode(), b"0b531efe-1ddd-4f1a-a22c-16b82487267f", True)
        yield writer.flush()
        self.assertEqual(self.journal(), [])
        log = self.logOf(key)
        self.assertIn("1 bb7f77b7", log)
        self.assertIn("1 0b531efe", log)
        self.assertIn("1 bb7f77b7", self.logOf(other))

    @defer.inlineCallbacks
    def test_flush_commits_the_journal_alone(self):
        """
        With no record pending, flush() still commits what git-annex
        journalled (as at shutdown).
        """
        key = "SHA256E-s4--%064x" % 4
        writer = LocationLogWriter(reactor, self.path, delay=30)
        before = self.commits()
        yield writer.flush()
        self.assertEqual(self.commits(), before)
        _git(self.path, "annex", "setpresentkey", key, "bb7f77b7-e29f-45fa-bd52-824b160e6907", "1")
        yield writer.flush()
        self.assertEqual(self.commits(), before + 1)
        self.assertEqual(self.journal(), [])
        self.assertIn("1 bb7f77b7", self.logOf(key))
        # git-annex agrees, and its own index catches up without losing it.
        self.assertIn("bb7f77b7", _git(self.path, "annex", "whereis", "--key", key))
        _git(self.path, "annex", "setpresentkey", key, "0b531efe-1ddd-4f1a-a22c-16b82487267f", "1")
        _git(self.path, "annex", "merge")
        log = self.logOf(key)
        self.assertIn("1 bb7f77b7", log)
        self.assertIn("1 0b531efe", log)

    @defer.inlineCallbacks
    def test_big_journal_in_several_commits(self):
        """
        A journal larger than one batch takes (journal.BATCH files) is
        committed in several, one after the other; flush() waits for all.
        """
        from annexrelay.branch import journal

        self.patch(journal, "BATCH", 2)
        keys = ["SHA256E-s%d--%064x" % (i, i) for i in range(10, 15)]
        subprocess.run(
            ["git", "annex", "setpresentkey", "--batch"],
            cwd=self.path,
            input="".join("%s bb7f77b7-e29f-45fa-bd52-824b160e6907 1\n" % k for k in keys).encode(),
            stdout=subprocess.DEVNULL,
            check=True,
        )
        self.assertEqual(len(self.journal()), 5)
        before = self.commits()
        yield LocationLogWriter(reactor, self.path, delay=30).flush()
        self.assertEqual(self.journal(), [])
        self.assertEqual(self.commits() - before, 3)
        for k in keys:
            self.assertIn("1 bb7f77b7", self.logOf(k))

    @defer.inlineCallbacks
    def test_push_while_journalled_keeps_both(self):
        """
        A client's push changes a log that git-annex holds in its journal:
        as git-annex's own commit would, the union of both is committed.
        """
        key = "SHA256E-s4--%064x" % 4
        u1, u3 = "11111111-1ddd-4f1a-a22c-16b82487267f", "33333333-1ddd-4f1a-a22c-16b82487267f"
        clone = os.path.abspath(self.mktemp())
        subprocess.run(["git", "clone", "-q", self.path, clone], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _git(clone, "annex", "init", "-q", "clone")
        _git(self.path, "annex", "setpresentkey", key, u1, "1")
        _git(clone, "annex", "setpresentkey", key, u3, "1")
        _git(clone, "annex", "merge")
        # The push: the clone's branch, a descendant of ours, lands on it
        # (fetched, so that git-annex's post-receive hook does not commit
        # the journal first).
        _git(self.path, "fetch", "-q", clone, "git-annex:git-annex")
        writer = LocationLogWriter(reactor, self.path, delay=30)
        yield writer.flush()
        self.assertEqual(self.journal(), [])
        out = _git(self.path, "annex", "whereis", "--key", key)
        self.assertIn(u1, out)
        self.assertIn(u3, out)

    @defer.inlineCallbacks
    def test_git_annex_journalling_meanwhile_loses_nothing(self):
        """
        git-annex journals changes while batches commit the journal: the
        journal lock keeps them apart, and every change reaches the branch.
        """
        u = "bb7f77b7-e29f-45fa-bd52-824b160e6907"
        theirs = ["SHA256E-s%d--%064x" % (i, i) for i in range(100, 300)]
        other = subprocess.Popen(
            ["git", "annex", "setpresentkey", "--batch"], cwd=self.path, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        other.stdin.write("".join("%s %s 1\n" % (k, u) for k in theirs).encode())
        other.stdin.close()
        writer = LocationLogWriter(reactor, self.path, delay=30)
        ours = []
        while other.poll() is None:
            key = b"SHA256E-s%d--%064x" % (len(ours), len(ours))
            ours.append(key)
            writer.record(key, b"0b531efe-1ddd-4f1a-a22c-16b82487267f", True)
            yield writer.flush()
        self.assertEqual(other.wait(), 0)
        yield writer.flush()
        self.assertEqual(self.journal(), [])
        paths = [_git(self.path, "annex", "examinekey", "--format=${hashdirlower}${key}.log", k).strip() for k in theirs[::20]]
        for path in paths:
            self.assertIn(" 1 " + u, _git(self.path, "cat-file", "-p", "refs/heads/git-annex:" + path))
        listed = _git(self.path, "ls-tree", "-r", "--name-only", "refs/heads/git-annex")
        self.assertEqual(sum(1 for k in theirs if k + ".log" in listed), len(theirs))
        self.assertEqual(sum(1 for k in ours if k.decode() + ".log" in listed), len(ours))

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


class BranchReaderTests(unittest.TestCase):
    """
    The gateway's view of its branch: committed, journaled, and recorded by
    annexrelay but not yet committed.
    """

    if not _have_git_annex():
        skip = "git-annex is not on PATH"

    def setUp(self):
        from annexrelay.branch.reader import BranchReader
        from annexrelay.paths import git_dir

        self.path = annexRepository(self.mktemp())
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


class ShutdownTests(unittest.TestCase):
    """
    Records that cannot be committed before the daemon stops are kept and
    committed by the next start: nothing recorded is lost, and stopping is
    bounded.
    """

    if not _have_git_annex():
        skip = "git-annex is not on PATH"

    @defer.inlineCallbacks
    def test_kept_and_recovered(self):
        path = annexRepository(self.mktemp())
        u = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"
        key = b"SHA256E-s5--%064x" % 5
        tip = _git(path, "rev-parse", "refs/heads/git-annex").strip()
        # The branch is gone (a broken repository): nothing can be committed.
        _git(path, "update-ref", "-d", "refs/heads/git-annex")
        writer = LocationLogWriter(reactor, path, delay=30)
        writer.record(key, u, True)
        yield writer.close(timeout=2)
        self.assertTrue(os.path.exists(writer.spool))
        # Repaired; the next start records it.
        _git(path, "update-ref", "refs/heads/git-annex", tip)
        again = LocationLogWriter(reactor, path, delay=30)
        self.assertEqual(again.recover(), 1)
        yield again.close()
        self.assertFalse(os.path.exists(again.spool))
        out = _git(path, "annex", "whereis", "--key", key.decode())
        self.assertIn(u.decode(), out)


class RepoSizesTests(unittest.TestCase):
    if not _have_git_annex():
        skip = "git-annex is not on PATH"

    @defer.inlineCallbacks
    def test_counted_then_kept_current(self):
        from annexrelay.branch.sizes import RepoSizes

        path = annexRepository(self.mktemp())
        u1, u2 = "11111111-1ddd-4f1a-a22c-16b82487267f", "22222222-1ddd-4f1a-a22c-16b82487267f"
        for size, holders in ((100, [u1]), (250, [u1, u2]), (7, [])):
            key = "SHA256E-s%d--%064x" % (size, size)
            for u in holders:
                _git(path, "annex", "setpresentkey", key, u, "1")
        _git(path, "annex", "merge", "-q")
        sizes = RepoSizes(reactor, path)
        got = yield sizes.sizes()
        self.assertEqual((got.get(u1.encode()), got.get(u2.encode())), (350, 250))
        k = b"SHA256E-s1000--%064x" % 1000
        sizes.stored(k, u2.encode(), False)
        sizes.stored(k, u2.encode(), True)  # already counted
        got = yield sizes.sizes()
        self.assertEqual(got[u2.encode()], 1250)
        sizes.removed(k, u2.encode(), True)
        self.assertEqual((yield sizes.sizes())[u2.encode()], 250)
