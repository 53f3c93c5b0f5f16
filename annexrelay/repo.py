"""
The proxy repository: what its git config says it proxies.

annexrelay reads the same configuration git-annex's own proxy does:
C{remote.NAME.annex-proxy=true} and C{remote.NAME.annex-uuid}, set by
C{git config} and C{git annex updateproxy}.  The configuration is read again
whenever the repository's config file changes, so adding a proxied remote
needs no restart.
"""

import os
import subprocess
from typing import Dict, NamedTuple, Optional, Tuple

from twisted.logger import Logger

from annexrelay.paths import git_dir

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
    """

    name: str
    uuid: bytes
    url: str
    shell: str = "git-annex-shell"
    sshOptions: Tuple[str, ...] = ()
    cost: float = 100.0


class RepositoryError(Exception):
    """
    The proxy repository is missing or not a git-annex repository.
    """


def _read_config(path):
    try:
        out = subprocess.run(
            ["git", "config", "-z", "--list"],
            cwd=path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RepositoryError("%s is not a git repository (%s)" % (path, e))
    config = {}
    for entry in out.split(b"\0"):
        if not entry:
            continue
        k, _, v = entry.partition(b"\n")
        config.setdefault(k.decode("utf-8", "replace"), []).append(v.decode("utf-8", "surrogateescape"))
    return config


def _is_true(value):
    return value.lower() in ("true", "yes", "on", "1")


def _is_ssh_url(url):
    if url.startswith("ssh://") or url.startswith("git+ssh://") or url.startswith("ssh+git://"):
        return True
    if "://" in url or url.startswith("/") or url.startswith("."):
        return False
    head = url.split("/", 1)[0]
    return ":" in head


class ProxyRepository:
    """
    The repository annexrelay serves, and the remotes it proxies.
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.gitDir = git_dir(self.path)
        self._configFile = os.path.join(self.gitDir, "config")
        self._stamp = None
        self.uuid = b""
        self.nodes: Dict[bytes, Node] = {}
        self.delegated: Dict[bytes, str] = {}
        self.reload()

    def _statStamp(self):
        try:
            st = os.stat(self._configFile)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self):
        """
        Read the git config again (done automatically when it changed).
        """
        self._stamp = self._statStamp()
        config = _read_config(self.path)
        uuid = config.get("annex.uuid", [""])[-1]
        if not uuid:
            raise RepositoryError("%s is not a git-annex repository (no annex.uuid)" % (self.path,))
        self.uuid = uuid.encode("ascii")
        names = set()
        for k in config:
            if k.startswith("remote.") and k.count(".") >= 2:
                names.add(k[len("remote.") : k.rindex(".")])
        nodes = {}
        for name in sorted(names):

            def get(attr, default=None):
                return config.get("remote.%s.%s" % (name, attr), [default])[-1]

            if not _is_true(get("annex-proxy", "false")):
                continue
            if _is_true(get("annex-ignore", "false")):
                continue
            uuid = get("annex-uuid")
            url = get("url")
            if not uuid or not url:
                log.warn(
                    "remote {name} has annex-proxy set but no {missing}; run 'git annex updateproxy'",
                    name=name,
                    missing="annex-uuid" if not uuid else "url",
                )
                continue
            ssh = _is_ssh_url(url)
            try:
                cost = float(get("annex-cost", "200" if ssh else "100"))
            except ValueError:
                cost = 200.0 if ssh else 100.0
            options = tuple((get("annex-ssh-options", "") or "").split())
            node = Node(name, uuid.encode("ascii"), url, get("annex-shell", "git-annex-shell"), options, cost)
            nodes[node.uuid] = node
        self.nodes = nodes
        # Clusters (annex.cluster.NAME) and their nodes (annex-cluster-node)
        # are served by git-annex-shell itself until annexrelay's gateway
        # takes them over.
        delegated = {}
        for k, values in config.items():
            if k.startswith("annex.cluster.") and values[-1]:
                delegated[values[-1].encode("ascii", "replace")] = "cluster " + k[len("annex.cluster.") :]
        for name in sorted(names):
            member = config.get("remote.%s.annex-cluster-node" % name, [""])[-1]
            uuid = config.get("remote.%s.annex-uuid" % name, [""])[-1]
            if member and uuid and uuid.encode("ascii") not in nodes:
                delegated[uuid.encode("ascii")] = "cluster node " + name
        self.delegated = delegated
        log.info(
            "repository {path} (uuid {uuid}) proxies {count} remote(s)",
            path=self.path,
            uuid=self.uuid.decode(),
            count=len(nodes),
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

    def describe(self, uuid: bytes) -> str:
        """
        The description of C{uuid} in uuid.log, for error messages.
        """
        try:
            out = subprocess.run(
                ["git", "cat-file", "blob", "refs/heads/git-annex:uuid.log"],
                cwd=self.path,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            ).stdout
        except OSError:
            return ""
        for line in out.splitlines():
            u, _, rest = line.partition(b" ")
            if u == uuid:
                return rest.rsplit(b" timestamp=", 1)[0].decode("utf-8", "replace")
        return ""

    def nodeCommand(self, node: Node):
        """
        The argv that starts a P2P session with C{node}: C{git-annex-shell
        p2pstdio} run locally for a path, or through ssh for an ssh URL.
        """
        url = node.url
        proxy = self.uuid.decode()
        if _is_ssh_url(url):
            port = None
            if "://" in url:
                rest = url.split("://", 1)[1]
                hostport, _, path = rest.partition("/")
                path = "/" + path
                if hostport.startswith("[") and "]" in hostport:
                    host, _, p = hostport[1:].partition("]")
                    port = p.lstrip(":") or None
                else:
                    host, _, port = hostport.partition(":")
                    port = port or None
                if path.startswith("/~/"):
                    path = path[3:]
            else:
                host, _, path = url.partition(":")
            argv = ["ssh"]
            if port:
                argv += ["-p", port]
            argv += list(node.sshOptions)
            argv += ["-T", host]
            remote = "%s 'p2pstdio' '%s' '%s' --uuid %s" % (
                node.shell,
                path.replace("'", "'\"'\"'"),
                proxy,
                node.uuid.decode(),
            )
            return argv + [remote]
        path = url[len("file://") :] if url.startswith("file://") else url
        path = os.path.normpath(os.path.join(self.path, os.path.expanduser(path)))
        return [node.shell, "p2pstdio", path, proxy]
