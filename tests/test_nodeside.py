"""
Tier 2: the node side of the relay (the P2P client role), in memory.
"""

from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from annexrelay.nodeside import NodeConnection, NodeError
from annexrelay.repo import Node
from annexrelay.testing.memory import CLIENT_UUID, NODE_UUID, TOKEN


class HandshakeTests(unittest.TestCase):
    def connect(self, **kw):
        conn = NodeConnection(Node("n1", NODE_UUID, "tor-annex::abc.onion:5555"))
        conn.makeConnection(StringTransport())
        return conn, conn.handshake(4, **kw)

    def test_plain(self):
        conn, d = self.connect()
        self.assertEqual(conn.transport.value(), b"")
        conn.dataReceived(b"AUTH-SUCCESS " + NODE_UUID + b"\n")
        self.assertEqual(conn.transport.value(), b"VERSION 4\n")
        conn.dataReceived(b"VERSION 3\n")
        self.assertIs(self.successResultOf(d), conn)
        self.assertEqual(conn.version, 3)

    def test_auth_with_token(self):
        conn, d = self.connect(auth=(CLIENT_UUID, TOKEN))
        self.assertEqual(conn.transport.value(), b"AUTH " + CLIENT_UUID + b" " + TOKEN + b"\n")
        conn.transport.clear()
        conn.dataReceived(b"AUTH-SUCCESS " + NODE_UUID + b"\nVERSION 4\n")
        self.assertEqual(self.successResultOf(d).version, 4)

    def test_token_refused(self):
        conn, d = self.connect(auth=(CLIENT_UUID, b"wrong"))
        conn.dataReceived(b"AUTH-FAILURE\n")
        f = self.failureResultOf(d, NodeError)
        self.assertEqual(str(f.value), "node n1 refused the token (AUTH-FAILURE)")
