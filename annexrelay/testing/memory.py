"""
In-memory peers for tier-2 tests: a relay session whose client and node
transports are L{StringTransport}s, driven byte by byte.
"""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from annexrelay.clientside import ClientSession
from annexrelay.requests import Mode
from annexrelay.frontdoor.auth import Preauthenticated
from annexrelay.nodeside import NodeConnection, NodeError
from annexrelay.repo import Node
from annexrelay.streams import Streams
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


class RecordingJournal:
    """
    Stands in for a local node's journal (L{annexrelay.localnode.journalling.NodeJournal}).
    """

    def __init__(self):
        self.records = []

    async def record(self, key, uuid, present):
        self.records.append((key, uuid, present))

    def close(self):
        return defer.succeed(None)


class MemoryPool:
    """
    A node pool whose connections are StringTransports; the test plays the
    node by feeding bytes to C{self.conns[-1]}.
    """

    def __init__(self, nodeVersion=4, reachable=True):
        self.nodeVersion = nodeVersion
        self.reachable = reachable
        self.unreachable = set()
        self.conns = []
        self.released = []
        self.acquired = []
        self.discarded = []

    def acquire(self, node, version, bypass=()):
        self.acquired.append((node.name, version, tuple(sorted(bypass))))
        if not self.reachable or node.name in self.unreachable:
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

    def conn(self, name):
        """
        The newest connection to the node called C{name}.
        """
        for conn in reversed(self.conns):
            if conn.node.name == name:
                return conn
        raise KeyError(name)

    def release(self, conn):
        self.released.append(conn)

    def discard(self, node):
        self.discarded.append(node.name)


CLIENT_UUID = b"c1c1c1c1-0000-4000-8000-000000000000"
TOKEN = b"s3cret0token"
FRONT_DOORS = ("session", "handover", "token")


class _OneNodeRepository:
    """
    The proxy repository of a L{RelayPair}: one proxied remote.
    """

    path = "/srv/proxy"
    uuid = b"5be33b88-f077-4dfa-8ff3-5e8cde6218ce"

    def __init__(self, node):
        self.node = node
        self.nodes = {node.uuid: node}
        self.clusters = {}

    def target(self, uuid):
        return self.node if uuid == self.node.uuid else None

    def cluster(self, uuid):
        return None


class RelayPair:
    """
    A client session to one proxied remote, all in memory, opened through
    one of the L{FRONT_DOORS}:
     - C{session}: a L{ClientSession} on the client's transport, greeted at
       once (as after ssh);
     - C{handover}: the daemon's hand-over protocol, the session carried in
       band after the shell's header;
     - C{token}: the client opens with C{AUTH <uuid> <token>}.
    """

    def __init__(
        self, mode=Mode.READ_WRITE, nodeVersion=4, reachable=True, version=4, frontdoor="session", metrics=None, quota=None, sizes=None,
        local=None,
    ):
        # local: the node as a LocalNode (--local-store; the "session" door).
        self.local = local
        # quota, sizes: the core's (the handover door only).
        self.metrics = metrics
        self.quota, self.sizes = quota, sizes
        self.node = Node("n1", NODE_UUID, "/srv/n1")
        self.pool = MemoryPool(nodeVersion, reachable)
        self.log = RecordingLog()
        self.client = StringTransport()
        getattr(self, "_open_" + frontdoor)(mode)
        self.target = self.session.target
        if version is not None:
            self.send(b"VERSION %d\n" % version)
            self.take()

    def _open_session(self, mode):
        target = ProxiedRemote(self.node, self.pool, self.log, Streams(), local=self.local)
        self.session = ClientSession(Preauthenticated(target, mode), metrics=self.metrics)
        self.session.makeConnection(self.client)
        self.greeting = self.take()

    def _open_handover(self, mode):
        import json

        from annexrelay.core import RelayCore
        from annexrelay.frontdoor.ssh.handover import HandoverProtocol

        self.clock = Clock()
        self.core = core = RelayCore(
            self.clock, _OneNodeRepository(self.node), self.pool, self.log, None, Streams(), lambda: 0, sizes=self.sizes
        )
        core.quota = self.quota
        self.handover = HandoverProtocol(core)
        self.handover.makeConnection(self.client)
        header = {"command": "p2pstdio", "client": CLIENT_UUID.decode(), "target": NODE_UUID.decode(), "mode": mode.value}
        self.handover.dataReceived(json.dumps(header).encode() + b"\n")
        ok, _, self.greeting = self.take().partition(b"\n")
        assert ok == b"OK", ok
        self.session = self.handover._session

    def _open_token(self, mode):
        from annexrelay.frontdoor.auth import Grant, TokenAuthenticator

        target = ProxiedRemote(self.node, self.pool, self.log, Streams())

        def check(uuid, token):
            return Grant(target, mode) if (uuid, token) == (CLIENT_UUID, TOKEN) else None

        self.session = ClientSession(TokenAuthenticator(check))
        self.session.makeConnection(self.client)
        assert self.take() == b""
        self.send(b"AUTH " + CLIENT_UUID + b" " + TOKEN + b"\n")
        self.greeting = self.take()

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


CLUSTER_UUID = b"ac36e849-d083-8884-bd91-5d895d2dbfd8"
GATEWAY_UUID = b"5be33b88-f077-4dfa-8ff3-5e8cde6218ce"
NODE_UUIDS = {
    "n1": b"11111111-1ddd-4f1a-a22c-16b82487267f",
    "n2": b"22222222-1247-44c7-9e16-7a903abc3fc7",
    "n3": b"33333333-e29f-45fa-bd52-824b160e6907",
}


class FakeBranch:
    """
    Stands in for the branch reader: holders per key, and branch files.
    """

    def __init__(self, files=None):
        self.holding = {}
        self.files = dict(files or {})

    def read(self, paths):
        return defer.succeed({p: self.files.get(p, b"") for p in paths})

    def holders(self, key, extra=()):
        return defer.succeed((set(self.holding.get(key, ())), {p: self.files.get(p, b"") for p in extra}))


class ClusterPair:
    """
    A client session to a cluster of nodes C{n1..nN} (costs 100, 200, 300…
    unless given), all in memory.
    """

    def __init__(self, nodes=3, version=4, costs=None, files=None, gateways=(), localFor=None):
        from annexrelay.repo import Cluster
        from annexrelay.targets.cluster import ClusterGateway

        names = ["n%d" % i for i in range(1, nodes + 1)]
        costs = costs or [100.0 * i for i in range(1, nodes + 1)]
        self.nodes = {n: Node(n, NODE_UUIDS[n], "/srv/" + n, cost=c) for n, c in zip(names, costs)}
        self.cluster = Cluster("c1", CLUSTER_UUID, tuple(self.nodes.values()), tuple(gateways))
        listed = b" ".join(sorted(NODE_UUIDS[n] for n in names))
        allFiles = {b"cluster.log": b"1795571688s " + CLUSTER_UUID + b" " + listed + b"\n"}
        allFiles.update(files or {})
        self.branch = FakeBranch(allFiles)
        self.pool = MemoryPool()
        self.log = RecordingLog()
        self.clock = [1000]
        self.reactor = Clock()
        self.target = ClusterGateway(
            self.cluster, GATEWAY_UUID, self.pool, self.log, self.branch, self.reactor, lambda: self.clock[0], Streams(),
            localFor=localFor,
        )
        self.session = ClientSession(Preauthenticated(self.target, Mode.READ_WRITE))
        self.client = StringTransport()
        self.session.makeConnection(self.client)
        self.greeting = self.take()
        if version is not None:
            self.send(b"VERSION %d\n" % version)
            self.take()

    def send(self, data):
        self.session.dataReceived(data)

    def take(self):
        v = self.client.value()
        self.client.clear()
        return v

    def conn(self, name):
        return self.pool.conn(name)

    def nodeSays(self, name, data):
        self.conn(name).dataReceived(data)

    def nodeGot(self, name):
        t = self.conn(name).transport
        v = t.value()
        t.clear()
        return v

    def connected(self):
        return sorted({c.node.name for c in self.pool.conns})
