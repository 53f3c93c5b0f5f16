"""
The proxy repository: what its git config says it proxies.

annexrelay reads the same configuration git-annex's own proxy and cluster
gateway do: C{remote.NAME.annex-proxy=true} and C{remote.NAME.annex-uuid}
(C{git config}, C{git annex updateproxy}); C{annex.cluster.NAME=UUID}
(C{git annex initcluster}), C{remote.NODE.annex-cluster-node=NAME}
(C{git annex updatecluster}) and C{remote.GATEWAY.annex-cluster-gateway=UUID}
(C{git annex extendcluster}).  Cluster nodes are proxied remotes too.  The configuration is read again
whenever the repository's config file changes, so adding a proxied remote
needs no restart.
"""

import os
import subprocess
from typing import Dict, NamedTuple, Optional, Tuple

from twisted.logger import Logger

from annexrelay.connectors import urls
from annexrelay.paths import file_stamp, find_repository

log = Logger()


class Node(NamedTuple):
    """
    A repository behind the relay: a proxied remote (later also a cluster
    node).

    @ivar name: the remote's name in the proxy repository.
    @ivar uuid: its annex UUID, as bytes.
    @ivar url: the remote's URL as configured.
    @ivar shell: the program to run on the node (C{remote.NAME.annex-shell}).
    @ivar sshOptions: extra ssh options (C{remote.NAME.annex-ssh-options}).
    @ivar cost: C{remote.NAME.annex-cost}, default 100 (200 over ssh).
    @ivar via: when the node is a cluster reached through another gateway,
        the UUID of that gateway's repository (the one at C{url}); the
        session is then opened with C{--uuid <cluster uuid>}.
    @ivar special: a special remote of the proxy repository (it has no
        URL); it is reached through git-annex's own proxy for it in the
        proxy repository.
    """

    name: str
    uuid: bytes
    url: str
    shell: str = "git-annex-shell"
    sshOptions: Tuple[str, ...] = ()
    cost: float = 100.0
    via: bytes = b""
    special: bool = False


def is_cluster_uuid(uuid: bytes) -> bool:
    """
    git-annex's rule: a cluster UUID starts with C{ac} and its 15th
    character is C{8}.  No other UUID is ever treated as a cluster.
    """
    return len(uuid) >= 15 and uuid[:2] == b"ac" and uuid[14:15] == b"8"


class Cluster(NamedTuple):
    """
    A cluster this repository is a gateway for (C{git annex initcluster},
    C{extendcluster}).

    @ivar name: the cluster's name (C{annex.cluster.NAME}).
    @ivar uuid: the cluster UUID.
    @ivar nodes: the configured node remotes (C{annex-cluster-node}); a node
        serves only if C{cluster.log} lists it too.
    @ivar gateways: the same cluster through other gateways
        (C{annex-cluster-gateway}), as nodes with C{via} set.
    """

    name: str
    uuid: bytes
    nodes: Tuple[Node, ...]
    gateways: Tuple[Node, ...] = ()


class RepositoryError(Exception):
    """
    The proxy repository is missing or not a git-annex repository.
    """


def read_config(path):
    try:
        return parse_config(subprocess.run(
            ["git", "config", "-z", "--list"],
            cwd=path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=True,
        ).stdout)
    except (OSError, subprocess.CalledProcessError) as e:
        raise RepositoryError("%s is not a git repository (%s)" % (path, e))


def parse_config(out):
    """
    C{git config -z --list}'s output as a dict: name -> [values].
    """
    config = {}
    for entry in out.split(b"\0"):
        if not entry:
            continue
        k, _, v = entry.partition(b"\n")
        config.setdefault(k.decode("utf-8", "replace"), []).append(v.decode("utf-8", "surrogateescape"))
    return config


def _is_true(value):
    return value.lower() in ("true", "yes", "on", "1")


class ProxyRepository:
    """
    The repository annexrelay serves, and the remotes it proxies.
    """

    def __init__(self, path, config=None):
        # C{config}: the repository's config, already read (see
        # L{parse_config}); read with git when None.
        # A directory inside the repository stands for the repository, as
        # with git; everything annexrelay writes goes in its git directory.
        self.path, self.gitDir = find_repository(path)
        self._configFile = os.path.join(self.gitDir, "config")
        self._stamp = None
        self.uuid = b""
        self.onelevel = False
        self.nodes: Dict[bytes, Node] = {}
        self.clusters: Dict[bytes, Cluster] = {}
        self.reload(config)

    def _statStamp(self):
        return file_stamp(self._configFile)

    def reload(self, config=None):
        """
        Read the git config again (done automatically when it changed), or
        take C{config} as read by the caller.
        """
        self._stamp = self._statStamp()
        if config is None:
            config = read_config(self.path)
        uuid = config.get("annex.uuid", [""])[-1]
        if not uuid:
            raise RepositoryError("%s is not a git-annex repository (no annex.uuid)" % (self.path,))
        self.uuid = uuid.encode("ascii")
        self.onelevel = _is_true(config.get("annex.tune.branchhash1", ["false"])[-1])
        names = set()
        for k in config:
            if k.startswith("remote.") and k.count(".") >= 2:
                names.add(k[len("remote.") : k.rindex(".")])

        def get(name, attr, default=None):
            return config.get("remote.%s.%s" % (name, attr), [default])[-1]

        def node(name, uuid, why):
            url = get(name, "url")
            if not uuid:
                log.warn(
                    "remote {name} has {why} set but no annex-uuid; run 'git annex {fix}'",
                    name=name,
                    why=why,
                    fix="updatecluster" if "cluster" in why else "updateproxy",
                )
                return None
            if not url:
                # A special remote: git remotes always have a URL.
                try:
                    cost = float(get(name, "annex-cost", "100"))
                except ValueError:
                    cost = 100.0
                return Node(name, uuid.encode("ascii"), "", cost=cost, special=True)
            ssh = urls.kind(url) == urls.SSH
            try:
                cost = float(get(name, "annex-cost", "200" if ssh else "100"))
            except ValueError:
                cost = 200.0 if ssh else 100.0
            options = tuple((get(name, "annex-ssh-options", "") or "").split())
            return Node(name, uuid.encode("ascii"), url, get(name, "annex-shell", "git-annex-shell"), options, cost)

        clusterNames = {}
        for k, values in config.items():
            if k.startswith("annex.cluster.") and values[-1]:
                cname, cuuid = k[len("annex.cluster.") :], values[-1].encode("ascii", "replace")
                if not is_cluster_uuid(cuuid):
                    log.warn("annex.cluster.{name}={uuid} is not a cluster UUID; ignored", name=cname, uuid=values[-1])
                    continue
                clusterNames[cname] = cuuid
        nodes = {}
        members = {u: [] for u in clusterNames.values()}
        gateways = {u: [] for u in clusterNames.values()}
        for name in sorted(names):
            if _is_true(get(name, "annex-ignore", "false")):
                continue
            proxied = _is_true(get(name, "annex-proxy", "false"))
            memberOf = [c for c in (get(name, "annex-cluster-node", "") or "").split() if c in clusterNames]
            gatewayFor = [u.encode("ascii", "replace") for u in (get(name, "annex-cluster-gateway", "") or "").split()]
            gatewayFor = [u for u in gatewayFor if u in gateways]
            if proxied or memberOf:
                n = node(name, get(name, "annex-uuid"), "annex-cluster-node" if memberOf else "annex-proxy")
                if n is not None:
                    nodes[n.uuid] = n
                    for c in memberOf:
                        members[clusterNames[c]].append(n)
            for cuuid in gatewayFor:
                via = get(name, "annex-uuid")
                n = node(name, cuuid.decode(), "annex-cluster-gateway")
                if n is not None and via:
                    gateways[cuuid].append(n._replace(via=via.encode("ascii")))
        self.nodes = nodes
        self.clusters = {
            cuuid: Cluster(cname, cuuid, tuple(members[cuuid]), tuple(gateways[cuuid]))
            for cname, cuuid in sorted(clusterNames.items())
        }
        log.info(
            "repository {path} (uuid {uuid}) proxies {count} remote(s), gateway for {clusters} cluster(s)",
            path=self.path,
            uuid=self.uuid.decode(),
            count=len(nodes),
            clusters=len(self.clusters),
        )

    def refresh(self):
        """
        Reload the configuration if the config file changed since last read.
        """
        if self._statStamp() != self._stamp:
            self.reload()

    def target(self, uuid: bytes) -> Optional[Node]:
        """
        The proxied remote with C{uuid}, after picking up config changes.
        """
        self.refresh()
        return self.nodes.get(uuid)

    def cluster(self, uuid: bytes) -> Optional[Cluster]:
        """
        The cluster with C{uuid}, after picking up config changes.
        """
        self.refresh()
        return self.clusters.get(uuid)
