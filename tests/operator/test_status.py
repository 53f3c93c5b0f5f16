"""
The snapshot of a C{--directory} daemon (L{DirectoryStatus}): every open
repository's targets and nodes, grouped by repository, its transfers
with it, bounded for a thousand repositories; the page, the terminal
table and the operator's site built from it.
"""

import json

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.operator import cli, page
from annexrelay.operator.metrics import Metrics
from annexrelay.operator.status import DirectoryStatus
from annexrelay.operator.web import DirectoryOperatorResource
from annexrelay.repo import Node
from tests.operator.test_web import get


class _Pool:
    def __init__(self):
        self.health = {}
        self.live = {}

    def idleByNode(self):
        return {}


class _Branch:
    def read(self, paths):
        return defer.succeed({})


class _Repo:
    def __init__(self, rel, i):
        self.path = "/srv/annex/" + rel
        self.uuid = b"%08d-0000-4000-8000-000000000000" % i
        node = Node("n-" + rel.replace("/", "-"), b"%08d-1111-4000-8000-000000000000" % i, "/srv/nodes/%d" % i)
        self.nodes = {node.uuid: node}
        self.clusters = {}


class _Core:
    stopping = False
    sizes = None

    def __init__(self, rel, i):
        self.label = rel
        self.repository = _Repo(rel, i)
        self.pool = _Pool()
        self.branch = _Branch()


class _Scanner:
    root = "/srv/annex"

    def __init__(self, n):
        self.repositories = dict.fromkeys(range(n))


class _Directory:
    stopping = False

    def __init__(self, rels, known=None):
        self.cores = {(r,): _Core(r, i) for i, r in enumerate(rels)}
        self._used = {(r,): float(i) for i, r in enumerate(rels)}
        self.scanner = _Scanner(known or len(rels))
        self.saturation = []


class DirectoryStatusTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.metrics = Metrics(CollectorRegistry(), self.clock)

    def status(self, rels, known=None):
        self.directory = _Directory(rels, known)
        return DirectoryStatus(self.directory, self.metrics, self.clock)

    def test_grouped_by_repository(self):
        status = self.status(["lab/a", "lab/b", "c"])
        b = self.directory.cores[("lab/b",)]
        self.metrics.requestStarted("http", "put", list(b.repository.nodes)[0].decode(), "SHA256E-s10--k", "lab/b")
        snap = json.loads(json.dumps(status.snapshot()))
        self.assertEqual((snap["repositoriesKnown"], snap["repositoriesOpen"]), (3, 3))
        # The busy repository first, then the most recently used.
        self.assertEqual([r["path"] for r in snap["repositories"]], ["lab/b", "c", "lab/a"])
        busy, idle = snap["repositories"][0], snap["repositories"][1]
        self.assertEqual([t["name"] for t in busy["targets"]], ["n-lab-b"])
        self.assertEqual([t["key"] for t in busy["transfers"]], ["SHA256E-s10--k"])
        self.assertEqual(idle["transfers"], [])
        self.assertEqual([(t["repository"], t["key"]) for t in snap["transfers"]], [("lab/b", "SHA256E-s10--k")])
        html = page.render_directory_page(snap)
        self.assertIn('<h3 class="repository">lab/b', html)
        self.assertIn('data-node="n-lab-a"', html)
        self.assertIn("<td>lab/b</td>", html)
        text = cli.render_directory(snap)
        self.assertIn("serving /srv/annex (3 repositories, 3 open)", text)
        self.assertIn("lab/b (", text)
        self.assertIn("n-lab-b", text)
        self.assertIn("transfers in flight: 1", text)
        self.assertIn("lab/b       http  put", text)

    def test_a_thousand_repositories_bounded(self):
        status = self.status(["r%04d" % i for i in range(1000)], known=1200)
        for i in range(0, 1000, 2):
            self.metrics.requestStarted("http", "get", "t", "SHA256E-s10--k%d" % i, "r%04d" % i)
        snap = status.snapshot()
        self.assertEqual(len(snap["repositories"]), 100)
        self.assertTrue(all(r["transfers"] for r in snap["repositories"]))
        self.assertEqual(len(snap["transfers"]), 500)
        self.assertEqual(snap["transfersInFlight"], 500)
        html = page.render_directory_page(snap)
        self.assertIn("900 more open repositories not shown", html)
        self.assertEqual(html.count('class="repository"'), 100)
        self.assertIn("1200 repositories, 1000 open", html)

    def test_closed_cores_forgotten(self):
        status = self.status(["a", "b"])
        status.snapshot()
        self.assertEqual(len(status._statuses), 2)
        del self.directory.cores[("a",)]
        status.snapshot()
        self.assertEqual(len(status._statuses), 1)

    def test_site(self):
        status = self.status(["a"])
        site = DirectoryOperatorResource(self.directory, CollectorRegistry(), status)
        code, body = get(site, "status.json")
        self.assertEqual((code, [r["path"] for r in json.loads(body)["repositories"]]), (200, ["a"]))
        code, body = get(site, "")
        self.assertIn(b'<h3 class="repository">a', body)
