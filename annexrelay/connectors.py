"""
Reaching nodes, and keeping idle connections to them for reuse.

L{ProcessConnector} starts C{git-annex-shell p2pstdio} for a node (locally
for a path, through OpenSSH for an ssh URL, so the user's ssh config
applies).  The relay sees its stdin and stdout pipes as one stream transport
(L{ProcessTransport}), read 64 KiB at a time, and pipes let payloads be
spliced without copying.  Its stderr is kept to explain failures.

L{NodePool} hands out handshaken L{NodeConnection}s: it connects lazily,
the first time a request needs the node, reuses idle connections across
client sessions, and closes them after an idle timeout.
"""

import functools
import os

from zope.interface import Interface, implementer
from twisted.internet import defer, error
from twisted.internet.interfaces import IConsumer, IPushProducer, ITransport
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from annexrelay.fastwrite import readWide
from annexrelay.nodeside import NodeConnection, NodeError

log = Logger()

_STDERR_KEEP = 4096


class INodeConnector(Interface):
    """
    Makes a transport to a node and runs the handshake on it.
    """

    def connect(node, version, bypass):
        """
        @return: a L{Deferred} firing with a handshaken L{NodeConnection}, or
            failing with L{NodeError} saying why the node is unreachable.
        """


@implementer(ITransport, IPushProducer, IConsumer)
class ProcessTransport:
    """
    A node process's stdin and stdout seen as one stream transport.  Its
    C{_reader}/C{_writer} are the pipe descriptors, which is what
    L{annexrelay.splicing} and L{annexrelay.fastwrite} look for.
    """

    disconnecting = False

    def __init__(self, process):
        self.process = process

    @property
    def _reader(self):
        return self.process.pipes.get(1)

    @property
    def _writer(self):
        return self.process.pipes.get(0)

    def write(self, data):
        self.process.write(data)

    def writeSequence(self, seq):
        self.process.writeSequence(seq)

    def loseConnection(self):
        self.disconnecting = True
        self.process.closeStdin()

    def abortConnection(self):
        """
        Close every pipe to the process and kill it, so nothing it started
        keeps the session alive.
        """
        self.disconnecting = True
        for fd in (0, 1, 2):
            self.process.closeChildFD(fd)
        try:
            self.process.signalProcess("KILL")
        except error.ProcessExitedAlready:
            pass

    def getPeer(self):
        return self.process.getPeer()

    def getHost(self):
        return self.process.getHost()

    def pauseProducing(self):
        if self._reader is not None:
            self._reader.pauseProducing()

    def resumeProducing(self):
        if self._reader is not None:
            self._reader.resumeProducing()

    def stopProducing(self):
        self.loseConnection()

    def registerProducer(self, producer, streaming):
        self.process.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self.process.unregisterProducer()


class _NodeProcess(ProcessProtocol):
    """
    Connects a node's process to its L{NodeConnection}, and keeps the tail
    of its stderr to explain failures.
    """

    def __init__(self, conn):
        self.conn = conn
        self.stderr = b""
        self.ended = defer.Deferred()
        self._lost = False

    def connectionMade(self):
        reader = self.transport.pipes.get(1)
        if reader is not None:
            reader.doRead = functools.partial(readWide, reader)
        self.conn.makeConnection(ProcessTransport(self.transport))

    def childDataReceived(self, fd, data):
        if fd == 1:
            self.conn.dataReceived(data)
        else:
            self.stderr = (self.stderr + data)[-_STDERR_KEEP:]

    def childConnectionLost(self, fd):
        if fd == 1:
            self._loseConn(Failure(error.ConnectionDone()))

    def _loseConn(self, reason):
        if not self._lost:
            self._lost = True
            self.conn.connectionLost(reason)

    def processEnded(self, reason):
        self._loseConn(reason)
        self.ended.callback(reason.value)


@implementer(INodeConnector)
class ProcessConnector:
    """
    Reach a node by running its C{git-annex-shell p2pstdio}.

    @param commandFor: a callable from L{Node} to the argv to run.
    """

    timeout = 60

    def __init__(self, reactor, commandFor):
        self.reactor = reactor
        self.commandFor = commandFor

    def connect(self, node, version, bypass=()):
        return defer.ensureDeferred(self._connect(node, version, bypass))

    async def _connect(self, node, version, bypass):
        argv = self.commandFor(node)
        conn = NodeConnection(node)
        pp = _NodeProcess(conn)
        try:
            conn.process = self.reactor.spawnProcess(
                pp, argv[0], argv, env=os.environ, childFDs={0: "w", 1: "r", 2: "r"}
            )
        except OSError as e:
            raise NodeError("node %s: cannot run %s: %s" % (node.name, argv[0], e))
        conn.processEnded = pp.ended
        timer = self.reactor.callLater(self.timeout, conn.abort)
        try:
            await conn.handshake(version, bypass)
        except Exception as e:
            conn.abort()
            await pp.ended
            why = pp.stderr.decode("utf-8", "replace").strip().replace("\n", " | ")
            if not why:
                why = str(e) if not isinstance(e, error.ConnectionDone) else "connection closed"
            raise NodeError("cannot reach node %s (%s): %s" % (node.name, node.url, why))
        finally:
            if timer.active():
                timer.cancel()
        conn.stderrSource = pp
        log.debug("connected to node {node} at version {v}", node=node.name, v=conn.version)
        return conn


class NodePool:
    """
    Idle node connections, keyed by node, protocol version and BYPASS set.

    @param idleTimeout: seconds an unused connection is kept open.
    """

    def __init__(self, clock, connector, idleTimeout=60.0):
        self.clock = clock
        self.connector = connector
        self.idleTimeout = idleTimeout
        self._idle = {}  # key -> list of (conn, timer)
        self.opened = 0

    def acquire(self, node, version, bypass=()):
        """
        @return: a L{Deferred} firing with a L{NodeConnection} for the caller
            alone until it is given back with L{release}.
        """
        key = (node.uuid, node.url, version, tuple(sorted(bypass)))
        idle = self._idle.get(key)
        while idle:
            conn, timer, watcher = idle.pop()
            if timer.active():
                timer.cancel()
            watcher.cancel()
            if not conn.broken:
                return defer.succeed(conn)
        self.opened += 1
        return self.connector.connect(node, version, bypass)

    def release(self, conn):
        """
        Take C{conn} back; it is kept for reuse if it is healthy, until the
        idle timeout or until it dies.
        """
        if conn.broken or self.idleTimeout <= 0:
            conn.close()
            return
        key = (conn.node.uuid, conn.node.url, conn.requestedVersion, conn.bypass)
        idle = self._idle.setdefault(key, [])

        def forget(close):
            for entry in idle:
                if entry[0] is conn:
                    idle.remove(entry)
                    entry[2].cancel()
                    if entry[1].active():
                        entry[1].cancel()
                    break
            if close:
                conn.close()

        timer = self.clock.callLater(self.idleTimeout, forget, True)
        watcher = conn.whenLost()
        watcher.addCallbacks(lambda _: forget(False), lambda f: f.trap(defer.CancelledError))
        idle.append((conn, timer, watcher))

    def idleCount(self):
        return sum(len(v) for v in self._idle.values())

    def closeAll(self):
        """
        Close every idle connection (at shutdown).
        """
        for lst in self._idle.values():
            for conn, timer, watcher in lst:
                if timer.active():
                    timer.cancel()
                watcher.cancel()
                conn.close()
        self._idle.clear()


def describeFailure(f):
    if isinstance(f, Failure):
        return f.getErrorMessage()
    return str(f)
