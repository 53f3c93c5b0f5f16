"""
The request tracker and its Prometheus series, driven by in-memory
sessions; the status page and the terminal table rendered from snapshots.
"""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial import unittest

from annexrelay.operator import cli, page
from annexrelay.operator.metrics import Metrics, outcome_of
from annexrelay.testing.memory import KEY, RelayPair


def samples(registry):
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


class MetricsTests(unittest.TestCase):
    def setUp(self):
        self.registry = CollectorRegistry()
        self.clock = Clock()
        self.metrics = Metrics(self.registry, self.clock)
        self.p = RelayPair(metrics=self.metrics)

    def test_checkpresent_counted(self):
        p = self.p
        p.send(b"CHECKPRESENT " + KEY + b"\n")
        self.assertEqual(len(self.metrics.transfers()), 1)
        self.clock.advance(0.25)
        p.nodeSays(b"SUCCESS\n")
        self.assertEqual(p.take(), b"SUCCESS\n")
        got = samples(self.registry)
        self.assertEqual(got[("annexrelay_requests_total", (("door", "ssh"), ("operation", "checkpresent"), ("outcome", "ok")))], 1)
        self.assertEqual(got[("annexrelay_requests_in_flight", (("door", "ssh"),))], 0)
        self.assertEqual(got[("annexrelay_request_duration_seconds_sum", (("door", "ssh"), ("operation", "checkpresent")))], 0.25)
        self.assertEqual(self.metrics.transfers(), [])

    def test_put_bytes_and_progress(self):
        p = self.p
        p.send(b"PUT af " + KEY + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.take()
        p.send(b"DATA 10\n12345")
        [t] = self.metrics.transfers()
        self.assertEqual((t.key, t.total), (KEY.decode(), 10))
        self.assertEqual(t.done, 5)
        p.send(b"67890VALID\n")
        p.nodeSays(b"SUCCESS\n")
        got = samples(self.registry)
        self.assertEqual(got[("annexrelay_bytes_total", (("direction", "in"), ("door", "ssh")))], 10)
        self.assertEqual(got[("annexrelay_requests_total", (("door", "ssh"), ("operation", "put"), ("outcome", "ok")))], 1)

    def test_refused_and_failed(self):
        p = self.p
        p.send(b"GET 0 af " + KEY + b"\n")
        p.nodeSays(b"ERROR gone\n")
        got = samples(self.registry)
        self.assertEqual(got[("annexrelay_requests_total", (("door", "ssh"), ("operation", "get"), ("outcome", "error")))], 1)
        self.assertEqual(got[("annexrelay_errors_total", (("kind", "request error"),))], 1)

    def test_repositories_bounded(self):
        """
        With --directory, requests are counted per repository for the most
        recently used ones only: 1000 repositories leave at most the cap
        plus one series, and nothing counted is lost.
        """
        m = Metrics(CollectorRegistry(), Clock(), repositoryCap=10)
        for i in range(1000):
            t = m.requestStarted("http", "checkpresent", "u", "k", "lab/repo%04d" % i)
            m.requestEnded(t, "SUCCESS")
        t = m.requestStarted("http", "checkpresent", "u", "k", "lab/repo0999")
        m.requestEnded(t, "SUCCESS")
        got = {k: v for k, v in samples(m.registry).items() if k[0] == "annexrelay_repository_requests_total"}
        self.assertEqual(len(got), 11)
        self.assertEqual(got[("annexrelay_repository_requests_total", (("repository", "lab/repo0999"),))], 2)
        self.assertEqual(got[("annexrelay_repository_requests_total", (("repository", "other"),))], 990)
        self.assertEqual(sum(got.values()), 1001)

    def test_request_log_events(self):
        """
        Routine small requests are counted, not logged one by one; failed
        ones are, with why; with logEveryRequest (--log-format json) all are.
        """
        p = self.p
        with capturedLogs() as events:
            p.send(b"CHECKPRESENT " + KEY + b"\n")
            p.nodeSays(b"SUCCESS\n")
            p.send(b"GET 0 af " + KEY + b"\n")
            p.nodeSays(b"ERROR gone away\n")
        mine = [e for e in events if e.get("log_namespace") == "annexrelay.requests"]
        self.assertEqual([(e["operation"], e["outcome"], e["reason"]) for e in mine], [("get", "error", "gone away")])
        self.metrics.logEveryRequest = True
        with capturedLogs() as events:
            p.send(b"CHECKPRESENT " + KEY + b"\n")
            p.nodeSays(b"SUCCESS\n")
        mine = [e for e in events if e.get("log_namespace") == "annexrelay.requests"]
        self.assertEqual([(e["door"], e["operation"], e["outcome"], e["key"]) for e in mine], [("ssh", "checkpresent", "ok", KEY.decode())])

    def test_outcomes(self):
        self.assertEqual(outcome_of(None), "aborted")
        self.assertEqual(outcome_of("SUCCESS-PLUS"), "ok")
        self.assertEqual(outcome_of("FAILURE"), "failure")
        self.assertEqual(outcome_of("PUT-FROM"), "other")

    def test_series_bounded_whatever_the_keys(self):
        """
        5000 distinct keys leave the series as they were after one: never a
        key or a client address as a label.
        """
        p = self.p

        def ask(i):
            p.send(b"CHECKPRESENT " + KEY[:-8] + b"%04d.txt" % i + b"\n")
            p.nodeSays(b"FAILURE\n")

        ask(0)
        before = len(generate_latest(self.registry).decode().splitlines())
        for i in range(1, 5000):
            ask(i)
        text = generate_latest(self.registry).decode()
        self.assertEqual(len(text.splitlines()), before)
        self.assertNotIn(KEY[:20].decode(), text)
        self.assertNotIn("client", text.replace("annexrelay", ""))


def _snapshot(nodes=2, transfers=1):
    node = lambda i: {
        "name": "n%d" % i, "uuid": "u%d" % i, "url": "/srv/n%d" % i, "reachable": i % 2 == 0, "why": "gone <away>",
        "lastFailure": 1.0, "open": 1, "idle": 2, "size": 500 * i, "maxsize": 1000, "kind": "proxied remote",
    }
    return {
        "version": "0.1.0", "repository": "/srv/proxy", "uptime": 3725.0, "stopping": False,
        "targets": [node(i) for i in range(nodes)],
        "transfers": [{"door": "ssh", "operation": "put", "target": "u1", "key": "SHA256E-s1000--k%d" % i,
                       "total": 1000, "done": 400, "seconds": 2.0, "rate": 200.0} for i in range(transfers)],
        "errors": [{"time": "2026-12-06 12:00:00", "level": "warn", "text": "cannot reach node n1 <x>"}],
    }


class PageTests(unittest.TestCase):
    def test_page(self):
        html = page.render_page(_snapshot())
        self.assertIn('data-node="n1"', html)
        self.assertIn("unreachable", html)
        self.assertIn("gone &lt;away&gt;", html)
        self.assertIn('aria-valuenow="400"', html)
        self.assertIn("up 1h 2m", html)
        self.assertNotIn("<away>", html)
        self.assertNotIn("http://", html.replace("http-equiv", ""))

    def test_terminal_table(self):
        text = cli.render(_snapshot())
        self.assertIn("UNREACHABLE: gone <away>", text)
        self.assertIn("500 B of 1.0 kB (50%)", text)
        self.assertIn("transfers in flight: 1", text)
        self.assertIn("400 B of 1.0 kB", text)

    def test_human(self):
        self.assertEqual(page.human(999), "999 B")
        self.assertEqual(page.human(1500000), "1.5 MB")
        self.assertEqual(page.human(None), "?")
