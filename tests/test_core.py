"""
The core's shutdown: sessions between requests end at once with
C{ERROR shutting down}, those in a request when it is over, and whatever
is still going after the grace period is cut.  An unknown UUID is
answered without a git process in the reactor thread.
"""

import subprocess

from twisted.internet.error import ProcessDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest

from annexrelay.core import RelayCore, TargetUnknown
from annexrelay.repo import Node
from annexrelay.streams import Streams

from annexrelay.frontdoor.auth import Preauthenticated
from annexrelay.requests import Mode

from annexrelay.testing.memory import KEY, NODE_UUID, MemoryPool, RecordingLog, RelayPair, _OneNodeRepository

OTHER = b"bb7f77b7-e29f-45fa-bd52-824b160e6907"


class DrainTests(unittest.TestCase):
    def pair(self):
        p = RelayPair(frontdoor="handover")
        return p, p.core

    def test_idle_session_ends_at_once(self):
        p, core = self.pair()
        d = core.drain(10)
        self.assertEqual(p.take(), b"ERROR shutting down\n")
        self.assertEqual(p.session.state, "closed")
        self.assertTrue(d.called)

    def test_request_in_hand_finishes_first(self):
        p, core = self.pair()
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(p.nodeGot(), b"CHECKPRESENT " + KEY + b"\n")
        d = core.drain(10)
        self.assertFalse(d.called)
        self.assertEqual(p.session.state, "in-request")
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\nERROR shutting down\n")
        self.assertEqual(p.session.state, "closed")
        self.assertTrue(d.called)

    def test_cut_after_the_grace(self):
        p, core = self.pair()
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        d = core.drain(10)
        p.clock.advance(9)
        self.assertFalse(d.called)
        p.clock.advance(1)
        # The transport was dropped (a StringTransport never reports it
        # back): the core stops waiting a second later.
        self.assertTrue(p.client.disconnecting or p.client.disconnected)
        p.clock.advance(1)
        self.assertTrue(d.called)

    def test_session_opened_while_stopping_is_refused(self):
        p, core = self.pair()
        core.drain(10)
        late = core.session(Preauthenticated(p.target, Mode.READ_WRITE), "late")
        transport = StringTransport()
        late.makeConnection(transport)
        self.assertEqual(transport.value().split(b"\n")[1:], [b"ERROR shutting down", b""])
        self.assertEqual(late.state, "closed")
        self.assertNotIn(late, core.live)

    def test_nothing_live(self):
        p, core = self.pair()
        p.session.drain()
        self.assertTrue(core.drain(10).called)


class _SpawningClock(Clock):
    """
    A clock that records the processes it is asked to spawn.
    """

    def __init__(self):
        Clock.__init__(self)
        self.spawned = []

    def spawnProcess(self, protocol, executable, args, env=None, path=None, **kw):
        self.spawned.append((protocol, args))


class UnknownTargetTests(unittest.TestCase):
    """
    An unknown UUID is answered at once, never by a git process run in
    the reactor thread: uuid.log's descriptions (for the error message)
    are read in the background, for the next error.
    """

    def setUp(self):
        def blocking(*a, **kw):
            raise AssertionError("a blocking subprocess in the reactor thread: %r" % (a,))

        self.patch(subprocess, "run", blocking)
        self.patch(subprocess, "Popen", blocking)
        self.patch(subprocess, "check_output", blocking)
        self.clock = _SpawningClock()
        node = Node("n1", NODE_UUID, "/srv/n1")
        self.core = RelayCore(self.clock, _OneNodeRepository(node), MemoryPool(), RecordingLog(), None, Streams(), lambda: 0)

    def test_unknown_then_described(self):
        e = self.assertRaises(TargetUnknown, self.core.targetFor, OTHER)
        self.assertEqual(str(e), "expected repository UUID %s but found UUID %s" % (OTHER.decode(), _OneNodeRepository.uuid.decode()))
        [(protocol, args)] = self.clock.spawned
        self.assertEqual(args, ["git", "-C", "/srv/proxy", "cat-file", "blob", "refs/heads/git-annex:uuid.log"])
        protocol.childDataReceived(1, OTHER + b" a lab's laptop timestamp=1700000000.0s\n")
        protocol.processEnded(Failure(ProcessDone(0)))
        e = self.assertRaises(TargetUnknown, self.core.targetFor, OTHER)
        self.assertEqual(str(e), "not configured to proxy for repository a lab's laptop")

    def test_reads_are_rate_limited(self):
        for _ in range(100):
            self.assertRaises(TargetUnknown, self.core.targetFor, OTHER)
        self.assertEqual(len(self.clock.spawned), 1)
        protocol = self.clock.spawned[0][0]
        protocol.processEnded(Failure(ProcessDone(0)))
        self.assertRaises(TargetUnknown, self.core.targetFor, OTHER)
        self.assertEqual(len(self.clock.spawned), 1)
        self.clock.advance(1)
        self.assertRaises(TargetUnknown, self.core.targetFor, OTHER)
        self.assertEqual(len(self.clock.spawned), 2)
