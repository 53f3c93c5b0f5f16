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
    def test_repository_no_longer_annex_is_404(self):
        self.makeRepo("r", "uuid-r")
        yield defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: True))
        subprocess.run(["git", "config", "--unset", "annex.uuid"], cwd=os.path.join(self.root, "r"), check=True)
        yield self.assertFailure(defer.ensureDeferred(self.directory.resolve((b"r",), b"uuid-r", lambda: True)), TargetUnknown)
