"""
The --directory scanner on a real tree (git repositories made with git,
their config read by git subprocesses, on the real reactor): nested
repositories, a repository appearing later found by listing only what
changed, shared and rate-limited rescans.
"""

import os
import subprocess

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from annexrelay.directory.scan import Scanner
from annexrelay.directory.tree import RepoIndex


def git(*args, cwd):
    subprocess.run(["git"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_repo(path, uuid=None, bare=False):
    os.makedirs(path, exist_ok=True)
    git("init", "-q", *(["--bare"] if bare else []), cwd=path)
    if uuid:
        git("config", "annex.uuid", uuid, cwd=path)


class ScannerTests(unittest.TestCase):
    timeout = 60

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.index = RepoIndex()
        self.scanner = Scanner(reactor, self.root, self.index, interval=0.2)
        self.addCleanup(self.scanner.stop)

    def scan(self):
        return self.scanner.refresh(reactor.seconds())

    @defer.inlineCallbacks
    def test_finds_nested_and_bare_repositories(self):
        make_repo(os.path.join(self.root, "a"), "uuid-a")
        make_repo(os.path.join(self.root, "a", "inner"), "uuid-inner")
        make_repo(os.path.join(self.root, "team", "b.git"), "uuid-b", bare=True)
        make_repo(os.path.join(self.root, "plain"))
        yield self.scan()
        self.assertEqual(self.index.at((b"a",)).uuid, b"uuid-a")
        self.assertEqual(self.index.at((b"a", b"inner")).uuid, b"uuid-inner")
        self.assertEqual(self.index.at((b"team", b"b.git")).uuid, b"uuid-b")
        self.assertIsNone(self.index.at((b"plain",)))
        self.assertEqual(self.index.serving(b"uuid-b").rel, (b"team", b"b.git"))
        self.assertEqual(self.scanner.repositories[(b"a",)].uuid, b"uuid-a")

    @defer.inlineCallbacks
    def test_proxied_uuids_are_indexed_and_config_changes_seen(self):
        path = os.path.join(self.root, "p")
        make_repo(path, "uuid-p")
        yield self.scan()
        self.assertIsNone(self.index.serving(b"uuid-node"))
        git("remote", "add", "n", "/nowhere", cwd=path)
        git("config", "remote.n.annex-uuid", "uuid-node", cwd=path)
        git("config", "remote.n.annex-proxy", "true", cwd=path)
        yield self.scan()
        self.assertEqual(self.index.serving(b"uuid-node").rel, (b"p",))

    @defer.inlineCallbacks
    def test_repository_appearing_later_lists_only_what_changed(self):
        for i in range(20):
            make_repo(os.path.join(self.root, "d%d" % i, "r"), "uuid-%d" % i)
        yield self.scan()
        self.assertEqual(len(self.index), 20)
        # Folders modified in the last seconds are listed again next time;
        # make them look older.
        for dirpath, dirnames, _ in os.walk(self.root):
            os.utime(dirpath, (1, 1))
            dirnames[:] = [d for d in dirnames if d != ".git"]
        yield self.scan()
        listed = self.scanner.listed
        yield self.scan()
        self.assertEqual(self.scanner.listed, listed, "an unchanged tree is not listed again")
        make_repo(os.path.join(self.root, "d7", "new"), "uuid-new")
        yield self.scan()
        self.assertEqual(self.index.at((b"d7", b"new")).uuid, b"uuid-new")
        # d7 (changed), new and its .git-less listing: a handful, not 60.
        self.assertLessEqual(self.scanner.listed - listed, 3)

    @defer.inlineCallbacks
    def test_removed_repository_is_forgotten(self):
        make_repo(os.path.join(self.root, "x", "r"), "uuid-x")
        yield self.scan()
        self.assertIsNotNone(self.index.serving(b"uuid-x"))
        subprocess.run(["rm", "-rf", os.path.join(self.root, "x")], check=True)
        yield self.scan()
        self.assertIsNone(self.index.serving(b"uuid-x"))
        self.assertNotIn((b"x", b"r"), self.scanner.repositories)

    @defer.inlineCallbacks
    def test_many_requests_share_few_scans(self):
        make_repo(os.path.join(self.root, "a"), "uuid-a")
        yield self.scan()
        before = self.scanner.scans
        waits = [self.scan() for _ in range(50)]
        yield defer.gatherResults(waits)
        waits = [self.scan() for _ in range(50)]
        yield defer.gatherResults(waits)
        self.assertLessEqual(self.scanner.scans - before, 2)

    def test_stop_releases_waiters(self):
        d = self.scan()
        self.scanner.stop()
        self.assertTrue(d.called)


class SlicedTests(unittest.TestCase):
    """
    The walk is a cooperative task: one folder a step.
    """

    def test_one_folder_a_step(self):
        root = os.path.abspath(self.mktemp())
        for i in range(5):
            os.makedirs(os.path.join(root, "f%d" % i))
        steps = []

        class Cooperator:
            def cooperate(self, iterator):
                steps.extend(iterator)
                return task.cooperate(iter(()))

        scanner = Scanner(reactor, root, RepoIndex(), cooperator=Cooperator())
        self.addCleanup(scanner.stop)
        scanner._start()
        self.assertEqual(len(steps), 6)
        self.assertEqual(scanner.listed, 6)
