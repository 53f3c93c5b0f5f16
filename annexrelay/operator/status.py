"""
One snapshot of a running daemon, as plain data: what the status page
renders, what C{annexrelay status} prints, and what the metrics read at
scrape time.  Building one reads only what the daemon holds in memory
(node health from the pool, sizes counted already, the tracker's requests
in flight); C{maxsize} comes from the branch, re-read at most every
C{refresh} seconds in the background, and the repositories' sizes are
counted once in the background the first time they are asked for.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger

from annexrelay import __version__
from annexrelay.branch import uuidlogs

log = Logger()


def transfers_of(metrics, now, wanted=lambda t: True, limit=None):
    """
    The requests in flight C{wanted} picks, as plain data (oldest first;
    at most C{limit}).
    """
    out = []
    for t in metrics.transfers():
        if not wanted(t):
            continue
        if limit is not None and len(out) >= limit:
            break
        elapsed = max(now - t.started, 1e-9)
        done = t.done
        out.append(
            {
                "door": t.door,
                "operation": t.operation,
                "target": t.target,
                "key": t.key,
                "repository": t.repository,
                "total": t.total,
                "done": done,
                "seconds": elapsed,
                "rate": (done / elapsed) if done is not None else None,
            }
        )
    return out


def recent_errors(metrics):
    return [
        {"time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)), "level": level, "text": text}
        for t, level, text in metrics.recentErrors
    ]


class Status:
    """
    @param core: the L{annexrelay.core.RelayCore}.
    @param metrics: the L{annexrelay.operator.metrics.Metrics}.
    @param clock: an C{IReactorTime}.
    @param refresh: seconds between reads of the branch's C{maxsize.log}.
    """

    def __init__(self, core, metrics, clock, refresh=10.0):
        self.core = core
        self.metrics = metrics
        self.clock = clock
        self.refresh = refresh
        self.started = clock.seconds()
        self._maxsizes = {}
        self._read = None
        self._reading = None

    def nodeNames(self):
        """
        UUID -> name of every proxied remote and cluster node.
        """
        repo = self.core.repository
        names = {u: n.name for u, n in repo.nodes.items()}
        for cluster in repo.clusters.values():
            for n in cluster.nodes:
                names.setdefault(n.uuid, n.name)
        return names

    def maxsizes(self):
        """
        UUID -> maxsize, as last read (a read is started when it is old).
        """
        now = self.clock.seconds()
        if self._reading is None and (self._read is None or now - self._read >= self.refresh):
            self._read = now
            self._reading = defer.ensureDeferred(self._readMaxsizes())
            if self.core.sizes is not None:
                # Counted once in the background (then kept current), so
                # the page can say how full each node is.
                self.core.sizes.sizes()
        return dict(self._maxsizes)

    async def _readMaxsizes(self):
        try:
            files = await self.core.branch.read([uuidlogs.MAXSIZE_LOG])
            self._maxsizes = uuidlogs.maxsizes(files.get(uuidlogs.MAXSIZE_LOG, b""))
        except Exception as e:
            log.warn("status: cannot read maxsize.log: {why}", why=e)
        finally:
            self._reading = None

    def locksHeld(self):
        return sum(1 for t in self.metrics.transfers() if t.operation == "lockcontent")

    def snapshot(self):
        """
        The daemon as plain data (JSON-ready).
        """
        core = self.core
        repo = core.repository
        pool = core.pool
        idle = pool.idleByNode()
        sizes = core.sizes.known() if core.sizes is not None else {}
        maxsizes = self.maxsizes()
        now = self.clock.seconds()

        def node(n):
            h = pool.health.get(n.name)
            return {
                "name": n.name,
                "uuid": n.uuid.decode(),
                "url": n.url,
                "reachable": None if h is None else h.reachable,
                "why": "" if h is None else h.why,
                "lastFailure": None if h is None else h.lastFailure,
                "open": len(pool.live.get(n.name, ())),
                "idle": idle.get(n.name, 0),
                "size": sizes.get(n.uuid),
                "maxsize": maxsizes.get(n.uuid),
            }

        targets = [dict(kind="special remote" if n.special else "proxied remote", **node(n)) for n in repo.nodes.values()]
        for c in repo.clusters.values():
            targets.append(
                {"kind": "cluster", "name": c.name, "uuid": c.uuid.decode(), "nodes": [node(n) for n in c.nodes + c.gateways]}
            )
        # (With --directory, only this repository's.)
        label = getattr(core, "label", None)
        transfers = transfers_of(self.metrics, now, lambda t: label is None or t.repository == label)
        return {
            "version": __version__,
            "repository": repo.path,
            "uptime": now - self.started,
            "stopping": core.stopping,
            "targets": targets,
            "transfers": transfers,
            "errors": recent_errors(self.metrics),
        }


class DirectoryStatus:
    """
    The snapshot of a C{--directory} daemon: every open repository's
    targets, nodes and transfers, grouped by repository, bounded: at most
    C{shown} repositories in full (those with requests in flight first,
    then the most recently used), the others counted; at most
    C{maxTransfers} transfers.

    @param directory: the L{annexrelay.directory.cores.Directory}.
    """

    def __init__(self, directory, metrics, clock, shown=100, maxTransfers=500):
        self.directory = directory
        self.metrics = metrics
        self.clock = clock
        self.shown = shown
        self.maxTransfers = maxTransfers
        self.started = clock.seconds()
        # One Status per open core (its maxsize reads), dropped with it.
        self._statuses = {}

    def _status(self, core):
        status = self._statuses.get(id(core))
        if status is None or status.core is not core:
            status = self._statuses[id(core)] = Status(core, self.metrics, self.clock)
        return status

    def snapshot(self):
        directory = self.directory
        now = self.clock.seconds()
        cores = dict(directory.cores)
        busy = {t.repository for t in self.metrics.transfers()}
        used = directory._used
        order = sorted(cores, key=lambda rel: (cores[rel].label not in busy, -used.get(rel, 0)))
        live = {id(c) for c in cores.values()}
        for gone in [k for k in self._statuses if k not in live]:
            del self._statuses[gone]
        repositories = []
        for rel in order[: self.shown]:
            core = cores[rel]
            snap = self._status(core).snapshot()
            repositories.append(
                {
                    "path": core.label if core.label is not None else core.repository.path,
                    "uuid": core.repository.uuid.decode(),
                    "targets": snap["targets"],
                    "transfers": snap["transfers"][: self.maxTransfers],
                }
            )
        return {
            "version": __version__,
            "directory": directory.scanner.root,
            "uptime": now - self.started,
            "stopping": directory.stopping,
            "repositoriesKnown": len(directory.scanner.repositories),
            "repositoriesOpen": len(cores),
            "repositories": repositories,
            "transfers": transfers_of(self.metrics, now, limit=self.maxTransfers),
            "transfersInFlight": len(self.metrics.inFlight),
            "errors": recent_errors(self.metrics),
        }
