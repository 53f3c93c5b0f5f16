"""
Reaching a node by running its C{git-annex-shell p2pstdio}: locally for a
path, through OpenSSH for an ssh URL (so the user's ssh config applies),
and for a special remote of the proxy repository, git-annex's own proxy
for it (C{git-annex-shell p2pstdio PROXY PROXYUUID --uuid REMOTEUUID}).

The relay sees the process's stdin and stdout pipes as one stream transport
(L{annexrelay.streams.kernel.ProcessTransport}), read 64 KiB at a time, and
pipes let payloads be spliced without copying.  Its stderr is kept to
explain failures.
"""

import os

from zope.interface import implementer
from twisted.internet import defer, error
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from annexrelay.connectors import urls
from annexrelay.deadline import Deadline
from annexrelay.interfaces import INodeConnector
from annexrelay.nodeside import NodeConnection, NodeError
from annexrelay.paths import real_git_annex_shell
from annexrelay.streams.kernel import ProcessTransport, widenReads

log = Logger()

_STDERR_KEEP = 4096


class _NodeProcess(ProcessProtocol):
    """
    Connects a node's process to its L{NodeConnection}, and keeps the tail
    of its stderr to explain failures.
    """

    def __init__(self, conn, clock):
        self.conn = conn
        self.clock = clock
        self.stderr = b""
        self.ended = defer.Deferred()
        self._lost = False
        self._pipes = None

    def connectionMade(self):
        reader = self.transport.pipes.get(1)
        if reader is not None:
            widenReads(reader)
        self._pipes = ProcessTransport(self.transport, self.clock)
        self.conn.makeConnection(self._pipes)

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
        if self._pipes is not None:
            self._pipes.processEnded()
        self._loseConn(reason)
        self.ended.callback(reason.value)


@implementer(INodeConnector)
class ProcessConnector:
    """
    Reach a node by running its C{git-annex-shell p2pstdio}.

    @param commandFor: a callable from L{annexrelay.repo.Node} to the argv
        to run (L{nodeCommand} for a proxy repository's nodes).
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
        pp = _NodeProcess(conn, self.reactor)
        try:
            self.reactor.spawnProcess(pp, argv[0], argv, env=os.environ, childFDs={0: "w", 1: "r", 2: "r"})
        except OSError as e:
            raise NodeError("node %s: cannot run %s: %s" % (node.name, argv[0], e))
        conn.ranAs(pp.ended, lambda: pp.stderr)
        try:
            with Deadline(self.reactor, self.timeout, conn.abort):
                await conn.handshake(version, bypass)
        except Exception as e:
            conn.abort()
            await pp.ended
            why = pp.stderr.decode("utf-8", "replace").strip().replace("\n", " | ")
            if not why:
                why = str(e) if not isinstance(e, error.ConnectionDone) else "connection closed"
            raise NodeError("cannot reach node %s (%s): %s" % (node.name, node.url, why))
        log.debug("connected to node {node} at version {v}", node=node.name, v=conn.version)
        return conn


class GitServices:
    """
    Runs git's own services on a repository (C{git upload-pack},
    C{git receive-pack}) for the repository target's C{CONNECT}: the
    target gets the process's stdin as a transport to relay into, and its
    protocol gets the output.
    """

    def __init__(self, reactor):
        self.reactor = reactor

    def run(self, service, path, protocol):
        """
        Start C{service} (C{git-upload-pack} or C{git-receive-pack}) on the
        repository at C{path}, its output and exit going to C{protocol}.

        @return: a transport onto the process's stdin.
        """
        argv = ["git", service[len("git-") :], path]
        proc = self.reactor.spawnProcess(protocol, "git", argv, path=path, childFDs={0: "w", 1: "r", 2: "r"})
        return ProcessTransport(proc)


def nodeCommand(repository, node):
    """
    The argv that starts a P2P session with C{node} of C{repository}:
    C{git-annex-shell p2pstdio} run locally for a path, or through ssh for
    an ssh URL.
    """
    proxy = repository.uuid.decode()
    if node.special:
        # git-annex's own proxy in the proxy repository serves its special
        # remotes (chunked, encrypted, exporttree, ...) over P2P; it must be
        # the real git-annex-shell, never annexrelay-shell under that name.
        shell = real_git_annex_shell() or "git-annex-shell"
        return [shell, "p2pstdio", repository.path, proxy, "--uuid", node.uuid.decode()]
    if urls.kind(node.url) == urls.SSH:
        where = urls.ssh_location(node.url)
        argv = ["ssh"]
        if where.port:
            argv += ["-p", where.port]
        argv += list(node.sshOptions)
        argv += ["-T", where.host]
        remote = "%s 'p2pstdio' %s '%s' --uuid %s" % (node.shell, urls.shell_quote(where.path), proxy, node.uuid.decode())
        return argv + [remote]
    path = urls.local_path(node.url, repository.path)
    if node.via:
        return [node.shell, "p2pstdio", path, proxy, "--uuid", node.uuid.decode()]
    return [node.shell, "p2pstdio", path, proxy]
