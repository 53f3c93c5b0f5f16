"""
In-memory peers for tier-2 tests: a relay session whose client and node
transports are L{StringTransport}s, driven byte by byte.
"""

from twisted.internet import defer
from twisted.internet.testing import StringTransport

from annexrelay.clientside import ClientSession, Mode
from annexrelay.nodeside import NodeConnection, NodeError
from annexrelay.repo import Node
from annexrelay.targets.proxied import ProxiedRemote

NODE_UUID = b"0b531efe-1ddd-4f1a-a22c-16b82487267f"
KEY = b"SHA256E-s10--84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882.txt"


class RecordingLog:
    """
    Stands in for the location log writer.
    """

    def __init__(self):
        self.records = []

    def record(self, key, uuid, present):
        self.records.append((key, uuid, present))


class MemoryPool:
    """
    A node pool whose connections are StringTransports; the test plays the
    node by feeding bytes to C{self.conns[-1]}.
    """

    def __init__(self, nodeVersion=4, reachable=True):
        self.nodeVersion = nodeVersion
        self.reachable = reachable
        self.conns = []
        self.released = []

    def acquire(self, node, version, bypass=()):
        if not self.reachable:
            return defer.fail(NodeError("cannot reach node %s (%s): gone" % (node.name, node.url)))
        conn = NodeConnection(node)
        conn.makeConnection(StringTransport())
        d = conn.handshake(version, bypass)
        conn.dataReceived(b"AUTH-SUCCESS " + node.uuid + b"\n")
        if version:
            conn.dataReceived(b"VERSION %d\n" % min(version, self.nodeVersion))
        conn.transport.clear()
        self.conns.append(conn)
        return d

    # It also serves as the connector of a real NodePool.
    connect = acquire

    def release(self, conn):
        self.released.append(conn)


class RelayPair:
    """
    A client session to one proxied remote, all in memory.
    """

    def __init__(self, mode=Mode.READ_WRITE, nodeVersion=4, reachable=True, version=4):
        self.node = Node("n1", NODE_UUID, "/srv/n1")
        self.pool = MemoryPool(nodeVersion, reachable)
        self.log = RecordingLog()
        self.target = ProxiedRemote(self.node, self.pool, self.log)
        self.session = ClientSession(self.target, mode)
        self.client = StringTransport()
        self.session.makeConnection(self.client)
        self.greeting = self.take()
        if version is not None:
            self.send(b"VERSION %d\n" % version)
            self.take()

    @property
    def nodeConn(self):
        return self.pool.conns[-1]

    def send(self, data):
        """
        Bytes from the client.
        """
        self.session.dataReceived(data)

    def nodeSays(self, data):
        self.nodeConn.dataReceived(data)

    def take(self):
        """
        What the client received since last asked.
        """
        v = self.client.value()
        self.client.clear()
        return v

    def nodeGot(self):
        """
        What the node received since last asked.
        """
        t = self.nodeConn.transport
        v = t.value()
        t.clear()
        return v
