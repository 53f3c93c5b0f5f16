"""
L{annexrelay.frontdoor.http.linkpool.LinkPool} on a L{Clock}: an idle
session is taken by the next request of its kind only, ended after the
idle timeout, at its maximum age, past the per-kind bound, when the core
ended it meanwhile, and at close.
"""

from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.frontdoor.http.linkpool import LinkPool


class Conn:
    broken = False


class End:
    def __init__(self):
        self.released = 0

    def release(self):
        self.released += 1


class Session:
    peer = "http 10.0.0.1:4000#7"


class Link:
    def __init__(self, opened=0.0):
        self.session = Session()
        self.conn = Conn()
        self.end = End()
        self.opened = opened
        self.ended = False
        self.closed = 0

    def close(self):
        self.ended = True
        self.closed += 1


class Target:
    def __init__(self, uuid):
        self.uuid = uuid


class LinkPoolTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.pool = LinkPool(self.clock, idleTimeout=10, maxAge=60, perKey=2)
        self.key = self.pool.key("core", Target(b"u1"), "rw", 4, [b"b", b"a"])

    def test_taken_by_its_kind_only(self):
        link = Link()
        self.pool.give(self.key, link)
        self.assertEqual(link.end.released, 1)
        other = self.pool.key("core", Target(b"u1"), "ro", 4, [b"a", b"b"])
        self.assertIsNone(self.pool.take(other))
        self.assertIs(self.pool.take(self.pool.key("core", Target(b"u1"), "rw", 4, (b"a", b"b")), "http 10.0.0.2:5000"), link)
        # Its log lines now name the client it serves.
        self.assertEqual(link.session.peer, "http 10.0.0.2:5000#7")
        self.assertIsNone(self.pool.take(self.key))
        self.assertEqual((link.closed, self.pool.reused), (0, 1))

    def test_idle_timeout(self):
        link = Link()
        self.pool.give(self.key, link)
        self.clock.advance(10)
        self.assertEqual((link.closed, len(self.pool)), (1, 0))
        self.assertIsNone(self.pool.take(self.key))

    def test_max_age(self):
        link = Link()
        self.clock.advance(55)
        self.pool.give(self.key, link)
        self.clock.advance(6)
        self.assertIsNone(self.pool.take(self.key))
        self.assertEqual(link.closed, 1)

    def test_bound_per_kind(self):
        links = [Link() for _ in range(3)]
        for link in links:
            self.pool.give(self.key, link)
        self.assertEqual([l.closed for l in links], [0, 0, 1])
        self.assertEqual(len(self.pool), 2)

    def test_ended_meanwhile_is_dropped(self):
        a, b = Link(), Link()
        self.pool.give(self.key, a)
        self.pool.give(self.key, b)
        b.conn.broken = True
        self.assertIs(self.pool.take(self.key), a)
        self.assertEqual(b.closed, 1)

    def test_ended_link_is_not_kept(self):
        link = Link()
        link.ended = True
        self.pool.give(self.key, link)
        self.assertEqual(len(self.pool), 0)

    def test_close_all(self):
        links = [Link(), Link()]
        for link in links:
            self.pool.give(self.key, link)
        self.pool.closeAll()
        self.assertEqual([l.closed for l in links], [1, 1])
        self.assertEqual(self.clock.getDelayedCalls(), [])
