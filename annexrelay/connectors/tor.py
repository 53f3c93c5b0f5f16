"""
Reaching a node whose URL is C{tor-annex::ONION:PORT}: a stream through the
tor's SOCKS port (C{--tor-socks}, default 127.0.0.1:9050, as git-annex
uses) with txtorcon's client endpoint, then C{AUTH <proxy uuid> <token>}
with the token the proxy repository holds for that onion, where
C{git annex p2p --link} put it: C{.git/annex/creds/<onion, escaped>}.
Pooling, laziness and failover are the pool's and the targets', as for
any node.
"""

import os
import string

from zope.interface import implementer
from twisted.internet import defer
from twisted.internet.endpoints import clientFromString
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from annexrelay.deadline import Deadline
from annexrelay.interfaces import INodeConnector
from annexrelay.nodeside import NodeConnection, NodeError

DEFAULT_SOCKS = "tcp:127.0.0.1:9050"
_PLAIN = set(string.ascii_letters + string.digits)

log = Logger()


def onion_port(url: str):
    """
    C{(onion, port)} of a C{tor-annex::ONION:PORT} URL.

    @raise ValueError: if it is not one.
    """
    if not url.startswith("tor-annex::"):
        raise ValueError("not a tor-annex URL: %s" % (url,))
    rest = url[len("tor-annex::") :].rsplit("/", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("tor-annex URL without ONION:PORT: %s" % (url,))
    return host, int(port)


def creds_name(address: str) -> str:
    """
    The file name git-annex stores an address's token under: every
    character but ASCII letters and digits percent-encoded.
    """
    return "".join(c if c in _PLAIN else "".join("%%%02X" % b for b in c.encode("utf-8")) for c in address)


@implementer(INodeConnector)
class TorConnector:
    """
    @param socks: a client endpoint string for the tor's SOCKS port.
    """

    timeout = 120

    def __init__(self, reactor, repository, socks=DEFAULT_SOCKS):
        self.reactor = reactor
        self.repository = repository
        self.socks = socks

    def token(self, onion):
        path = os.path.join(self.repository.gitDir, "annex", "creds", creds_name(onion))
        try:
            with open(path) as f:
                return f.read().strip(), path
        except OSError:
            return None, path

    def connect(self, node, version, bypass=()):
        return defer.ensureDeferred(self._connect(node, version, bypass))

    async def _connect(self, node, version, bypass):
        import txtorcon

        where = "cannot reach node %s (%s)" % (node.name, node.url)
        try:
            onion, port = onion_port(node.url)
        except ValueError as e:
            raise NodeError("%s: %s" % (where, e))
        token, path = self.token(onion)
        if not token:
            raise NodeError("%s: no token in %s (link it with 'git annex p2p --link')" % (where, path))
        conn = NodeConnection(node)
        endpoint = txtorcon.TorClientEndpoint(
            onion, port, socks_endpoint=clientFromString(self.reactor, self.socks), tls=False, reactor=self.reactor
        )
        attempt = defer.ensureDeferred(self._open(endpoint, conn, version, bypass, token))
        try:
            with Deadline(self.reactor, self.timeout, attempt.cancel):
                await attempt
        except defer.CancelledError:
            conn.abort()
            raise NodeError("%s: no answer through tor %s in %d s" % (where, self.socks, self.timeout))
        except NodeError as e:
            conn.abort()
            raise NodeError("%s: %s" % (where, e))
        except Exception as e:
            conn.abort()
            raise NodeError("%s: through tor %s: %s" % (where, self.socks, str(e) or e.__class__.__name__))
        log.debug("connected to node {node} through tor at version {v}", node=node.name, v=conn.version)
        return conn

    async def _open(self, endpoint, conn, version, bypass, token):
        await endpoint.connect(Factory.forProtocol(lambda: conn))
        await conn.handshake(version, bypass, auth=(self.repository.uuid, token.encode("ascii")))
