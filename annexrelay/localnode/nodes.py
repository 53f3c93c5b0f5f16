"""
Which nodes annexrelay writes itself (C{--local-store}), one
L{LocalNode} per node repository in the whole daemon.

A node qualifies when it is a local path (not a special remote, not a
cluster reached through another gateway) to a repository that
L{annexrelay.localnode.layout.refusal} accepts.  The decision is made once
per node, when a session first needs it, and logged either way.

One per repository, because POSIX locks do not exclude within a process:
two of them would both "hold" the node's transfer locks, and two location
log writers would both take its journal.  For the same reason a node that
this daemon also serves as a repository (under C{--directory}) is left to
its git-annex-shell, and the proxy repository itself, when it is the node
(the annex+http and Tor doors serve it), is written with its core's own
location log writer.
"""

import os

from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.branch.reader import BranchReader
from annexrelay.branch.writer import LocationLogWriter
from annexrelay.connectors.urls import LOCAL, kind_of, local_path
from annexrelay.localnode import layout
from annexrelay.localnode.journalling import NodeJournal
from annexrelay.localnode.objects import LocalNode
from annexrelay.paths import git_dir
from annexrelay.repo import RepositoryError, read_config

log = Logger()


class LocalNodes:
    """
    The daemon's local nodes.

    @param commitDelay: the location log writers' delay.
    @param served: a callable: whether a real path is inside what the
        daemon serves as repositories (C{--directory}); None for one
        repository.
    """

    def __init__(self, reactor, commitDelay=1.0, served=None):
        self.reactor = reactor
        self.commitDelay = commitDelay
        self.served = served
        self._nodes = {}
        self.refused = {}

    def _examine(self, name, uuid, path):
        """
        @return: C{(git dir, config, why not)}.
        """
        try:
            gitDir = os.path.realpath(git_dir(path))
            config = read_config(gitDir)
        except (OSError, RepositoryError) as e:
            return None, None, "it cannot be read (%s)" % (e,)
        why = layout.refusal(config, uuid)
        return gitDir, config, why

    def _decided(self, name, path, why):
        if why is None:
            log.info("node {node}: annexrelay stores into {path} itself (--local-store)", node=name, path=path)
        else:
            log.info("node {node}: its git-annex-shell stores into {path}: {why}", node=name, path=path, why=why)
            self.refused[path] = why

    def forNode(self, node, proxyRepository):
        """
        The L{LocalNode} for C{node} (an L{annexrelay.repo.Node} of
        C{proxyRepository}), or None when its git-annex-shell serves it.
        """
        if node.special or node.via or kind_of(node) != LOCAL:
            return None
        path = os.path.realpath(local_path(node.url, proxyRepository.path))
        if path in self._nodes:
            return self._nodes[path]
        gitDir, config, why = self._examine(node.name, node.uuid, path)
        if gitDir is None:
            # Not there now (moved away, a disk not mounted): its
            # git-annex-shell serves it, and it is examined again next time.
            if self.refused.get(path) != why:
                self._decided(node.name, path, why)
            return None
        if why is None and self.served is not None and self.served(gitDir):
            why = "this daemon serves it as a repository too"
        local = None
        if why is None:
            writer = LocationLogWriter(self.reactor, gitDir, delay=self.commitDelay, gitDir=gitDir)
            writer.recover()
            records = NodeJournal(self.reactor, gitDir.encode(), writer, BranchReader(self.reactor, gitDir, gitDir, False, writer))
            local = LocalNode(
                self.reactor, node.name, node.uuid, gitDir.encode(), proxyRepository.uuid, records, layout.disk_reserve(config)
            )
        self._decided(node.name, path, why)
        self._nodes[path] = local
        return local

    def forRepository(self, repository, writer, reader):
        """
        The proxy repository itself as a local node, its records journalled
        with its core's location log C{writer} and branch C{reader}; None if
        it does not qualify.  Made per core (a core's writer is its own).
        """
        gitDir = os.path.realpath(repository.gitDir)
        _, config, why = self._examine("(this repository)", repository.uuid, gitDir)
        if why is not None:
            if gitDir not in self.refused:
                self._decided("(this repository)", gitDir, why)
            return None
        self._decided("(this repository)", gitDir, None)
        records = NodeJournal(self.reactor, gitDir.encode(), writer, reader)
        return LocalNode(
            self.reactor, "(this repository)", repository.uuid, gitDir.encode(), repository.uuid, records, layout.disk_reserve(config)
        )

    def all(self):
        return [n for n in self._nodes.values() if n is not None]

    def close(self):
        """
        Commit every node's location log (at shutdown; again later is
        harmless).

        @return: a L{Deferred}.
        """
        return defer.gatherResults([n.close() for n in self.all()], consumeErrors=True)
