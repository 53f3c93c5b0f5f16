"""
C{--log-format json}: one JSON object a line with the event's fields; the
wiring hands twistd that observer.
"""

import io
import json

from twisted.application import service
from twisted.logger import ILogObserver, LogLevel
from twisted.python.failure import Failure
from twisted.trial import unittest

from annexrelay import tap
from annexrelay.operator.logs import JSONLines
from annexrelay.testing.gitrepos import annexRepository, have_git_annex


class JSONLinesTests(unittest.TestCase):
    def test_one_object_a_line(self):
        out = io.StringIO()
        observer = JSONLines(out)
        observer({"log_format": "{door} {operation}: {outcome}", "log_level": LogLevel.info, "log_namespace": "annexrelay.requests",
                  "log_time": 0.0, "door": "ssh", "operation": "put", "outcome": "ok", "bytes": 10, "key": b"K"})
        try:
            1 / 0
        except ZeroDivisionError:
            f = Failure()
        observer({"log_format": "broke", "log_level": LogLevel.error, "log_failure": f, "log_time": 0.0, "thing": object()})
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2)
        first = json.loads(lines[0])
        self.assertEqual(first["message"], "ssh put: ok")
        self.assertEqual((first["level"], first["namespace"], first["bytes"], first["key"]), ("info", "annexrelay.requests", 10, "K"))
        self.assertEqual(first["time"], "1970-01-01T00:00:00Z")
        second = json.loads(lines[1])
        self.assertIn("ZeroDivisionError", second["traceback"])
        self.assertNotIn("thing", second)


class WiringTests(unittest.TestCase):
    if not have_git_annex():
        skip = "git-annex is needed"

    def test_json_observer_given_to_twistd(self):
        repo = annexRepository(self.mktemp())
        options = tap.Options()
        options.parseOptions(["--repo", repo, "--log-format", "json"])
        top = tap.makeService(options)
        application = service.Application("annexrelay")
        top.setServiceParent(application)
        self.assertIsInstance(application.getComponent(ILogObserver), JSONLines)
        self.addCleanup(top.core.close)

    def test_bad_format(self):
        options = tap.Options()
        self.assertRaises(Exception, options.parseOptions, ["--repo", "/nowhere", "--log-format", "xml"])
