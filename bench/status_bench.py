"""
What the live status page costs to build: a snapshot of a daemon with 1000
proxied remotes and 100 transfers in flight, and the page rendered from it
(median of 20; the target is under 50 ms).
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

from annexrelay.connectors.pool import NodeHealth  # noqa: E402
from annexrelay.operator.metrics import CoreCollector, Metrics  # noqa: E402
from annexrelay.operator.page import render_page  # noqa: E402
from annexrelay.operator.status import Status  # noqa: E402
from annexrelay.repo import Node  # noqa: E402


class _Repo:
    path = "/srv/proxy"

    def __init__(self, n):
        self.nodes = {("%08d-0000-4000-8000-000000000000" % i).encode(): Node("n%d" % i, ("%08d-0000-4000-8000-000000000000" % i).encode(), "/srv/n%d" % i) for i in range(n)}
        self.clusters = {}


class _Pool:
    def __init__(self, repo):
        self.health = {n.name: NodeHealth(i % 7 != 0, 1.0, "gone") for i, n in enumerate(repo.nodes.values())}
        self.live = {}

    def idleByNode(self):
        return {}


class _Sizes:
    def __init__(self, repo):
        self._known = {u: 1000 * i for i, u in enumerate(repo.nodes)}

    def known(self):
        return self._known

    def sizes(self):
        return None


class _Writer:
    commits = recordsWritten = 0


class _Core:
    stopping = False
    branch = None

    def __init__(self, n):
        self.repository = _Repo(n)
        self.pool = _Pool(self.repository)
        self.sizes = _Sizes(self.repository)
        self.locationLog = _Writer()


def main():
    clock = Clock()
    registry = CollectorRegistry()
    metrics = Metrics(registry, clock)
    core = _Core(1000)
    status = Status(core, metrics, clock)
    status._read = 0.0  # no branch to read maxsize.log from
    registry.register(CoreCollector(core, status))
    uuids = list(core.repository.nodes)
    for i in range(100):
        t = metrics.requestStarted("ssh", "put", uuids[i].decode(), "SHA256E-s1000000--%064d" % i)
        t.total = 1000000
        t.progress = lambda: 400000
    snap, page, scrape = [], [], []
    for _ in range(20):
        a = time.perf_counter()
        s = status.snapshot()
        b = time.perf_counter()
        html = render_page(s)
        c = time.perf_counter()
        generate_latest(registry)
        d = time.perf_counter()
        snap.append(b - a)
        page.append(c - b)
        scrape.append(d - c)
    med = lambda xs: statistics.median(xs) * 1000
    sys.stdout.write(
        "status page with 1000 proxied remotes and 100 transfers in flight (median of 20):\n"
        "  snapshot %.1f ms, render %.1f ms (%d bytes of HTML), total %.1f ms (target < 50 ms)\n"
        "  /metrics scrape %.1f ms\n" % (med(snap), med(page), len(html), med(snap) + med(page), med(scrape))
    )


if __name__ == "__main__":
    main()
