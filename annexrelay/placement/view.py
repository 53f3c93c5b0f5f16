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
The nodes' replies are combined into the gateway's by pure functions too
(L{put_answers}, L{stored_by}, L{put_reply}, L{remove_outcome},
L{remove_reply}).
"""

import random
import unicodedata
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from annexrelay.branch import uuidlogs
from annexrelay.branch import locationlog
from annexrelay.placement.expression import Subject, wanting
from annexrelay.repo import Cluster, Node, is_cluster_uuid

key_size = locationlog.key_size


def associated_file(af: bytes) -> Optional[str]:
    """
    The file name git-annex's gateway evaluates preferred content on, from
    a PUT's associated file field (P2P/Protocol.hs, C{deserialize}): the
    client wrote each whitespace character as C{%} and C{%} as C{%%}; the
    gateway reads C{%%} back as C{%}, a lone C{%} as C{_} (so C{a b.txt}
    is matched as C{a_b.txt}), and a control character as C{_}.  None for
    an empty field.
    """
    if not af:
        return None
    text = af.decode("utf-8", "surrogateescape")
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%":
            if text.startswith("%%", i):
                out.append("%")
                i += 2
                continue
            out.append("_")
        else:
            out.append("_" if unicodedata.category(c) == "Cc" else c)
        i += 1
    return "".join(out)


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
        self.trust = uuidlogs.trust_levels(files.get(uuidlogs.TRUST_LOG, b""))
        self.remoteConfig = uuidlogs.remote_config(files.get(uuidlogs.REMOTE_LOG, b""))
        self.numcopies = uuidlogs.numcopies(files.get(uuidlogs.NUMCOPIES_LOG, b""))
        # Group members as git-annex's group map has them: dead ones too
        # ('git annex dead' empties a repository's groups, but one can be
        # put in a group again).  They are never counted as holders.
        byGroup: Dict[str, Set[bytes]] = {}
        for u, gs in self.groups.items():
            for g in gs:
                byGroup.setdefault(g, set()).add(u)
        self.members = {g: frozenset(us) for g, us in byGroup.items()}
        self.expressions = uuidlogs.preferred_content(files.get(uuidlogs.PREFERRED_CONTENT_LOG, b""))
        self.groupExpressions = uuidlogs.group_preferred_content(files.get(uuidlogs.GROUP_PREFERRED_CONTENT_LOG, b""))
        self.maxsizes = uuidlogs.maxsizes(files.get(uuidlogs.MAXSIZE_LOG, b""))
        texts = list(self.expressions.values()) + list(self.groupExpressions.values())
        # Whether a PUT needs the key's metadata log read, or the
        # repositories' sizes counted.
        self.usesMetadata = any("metadata=" in t for t in texts)
        self.usesSizes = any("sizebalanced=" in t for t in texts) or (
            bool(self.maxsizes) and any("balanced=" in t for t in texts)
        )

    def _holds(self, node: Node, holders: Set[bytes]) -> bool:
        if node.via:
            return bool(holders & self.remoteNodes)
        return node.uuid in holders

    def mayHold(self, node: Node, holders: Set[bytes]) -> bool:
        """
        Whether C{node} may hold a key the location log says C{holders}
        hold: another gateway always may (it knows its own nodes).
        """
        return bool(node.via) or node.uuid in holders

    def holdingNodes(self, holders: Set[bytes]) -> List[Node]:
        """
        The cluster's own nodes the location log credits with the key.
        """
        return [n for n in self.nodes if not n.via and n.uuid in holders]

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
        self, holders: Set[bytes], file: Optional[str], size: Optional[int], key: bytes = b"", metadata=None, sizes=None
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
                key,
                lambda g: self.members.get(g, frozenset()),
                lambda u: self.trust.get(u, uuidlogs.SEMITRUSTED),
                self.numcopies,
                metadata or {},
                self.remoteConfig.get(uuid, {}).get("preferreddir", "public"),
                sizes or {},
                self.maxsizes,
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
