"""
Connectors: how the relay reaches a node, chosen by the node's URL.

 - L{annexrelay.connectors.process}: a path or an ssh URL, by running
   C{git-annex-shell p2pstdio} (locally or through OpenSSH); a special
   remote of the proxy repository through git-annex's own proxy for it;
 - L{annexrelay.connectors.tor}: a C{tor-annex::ONION:PORT} URL, through
   the tor's SOCKS port with the token C{git annex p2p --link} stored;
 - C{annex+http::} URLs are refused with a clear error until their
   connector exists;
 - L{annexrelay.connectors.pool}: idle connections kept for reuse;
 - L{annexrelay.connectors.urls}: what a URL says (pure).
"""

from zope.interface import implementer
from twisted.internet import defer

from annexrelay.connectors import urls
from annexrelay.connectors.process import ProcessConnector, nodeCommand
from annexrelay.connectors.tor import DEFAULT_SOCKS, TorConnector
from annexrelay.interfaces import INodeConnector
from annexrelay.nodeside import NodeError

_NOT_YET = {
    urls.P2PHTTP: "annex+http remotes are not supported as nodes yet",
    urls.OTHER: "this kind of URL cannot be a node",
}


@implementer(INodeConnector)
class NodeConnectors:
    """
    The connector for every node of a proxy repository: picks one by the
    node's URL.

    @param byKind: C{{urls kind: INodeConnector}}.
    """

    def __init__(self, byKind):
        self.byKind = dict(byKind)

    def connect(self, node, version, bypass=()):
        kind = urls.kind_of(node)
        connector = self.byKind.get(kind)
        if connector is None:
            why = _NOT_YET.get(kind, "no connector for %s URLs" % (kind,))
            return defer.fail(NodeError("cannot reach node %s (%s): %s" % (node.name, node.url, why)))
        return connector.connect(node, version, bypass)


def connectorsFor(reactor, repository, torSocks=DEFAULT_SOCKS):
    """
    The L{NodeConnectors} of C{repository}'s nodes.

    @param torSocks: the client endpoint string of the tor SOCKS port
        C{tor-annex::} nodes are reached through.
    """
    process = ProcessConnector(reactor, lambda node: nodeCommand(repository, node))
    return NodeConnectors(
        {
            urls.LOCAL: process,
            urls.SSH: process,
            urls.SPECIAL: process,
            urls.TOR_ANNEX: TorConnector(reactor, repository, torSocks),
        }
    )
