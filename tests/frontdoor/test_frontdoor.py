"""
Tier 2: front doors: the shell's hand-over to the daemon.
"""

import json
import shlex

from hypothesis import given, settings, strategies as st
from zope.interface.verify import verifyClass, verifyObject
from twisted.internet.interfaces import IFileDescriptorReceiver, IHalfCloseableProtocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial import unittest

from annexrelay.clientside import ClientSession
from annexrelay.repo import Node
from annexrelay.core import RelayCore
from annexrelay.frontdoor.ssh import shell
from annexrelay.frontdoor.ssh.handover import HandoverProtocol
from annexrelay.streams import Streams
from annexrelay.testing.memory import CLIENT_UUID, KEY, NODE_UUID, MemoryPool, RecordingLog, RelayPair


class FakeRepository:
    path = "/srv/proxy"
    uuid = b"5be33b88-f077-4dfa-8ff3-5e8cde6218ce"

    def __init__(self):
        self.node = Node("n1", NODE_UUID, "/srv/n1")

    def target(self, uuid):
        return self.node if uuid == NODE_UUID else None

    def cluster(self, uuid):
        return None

    def describe(self, uuid):
        return ""


class HandoverTests(unittest.TestCase):
    def setUp(self):
        self.pool = MemoryPool()
        self.core = RelayCore(MemoryReactorClock(), FakeRepository(), self.pool, RecordingLog(), None, Streams(), lambda: 0)
        self.proto = HandoverProtocol(self.core)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def header(self, **kw):
        h = {"command": "p2pstdio", "client": "c", "target": NODE_UUID.decode(), "mode": "read-write"}
        h.update(kw)
        return json.dumps(h).encode() + b"\n"

    def test_interfaces(self):
        self.assertTrue(verifyObject(IFileDescriptorReceiver, self.proto))
        self.assertTrue(verifyObject(IHalfCloseableProtocol, self.proto))
        self.assertTrue(verifyClass(IHalfCloseableProtocol, ClientSession))

    def test_in_band_session(self):
        """
        Without descriptors the connection itself carries the session, and
        no node is contacted before a request needs one.
        """
        self.proto.dataReceived(self.header())
        self.assertEqual(self.transport.value(), b"OK\nAUTH-SUCCESS " + NODE_UUID + b"\n")
        self.assertEqual(self.pool.conns, [])
        self.transport.clear()
        self.proto.dataReceived(b"VERSION 4\nCHECKPRESENT " + KEY + b"\n")
        self.assertEqual(self.transport.value(), b"VERSION 4\n")
        self.assertEqual(self.pool.conns[0].transport.value(), b"CHECKPRESENT " + KEY + b"\n")

    def test_header_and_data_in_one_read(self):
        self.proto.dataReceived(self.header() + b"VERSION 4\n")
        self.assertEqual(self.transport.value(), b"OK\nAUTH-SUCCESS " + NODE_UUID + b"\nVERSION 4\n")

    def test_self(self):
        self.proto.dataReceived(self.header(target=FakeRepository.uuid.decode()))
        self.assertEqual(self.transport.value(), b"SELF\n")

    def test_unknown_target(self):
        self.proto.dataReceived(self.header(target="11111111-1111-1111-1111-111111111111"))
        self.assertTrue(self.transport.value().startswith(b"FAIL expected repository UUID 1111"))
        self.assertTrue(self.transport.disconnecting)

    def test_bad_header(self):
        self.proto.dataReceived(b"{nonsense\n")
        self.assertTrue(self.transport.value().startswith(b"FAIL bad hand-over header"))

    def test_wrong_repository(self):
        self.proto.dataReceived(self.header(directory="/elsewhere"))
        self.assertTrue(self.transport.value().startswith(b"FAIL this daemon serves /srv/proxy"))

    def test_mode_passed_on(self):
        self.proto.dataReceived(self.header(mode="read-only"))
        self.transport.clear()
        self.proto.dataReceived(b"VERSION 4\nPUT f " + KEY + b"\n")
        self.assertEqual(
            self.transport.value(), b"VERSION 4\nERROR this repository is read-only; write access denied\n"
        )


class AuthenticatorTests(unittest.TestCase):
    """
    The greeting comes from the front door's authenticator.
    """

    def test_interfaces(self):
        from annexrelay.frontdoor.auth import Preauthenticated, TokenAuthenticator
        from annexrelay.interfaces import IAuthenticator, IClientSession

        self.assertTrue(verifyObject(IAuthenticator, Preauthenticated(None, None)))
        self.assertTrue(verifyObject(IAuthenticator, TokenAuthenticator(lambda u, t: None)))
        self.assertTrue(verifyObject(IClientSession, RelayPair().session))

    def test_token_accepted(self):
        p = RelayPair(frontdoor="token", version=None)
        self.assertEqual(p.greeting, b"AUTH-SUCCESS " + NODE_UUID + b"\n")
        p.send(b"VERSION 4\n")
        self.assertEqual(p.take(), b"VERSION 4\n")

    def _session(self, limiter=None, clock=None):
        from annexrelay.frontdoor.auth import TokenAuthenticator

        asked = []
        session = ClientSession(TokenAuthenticator(lambda u, t: asked.append((u, t)), limiter, clock=clock))
        client = StringTransport()
        session.makeConnection(client)
        self.assertEqual(client.value(), b"")
        return session, client, asked

    def test_wrong_token_may_retry_then_closed(self):
        """
        As git-annex's tor server, AUTH-FAILURE leaves the connection open
        for another try; the third wrong token closes it.
        """
        session, client, asked = self._session()
        for n in range(3):
            self.assertFalse(client.disconnecting)
            session.dataReceived(b"AUTH " + CLIENT_UUID + b" wrong%d\n" % n)
            self.assertEqual(client.value(), b"AUTH-FAILURE\n")
            client.clear()
        self.assertTrue(client.disconnecting)
        self.assertEqual(session.done.result, "authentication failed")
        self.assertIsNone(session.target)
        self.assertEqual(asked, [(CLIENT_UUID, b"wrong%d" % n) for n in range(3)])

    def test_no_auth(self):
        """
        Before AUTH: a parsable message is unexpected, an unparsable one
        unknown; neither counts as a try.
        """
        session, client, asked = self._session()
        session.dataReceived(b"VERSION 4\n")
        self.assertEqual(client.value(), b"ERROR unexpected command\n")
        client.clear()
        session.dataReceived(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(client.value(), b"ERROR unexpected command\n")
        client.clear()
        session.dataReceived(b"NONSENSE\n")
        self.assertEqual(client.value(), b"ERROR unknown command\n")
        self.assertFalse(client.disconnecting)
        self.assertEqual(asked, [])

    def test_client_error_before_auth_ends(self):
        session, client, asked = self._session()
        session.dataReceived(b"ERROR auth failed\n")
        self.assertTrue(client.disconnecting)
        self.assertEqual(session.done.result, "authentication failed")

    def test_failures_held_back(self):
        """
        Past the limiter's burst, AUTH-FAILURE comes only when the clock
        says so, whichever connection the failures come on.
        """
        from twisted.internet.task import Clock

        from annexrelay.frontdoor.auth import FailureLimiter

        clock = Clock()
        limiter = FailureLimiter(clock, rate=0.5, burst=2)
        first, c1, _ = self._session(limiter, clock)
        first.dataReceived(b"AUTH " + CLIENT_UUID + b" a\n")
        first.dataReceived(b"AUTH " + CLIENT_UUID + b" b\n")
        self.assertEqual(c1.value(), b"AUTH-FAILURE\nAUTH-FAILURE\n")
        second, c2, _ = self._session(limiter, clock)
        second.dataReceived(b"AUTH " + CLIENT_UUID + b" c\n")
        self.assertEqual(c2.value(), b"")
        clock.advance(1.9)
        self.assertEqual(c2.value(), b"")
        clock.advance(0.1)
        self.assertEqual(c2.value(), b"AUTH-FAILURE\n")

    def test_limiter_refills(self):
        from twisted.internet.task import Clock

        from annexrelay.frontdoor.auth import FailureLimiter

        clock = Clock()
        limiter = FailureLimiter(clock, rate=1.0, burst=3)
        self.assertEqual([limiter.failed() for _ in range(4)], [0, 0, 0, 1.0])
        clock.advance(10)
        self.assertEqual(limiter.failed(), 0)


class ShellWordsTests(unittest.TestCase):
    """
    The shell's own splitting and header formatting (it avoids importing
    shlex and json on the path of a hand-over) agree with shlex and json.
    """

    @settings(max_examples=500, deadline=None)
    @given(st.text(alphabet="ab /'-_.:~ \"\\\t\u00e9", max_size=40))
    def test_split_as_shlex(self, cmd):
        try:
            expected = shlex.split(cmd)
        except ValueError:
            self.assertRaises(shell.ShellError, shell._split, cmd)
            return
        self.assertEqual(shell._split(cmd), expected)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.text(alphabet="ab /'-_.:~ ", max_size=12), max_size=6))
    def test_split_quoted_words(self, words):
        """
        git-annex quotes every word; a quote inside a word becomes '"'"'.
        """
        self.assertEqual(shell._split(" ".join(shlex.quote(w) for w in words)), words)

    def test_git_annex_command(self):
        self.assertEqual(
            shell._unwrap(["-c", "git-annex-shell 'p2pstdio' '/srv/my repo' 'c1a2' '--uuid' 'n1u'"])[0],
            ["p2pstdio", "/srv/my repo", "c1a2", "--uuid", "n1u"],
        )

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.text(), st.text(), max_size=5))
    def test_header_is_json(self, header):
        line = shell._json_line(header)
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(json.loads(line), header)

    def test_header_undecodable_path(self):
        """
        A path with bytes that are not UTF-8 (surrogate escapes) arrives as
        the daemon's json reads it from json.dumps.
        """
        header = {"directory": "/srv/a\udcff\U0001f600"}
        self.assertEqual(json.loads(shell._json_line(header)), json.loads(json.dumps(header)))
