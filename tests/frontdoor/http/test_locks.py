"""
Locks held for HTTP clients: released on unlock, on expiry without
keeplocked, at shutdown, and forgotten when their session ends on its own.
"""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.frontdoor.http.locks import EXPIRY, Locks
from annexrelay.p2p import messages


class FakeLink:
    def __init__(self):
        self.sent = []
        self.closed = False
        self.conn = self
        self.session = self
        self.done = defer.Deferred()

    def sendMessage(self, msg):
        self.sent.append(msg)

    def close(self):
        self.closed = True


class LocksTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        ids = iter([b"id1", b"id2"])
        self.locks = Locks(self.clock, newId=lambda: next(ids))
        self.link = FakeLink()

    def test_expires_without_keeplocked(self):
        self.assertEqual(self.locks.add(self.link, b"K"), b"id1")
        self.clock.advance(EXPIRY - 1)
        self.assertFalse(self.link.closed)
        self.clock.advance(1)
        self.assertEqual((self.link.sent, self.link.closed, len(self.locks)), ([messages.UNLOCKCONTENT], True, 0))

    def test_keeplocked_stops_the_expiry(self):
        lockid = self.locks.add(self.link, b"K")
        self.assertTrue(self.locks.keep(lockid))
        self.clock.advance(EXPIRY * 3)
        self.assertFalse(self.link.closed)
        self.locks.release(lockid)
        self.assertEqual(self.link.sent, [messages.UNLOCKCONTENT])
        self.assertFalse(self.locks.keep(lockid))

    def test_session_ending_forgets_the_lock(self):
        self.locks.add(self.link, b"K")
        self.link.done.callback("node went away")
        self.assertEqual(len(self.locks), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_release_all(self):
        other = FakeLink()
        self.locks.add(self.link, b"K")
        self.locks.add(other, b"L")
        self.locks.releaseAll()
        self.assertTrue(self.link.closed and other.closed)
