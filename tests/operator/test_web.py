"""
The operator's site: /healthz and /readyz flip as the daemon's state does,
/metrics is the registry's text, / and /status.json are the snapshot.
"""

import json
import os

from prometheus_client import CollectorRegistry, Counter
from twisted.trial import unittest
from twisted.web.test.requesthelper import DummyRequest

from annexrelay.operator.web import OperatorResource


class _Writer:
    failing = ""


class _Repo:
    def __init__(self, gitDir):
        self.gitDir = gitDir


class _Core:
    stopping = False

    def __init__(self, gitDir):
        self.repository = _Repo(gitDir)
        self.locationLog = _Writer()


class _Status:
    def __init__(self, core):
        self.core = core

    def snapshot(self):
        return {"version": "0", "repository": "/r", "uptime": 1.0, "stopping": self.core.stopping,
                "targets": [], "transfers": [], "errors": []}


def get(resource, path):
    request = DummyRequest([path.encode()] if path else [b""])
    child = resource.getChildWithDefault(path.encode(), request)
    body = child.render(request)
    return request.responseCode or 200, body


class OperatorSiteTests(unittest.TestCase):
    def setUp(self):
        self.gitDir = self.mktemp()
        os.makedirs(self.gitDir)
        self.core = _Core(self.gitDir)
        self.registry = CollectorRegistry()
        Counter("annexrelay_things", "Things.", registry=self.registry).inc()
        self.site = OperatorResource(_Status(self.core), self.registry)

    def test_healthz_flips(self):
        self.assertEqual(get(self.site, "healthz"), (200, b"ok\n"))
        self.core.locationLog.failing = "fatal: not a git repository"
        code, body = get(self.site, "healthz")
        self.assertEqual(code, 503)
        self.assertIn(b"cannot commit: fatal: not a git repository", body)
        self.core.locationLog.failing = ""
        os.rmdir(self.gitDir)
        code, body = get(self.site, "healthz")
        self.assertEqual(code, 503)
        self.assertIn(b"is gone", body)

    def test_readyz_flips(self):
        self.assertEqual(get(self.site, "readyz"), (200, b"ready\n"))
        self.core.stopping = True
        self.assertEqual(get(self.site, "readyz"), (503, b"not ready: shutting down\n"))

    def test_metrics_and_snapshot(self):
        code, body = get(self.site, "metrics")
        self.assertEqual(code, 200)
        self.assertIn(b"annexrelay_things_total 1.0", body)
        code, body = get(self.site, "status.json")
        self.assertEqual(json.loads(body)["repository"], "/r")
        code, body = get(self.site, "")
        self.assertIn(b"<h1>annexrelay 0</h1>", body)
