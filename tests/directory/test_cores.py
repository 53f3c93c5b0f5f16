"""
L{Directory.resolve}: only a caller let in can make the daemon scan; a
repository is found in its own scope; cores are opened once, lazily.
"""

import os
import subprocess

from twisted.internet import defer, reactor
from twisted.trial import unittest

from annexrelay.core import TargetUnknown
from annexrelay.directory.cores import Directory, Unseen


class FakeCore:
    """
    A core on the scanner's repository (targets: its own UUID only).
    """

    def __init__(self, repository):
        self.repository = repository
        self.closed = False

    def targetFor(self, uuid, own=False):
        if uuid != self.repository.uuid:
            raise TargetUnknown(uuid)
        return ("target", uuid)

    def drain(self, grace):
        return defer.succeed(None)

    def close(self):
        self.closed = True
        return defer.succeed(None)


class ResolveTests(unittest.TestCase):
    timeout = 60

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.directory = Directory(reactor, self.root, FakeCore, grace=1.0, interval=0.1)
        self.addCleanup(self.directory.scanner.stop)

    def makeRepo(self, rel, uuid):
        path = os.path.join(self.root, rel)
        os.makedirs(path)
        subprocess.run(["git", "init", "-q", path], check=True)
        subprocess.run(["git", "config", "annex.uuid", uuid], cwd=path, check=True)

    @defer.inlineCallbacks
    def test_unauthenticated_miss_does_not_scan(self):
        self.makeRepo("r", "uuid-r")
        core, target = yield defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: False))
        self.assertIsNone(core)
        self.assertIsInstance(target, Unseen)
        core, target = yield defer.ensureDeferred(self.directory.resolve((), b"uuid-r", lambda: False))
        self.assertIsInstance(target, Unseen)
        self.assertEqual(self.directory.scanner.scans, 0)

    @defer.inlineCallbacks
    def test_authenticated_miss_scans_then_finds_or_404(self):
        self.makeRepo("r", "uuid-r")
        core, target = yield defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: True))
        self.assertEqual(target, ("target", b"uuid-r"))
        self.assertEqual(self.directory.scanner.scans, 1)
        again, _ = yield defer.ensureDeferred(self.directory.resolve((), b"uuid-r", lambda: True))
        self.assertIs(again, core)
        self.assertEqual(self.directory.scanner.scans, 1)
        yield self.assertFailure(defer.ensureDeferred(self.directory.resolve((), b"uuid-x", lambda: True)), TargetUnknown)
        self.assertEqual(self.directory.scanner.scans, 2)
        # Known repository, UUID it does not serve: 404 at once.
        yield self.assertFailure(defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-x", lambda: True)), TargetUnknown)
        self.assertEqual(self.directory.scanner.scans, 2)

    @defer.inlineCallbacks
    def test_stop_closes_cores(self):
        self.makeRepo("r", "uuid-r")
        core, _ = yield defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: True))
        self.directory.startService()
        yield self.directory.stopService()
        self.assertTrue(core.closed)
        yield self.assertFailure(defer.ensureDeferred(self.directory.resolve((b"q",), b"uuid-q", lambda: True)), TargetUnknown)

    @defer.inlineCallbacks
    def test_changed_config_read_without_blocking(self):
        """
        A repository whose config changed is read again by a git process
        of the scanner's, never one run in the reactor thread; a UUID it
        does not serve is then 404.
        """
        self.makeRepo("r", "uuid-r")
        yield defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: True))
        with open(os.path.join(self.root, "r", ".git", "config"), "a") as f:
            f.write('[remote "n"]\n\turl = /srv/n\n\tannex-proxy = true\n\tannex-uuid = uuid-n\n')

        def blocking(*a, **kw):
            raise AssertionError("a blocking subprocess in the reactor thread: %r" % (a,))

        self.patch(subprocess, "run", blocking)
        with self.assertRaises(TargetUnknown) as e:
            yield defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-unknown", lambda: True))
        self.assertIn("not served by", str(e.exception))
        self.assertIn(b"uuid-n", self.directory.scanner.repositories[(b"r",)].nodes)

    @defer.inlineCallbacks
    def test_repository_no_longer_annex_is_404(self):
        self.makeRepo("r", "uuid-r")
        yield defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: True))
        subprocess.run(["git", "config", "--unset", "annex.uuid"], cwd=os.path.join(self.root, "r"), check=True)
        yield self.assertFailure(defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: True)), TargetUnknown)


class FakeRepo:
    def __init__(self, uuid):
        self.uuid = uuid
        self.path = "/srv/" + uuid.decode()
        self.nodes = {}
        self.clusters = {}

    def refresh(self):
        pass


class SlowCore(FakeCore):
    def __init__(self, repository):
        FakeCore.__init__(self, repository)
        self.live = set()
        self.closing = defer.Deferred()

    def close(self):
        self.closed = True
        return self.closing


class IdleTests(unittest.TestCase):
    """
    A core no session used for C{idle} seconds is closed; a request for it
    while it closes waits, then gets a new one.
    """

    def setUp(self):
        from twisted.internet.task import Clock

        from annexrelay.directory.tree import Entry

        self.clock = Clock()
        self.opened = []

        def openCore(repo):
            core = SlowCore(repo)
            self.opened.append(core)
            return core

        self.directory = Directory(self.clock, "/nonexistent", openCore, grace=1.0, idle=100.0)
        self.directory.scanner.repositories[(b"r",)] = FakeRepo(b"uuid-r")
        self.directory.index.put(Entry((b"r",), b"uuid-r", frozenset({b"uuid-r"})))

    def resolve(self):
        return defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: True))

    def test_idle_core_closed_and_reopened(self):
        first = self.successResultOf(self.resolve())[0]
        first.live.add("session")
        self.clock.advance(150)
        self.directory.closeIdle()
        self.assertFalse(first.closed, "a core with a session stays")
        first.live.clear()
        self.directory.closeIdle()
        self.assertTrue(first.closed)
        waiting = self.resolve()
        self.assertNoResult(waiting)
        first.closing.callback(None)
        second = self.successResultOf(waiting)[0]
        self.assertIsNot(second, first)
        self.assertEqual(len(self.opened), 2)

    def test_recently_used_core_stays(self):
        core = self.successResultOf(self.resolve())[0]
        self.clock.advance(60)
        self.successResultOf(self.resolve())
        self.clock.advance(60)
        self.directory.closeIdle()
        self.assertFalse(core.closed)

    def test_sweep_runs_while_started_and_stop_waits_for_closing(self):
        core = self.successResultOf(self.resolve())[0]
        self.directory.startService()
        self.clock.advance(100)
        self.clock.advance(50)
        self.assertTrue(core.closed)
        stopped = self.directory.stopService()
        self.assertNoResult(stopped)
        core.closing.callback(None)
        self.successResultOf(stopped)
