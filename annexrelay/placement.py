"""
Which nodes of a cluster serve a request, as pure functions of the
gateway's configuration and its git-annex branch.

A L{ClusterView} is one session's picture of a cluster: its nodes (the
configured node remotes that C{cluster.log} lists and C{trust.log} does
not mark dead, plus the same cluster through other gateways not in the
session's BYPASS set), their costs, and their preferred content.  From a
key's holders (the location log) it answers:
 - L{ClusterView.holding}: the nodes to read from, cheapest first, in random
   order among equal costs (GET, CHECKPRESENT, LOCKCONTENT fail over down
   this list);
 - L{ClusterView.putCandidates}: the nodes to store on: those not holding
   the key whose preferred content wants it; if none, all not holding it;
   if none, all nodes.
"""

import random
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from annexrelay import uuidlogs
from annexrelay.preferred import Subject, wanting
from annexrelay.repo import Cluster, Node, is_cluster_uuid

def key_size(key: bytes) -> Optional[int]:
    """
    The size a key records (C{-sN} field), or None.
    """
    fields = key.split(b"--", 1)[0]
    for part in fields.split(b"-")[1:]:
        if part[:1] == b"s" and part[1:].isdigit():
            return int(part[1:])
    return None


def by_cost(nodes: Iterable[Node], rng: random.Random) -> List[Node]:
    """
    Cheapest first; nodes of equal cost in random order.
    """
    nodes = list(nodes)
    rng.shuffle(nodes)
    return sorted(nodes, key=lambda n: n.cost)


class ClusterView:
    """
    @param cluster: the L{Cluster} from the gateway's configuration.
    @param files: branch file name -> content (L{uuidlogs.ALL}).
    @param bypass: the UUIDs the client asked to bypass (loop prevention).
    @param me: the gateway repository's UUID.
    @ivar nodes: the nodes serving this session.
    @ivar skipped: C{(node name, reason)} for configured nodes left out.
    """

    def __init__(self, cluster: Cluster, files: Dict[bytes, bytes], bypass: Iterable[bytes], me: bytes, rng=None):
        self.cluster = cluster
        self.rng = rng or random.Random()
        listed = uuidlogs.cluster_nodes(files.get(uuidlogs.CLUSTER_LOG, b""), cluster.uuid)
        dead = uuidlogs.dead(files.get(uuidlogs.TRUST_LOG, b""))
        bypass = set(bypass)
        self.skipped: List[Tuple[str, str]] = []
        nodes = []
        for n in cluster.nodes:
            if n.uuid in dead:
                self.skipped.append((n.name, "marked dead"))
            elif n.uuid not in listed:
                self.skipped.append((n.name, "not in cluster.log (run 'git annex updatecluster')"))
            elif n.uuid in bypass:
                self.skipped.append((n.name, "bypassed by the client"))
            else:
                nodes.append(n)
        for g in cluster.gateways:
            if g.via == me or g.via in bypass:
                self.skipped.append((g.name, "gateway already on this path"))
            else:
                nodes.append(g)
        self.nodes = nodes
        local = {n.uuid for n in cluster.nodes}
        # Nodes reached only through other gateways: a key they hold is
        # served by those gateways.
        self.remoteNodes: FrozenSet[bytes] = frozenset(listed - local - dead)
        self.groups = uuidlogs.groups(files.get(uuidlogs.GROUP_LOG, b""))
        self.expressions = uuidlogs.preferred_content(files.get(uuidlogs.PREFERRED_CONTENT_LOG, b""))
        self.groupExpressions = uuidlogs.group_preferred_content(files.get(uuidlogs.GROUP_PREFERRED_CONTENT_LOG, b""))

    def _holds(self, node: Node, holders: Set[bytes]) -> bool:
        if node.via:
            return bool(holders & self.remoteNodes)
        return node.uuid in holders

    def holding(self, holders: Set[bytes]) -> List[Node]:
        """
        The nodes the location log says have the key, in the order to try;
        then other gateways to the cluster that the log does not credit
        (they know their own nodes), as a last resort.
        """
        first = by_cost((n for n in self.nodes if self._holds(n, holders)), self.rng)
        rest = by_cost((n for n in self.nodes if n.via and n not in first), self.rng)
        return first + rest

    def putCandidates(
        self, holders: Set[bytes], file: Optional[str], size: Optional[int]
    ) -> Tuple[List[Node], Dict[str, Set[str]]]:
        """
        The nodes to send a PUT to, in cost order, and per node name the
        preferred content terms that could not be evaluated (such a node
        counts as wanting the key).
        """
        lacking = [n for n in self.nodes if not self._holds(n, holders)]
        present = frozenset(u for u in holders if not is_cluster_uuid(u))

        def subject(uuid):
            return Subject(
                file,
                size,
                present,
                lambda u: self.groups.get(u, set()),
                uuid,
                self.groupExpressions.get,
            )

        # Other gateways have no preferred content of their own: their nodes
        # decide behind them.
        exprs = {n.uuid: self.expressions.get(n.uuid) for n in lacking if not n.via}
        want, unknown = wanting(exprs, subject)
        want = set(want)
        chosen = [n for n in lacking if n.via or n.uuid in want]
        if not chosen:
            chosen = lacking or list(self.nodes)
        names = {n.uuid: n.name for n in self.nodes}
        return by_cost(chosen, self.rng), {names[u]: terms for u, terms in unknown.items() if u in names}
