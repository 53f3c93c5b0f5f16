"""
Tier 2: front doors: the shell's hand-over to the daemon.
"""

import json

from zope.interface.verify import verifyClass, verifyObject
from twisted.internet.interfaces import IFileDescriptorReceiver, IHalfCloseableProtocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial import unittest

from annexrelay.clientside import ClientSession
from annexrelay.repo import Node
from annexrelay.core import RelayCore
from annexrelay.frontdoor.handover import HandoverProtocol
from annexrelay.streams import Streams
from tests.memory import CLIENT_UUID, KEY, NODE_UUID, MemoryPool, RecordingLog, RelayPair


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

    def _refused(self, first):
        from annexrelay.frontdoor.auth import TokenAuthenticator

        asked = []
        session = ClientSession(TokenAuthenticator(lambda u, t: asked.append((u, t))))
        client = StringTransport()
        session.makeConnection(client)
        self.assertEqual(client.value(), b"")
        session.dataReceived(first)
        self.assertEqual(client.value(), b"AUTH-FAILURE\n")
        self.assertTrue(client.disconnecting)
        self.assertEqual(session.done.result, "authentication failed")
        self.assertIsNone(session.target)
        return asked

    def test_wrong_token(self):
        asked = self._refused(b"AUTH " + CLIENT_UUID + b" wrong\n")
        self.assertEqual(asked, [(CLIENT_UUID, b"wrong")])

    def test_no_auth(self):
        self.assertEqual(self._refused(b"VERSION 4\n"), [])
        self.assertEqual(self._refused(b"CHECKPRESENT " + KEY + b"\n"), [])
