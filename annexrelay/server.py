"""
The daemon's front door: sessions handed over by C{annexrelay-shell}.

The shell connects to a listener (by default the unix socket inside the
repository), sends one JSON header line naming the command, the client UUID,
the target UUID and the server mode, and, over a unix socket, its stdin and
stdout descriptors (SCM_RIGHTS).  The daemon answers one line:

 - C{OK}: the session is served; the relay reads and writes the handed-over
   descriptors directly (or, when none came, this very connection carries
   the P2P session).  When the session ends the daemon sends C{EXIT n}.
 - C{SELF}: the target is the repository itself; the shell runs the real
   git-annex-shell.
 - C{FAIL text}: the shell prints the text and exits 1.

L{RelayCore} holds what sessions share: the repository, the node pool and
the location log writer.
"""

import json
import os

from zope.interface import implementer
from twisted.internet import process
from twisted.internet.error import ConnectionAborted
from twisted.python.failure import Failure
from twisted.internet._posixstdio import StandardIO
from twisted.internet.interfaces import IFileDescriptorReceiver, IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from annexrelay.clientside import ClientSession, Mode
from annexrelay.fastwrite import readWide
from annexrelay.targets.cluster import ClusterGateway
from annexrelay.targets.proxied import ProxiedRemote

log = Logger()

_MAX_HEADER = 65536


class TargetUnknown(Exception):
    pass


class RelayCore:
    """
    What every session of one daemon shares.
    """

    def __init__(self, reactor, repository, pool, locationLog, branch=None, monotonic=None):
        self.reactor = reactor
        self.repository = repository
        self.pool = pool
        self.locationLog = locationLog
        self.branch = branch
        self.monotonic = monotonic
        self.sessions = 0

    def targetFor(self, uuid: bytes):
        """
        @return: an L{ITarget} for C{uuid} (a proxied remote or a cluster),
            or None when it is the repository itself, which git-annex-shell
            serves.
        @raise TargetUnknown: when this repository does not proxy C{uuid}.
        """
        repo = self.repository
        node = repo.target(uuid)
        if node is not None:
            return ProxiedRemote(node, self.pool, self.locationLog)
        cluster = repo.cluster(uuid)
        if cluster is not None:
            return ClusterGateway(cluster, repo.uuid, self.pool, self.locationLog, self.branch, self.reactor, self.monotonic)
        if uuid == repo.uuid:
            return None
        desc = repo.describe(uuid)
        if desc:
            raise TargetUnknown("not configured to proxy for repository %s" % (desc,))
        raise TargetUnknown(
            "expected repository UUID %s but found UUID %s" % (uuid.decode("utf-8", "replace"), repo.uuid.decode())
        )

    def session(self, target, mode, peer):
        self.sessions += 1
        return ClientSession(target, mode, peer="%s#%d" % (peer, self.sessions))


def makeCore(reactor, repository, idleTimeout=60.0, commitDelay=1.0, monotonic=None):
    """
    A L{RelayCore} for C{repository} with its node pool (nodes run as
    processes), location log writer and branch reader.
    """
    import time

    from annexrelay.branch import LocationLogWriter
    from annexrelay.branchreader import BranchReader
    from annexrelay.connectors import NodePool, ProcessConnector

    pool = NodePool(reactor, ProcessConnector(reactor, repository.nodeCommand), idleTimeout=idleTimeout)
    writer = LocationLogWriter(reactor, repository.path, delay=commitDelay)
    branch = BranchReader(reactor, repository.path, repository.gitDir, repository.onelevel, writer)
    return RelayCore(reactor, repository, pool, writer, branch, monotonic or time.monotonic)


class _Closable:
    """
    A half of a L{DescriptorTransport}: once the transport closed its
    descriptor, a late C{connectionLost} (the reactor disconnecting
    everything at shutdown) has nothing left to do.
    """

    closed = False

    def connectionLost(self, reason):
        if not self.closed:
            super().connectionLost(reason)


class _WideReader(_Closable, process.ProcessReader):
    """
    Reads a handed-over descriptor 64 KiB at a time rather than 8 KiB.
    """

    doRead = readWide


class _Writer(_Closable, process.ProcessWriter):
    pass


class DescriptorTransport(StandardIO):
    """
    A transport over two descriptors handed over by the shell (the ssh
    session's stdin and stdout).
    """

    def __init__(self, proto, stdin, stdout, reactor):
        self._fds = (stdin, stdout)
        self.protocol = proto
        self._writer = _Writer(reactor, self, "write", stdout)
        self._reader = _WideReader(reactor, self, "read", stdin)
        self._reader.startReading()
        self._halves = (self._reader, self._writer)
        self.protocol.makeConnection(self)

    def connectionLost(self, reason):
        """
        Unlike the process's own stdio, the descriptors are ours to close:
        the client sees the end of the session only when they are.
        """
        StandardIO.connectionLost(self, reason)
        for half in self._halves:
            half.closed = True
        fds, self._fds = self._fds, ()
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def abortConnection(self):
        """
        End the session now, dropping unsent output.
        """
        if self.disconnected:
            return
        for half in (self._reader, self._writer):
            if half is not None:
                half.stopReading()
                half.stopWriting()
        self.connectionLost(Failure(ConnectionAborted()))


@implementer(IFileDescriptorReceiver, IHalfCloseableProtocol)
class HandoverProtocol(Protocol):
    """
    One shell's hand-over of one session.
    """

    def __init__(self, core):
        self.core = core
        self._fds = []
        self._buffer = b""
        self._session = None
        self._inband = False

    def fileDescriptorReceived(self, descriptor):
        self._fds.append(descriptor)

    def dataReceived(self, data):
        if self._inband:
            self._session.dataReceived(data)
            return
        if self._session is not None:
            return  # nothing more is expected from the shell
        self._buffer += data
        if b"\n" not in self._buffer:
            if len(self._buffer) > _MAX_HEADER:
                self._fail("header too long")
            return
        line, _, rest = self._buffer.partition(b"\n")
        self._buffer = b""
        self._start(line, rest)

    def _fail(self, why):
        log.warn("refused a session: {why}", why=why)
        self.transport.write(b"FAIL " + why.encode("utf-8", "replace") + b"\n")
        self._closeFds()
        self.transport.loseConnection()

    def _closeFds(self):
        fds, self._fds = self._fds, []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def _start(self, line, rest):
        try:
            header = json.loads(line)
            command = header["command"]
            target = header["target"].encode("ascii")
            mode = Mode(header.get("mode", "read-write"))
            directory = header.get("directory")
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError) as e:
            self._fail("bad hand-over header: %s" % (e,))
            return
        if command != "p2pstdio":
            self._fail("cannot serve %s" % (command,))
            return
        repo = self.core.repository
        if directory and os.path.realpath(directory) != os.path.realpath(repo.path):
            self._fail("this daemon serves %s, not %s" % (repo.path, directory))
            return
        try:
            t = self.core.targetFor(target)
        except TargetUnknown as e:
            self._fail(str(e))
            return
        except Exception as e:
            log.failure("reading the repository configuration failed")
            self._fail("cannot read the repository configuration: %s" % (e,))
            return
        if t is None:
            self._closeFds()
            self.transport.write(b"SELF\n")
            self.transport.loseConnection()
            return
        peer = "client %s" % (header.get("client", "?"),)
        session = self.core.session(t, mode, peer)
        self._session = session
        session.done.addCallback(self._sessionDone)
        self.transport.write(b"OK\n")
        if len(self._fds) >= 2:
            stdin, stdout = self._fds[0], self._fds[1]
            for extra in self._fds[2:]:
                os.close(extra)
            self._fds = []
            DescriptorTransport(session, stdin, stdout, self.core.reactor)
        else:
            self._closeFds()
            self._inband = True
            session.makeConnection(self.transport)
            if rest:
                session.dataReceived(rest)

    def _sessionDone(self, reason):
        if not self._inband and self.transport is not None:
            self.transport.write(b"EXIT 0\n")
            self.transport.loseConnection()

    def readConnectionLost(self):
        if self._inband and self._session is not None:
            self._session.readConnectionLost()
        elif self._session is None or self._session.state == "closed":
            self.transport.loseConnection()
        # A shell that handed over descriptors and closed its side is gone:
        # its session goes on; the EXIT line is then simply not read.

    def writeConnectionLost(self):
        if self._inband and self._session is not None:
            self._session.writeConnectionLost()

    def connectionLost(self, reason):
        self._closeFds()
        if self._session is not None:
            if self._inband:
                self._session.connectionLost(reason)
            elif self._session.state != "closed":
                log.info("the shell of {peer} went away; ending its session", peer=self._session.peer)
                self._session.abort()


class HandoverFactory(Factory):
    def __init__(self, core):
        self.core = core

    def buildProtocol(self, addr):
        return HandoverProtocol(self.core)
