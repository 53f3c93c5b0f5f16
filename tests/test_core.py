"""
The core's shutdown: sessions between requests end at once with
C{ERROR shutting down}, those in a request when it is over, and whatever
is still going after the grace period is cut.
"""

from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from annexrelay.frontdoor.auth import Preauthenticated
from annexrelay.requests import Mode

from annexrelay.testing.memory import KEY, RelayPair


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
