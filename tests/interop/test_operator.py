"""
What an operator sees, with the real client and real nodes: /metrics
(parsed with prometheus_client's own parser) moving as the client copies
and gets, a node that went away shown unreachable with why (in /metrics,
the status page and C{annexrelay status}), /healthz and /readyz; and the
status page in a real headless Chromium showing a node going down and a
transfer's progress while a real client copies a large file.
"""

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from annexrelay.testing.gitrepos import restore_node
from annexrelay.testing.ports import free_port
from tests.interop.test_faults import nodeProcesses, waitFor
from tests.interop.test_interop import InteropCase


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def _browser():
    """
    A headless Chromium driven by selenium, or None where there is none.
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    driver = shutil.which("chromedriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not driver or not chromium:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(a)
    return webdriver.Chrome(service=Service(driver), options=options)


class _OperatorCase(InteropCase):
    """
    A daemon with a --metrics listener, and helpers to read it.
    """

    timeout = 300

    def setUp(self):
        self.port = free_port()
        self.daemonArgs = ("--metrics", "tcp:%d:interface=127.0.0.1" % (self.port,))
        InteropCase.setUp(self)
        self.base_url = "http://127.0.0.1:%d" % (self.port,)
        waitFor(lambda: self._up(), "the metrics listener")

    def _up(self):
        try:
            return _get(self.base_url + "/healthz")[0] == 200
        except OSError:
            return False

    def metrics(self):
        status, text = _get(self.base_url + "/metrics")
        self.assertEqual(status, 200)
        found = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return found

    def goAway(self, node):
        path = self.s.nodes[node]
        for pid in nodeProcesses(path):
            os.kill(pid, signal.SIGKILL)
        os.rename(path, path + ".gone")
        self.addCleanup(lambda: os.path.exists(path + ".gone") and restore_node(path))

class OperatorTests(_OperatorCase):
    def test_metrics_move_and_a_node_goes_down(self):
        self.s.addFile(self.client, "a.txt", b"operator " * 1000)
        self.annex("copy", "--to", "origin-n1", "a.txt")
        m = self.metrics()
        puts = m[("annexrelay_requests_total", (("door", "ssh"), ("operation", "put"), ("outcome", "ok")))]
        self.assertEqual(puts, 1)
        self.assertEqual(m[("annexrelay_bytes_total", (("direction", "in"), ("door", "ssh")))], 9000)
        self.assertEqual(m[("annexrelay_node_reachable", (("node", "n1"),))], 1)
        self.assertGreaterEqual(m[("annexrelay_sessions_total", (("door", "ssh"),))], 1)
        self.assertEqual(_get(self.base_url + "/readyz")[0], 200)
        # Failed requests have a log line of their own (see the end).
        self.annex("drop", "a.txt")
        self.annex("get", "--from", "origin-n1", "a.txt")
        m = self.metrics()
        self.assertEqual(m[("annexrelay_bytes_total", (("direction", "out"), ("door", "ssh")))], 9000)
        # The node goes away: the next request cannot reach it.
        self.annex("drop", "a.txt")
        self.goAway("n1")
        self.annex("get", "--from", "origin-n1", "a.txt", ok=False)
        m = self.metrics()
        self.assertEqual(m[("annexrelay_node_reachable", (("node", "n1"),))], 0)
        self.assertIn(("annexrelay_node_last_failure_timestamp_seconds", (("node", "n1"),)), m)
        status, html = _get(self.base_url + "/")
        self.assertEqual(status, 200)
        self.assertIn("unreachable", html)
        self.assertIn("cannot reach node n1", html)
        p = subprocess.run(
            ["annexrelay", "status", "--repo", self.s.proxy], env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertIn("n1", out)
        self.assertIn("UNREACHABLE: cannot reach node n1", out)
        self.assertEqual(_get(self.base_url + "/healthz"), (200, "ok\n"))
        self.assertRegex(self.daemonLog(), r"\[annexrelay.requests#info\] ssh get SHA256E-s9000--\S+ on \S+ from client \S+: error, 0 byte\(s\), [0-9.]+ s: cannot reach node n1")

    def test_status_without_a_daemon(self):
        self.stopDaemon()
        p = subprocess.run(
            ["annexrelay", "status", "--repo", self.s.proxy], env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.assertEqual(p.returncode, 1)
        self.assertIn("no annexrelay daemon", p.stderr.decode())

    def test_status_page_in_a_browser(self):
        try:
            browser = _browser()
        except Exception as e:  # a browser that cannot start here
            self.skipTest("no usable headless Chromium: %s" % (e,))
        if browser is None:
            self.skipTest("selenium, chromium and chromium-driver are needed (.ci/run installs them)")
        self.addCleanup(browser.quit)
        from selenium.webdriver.common.by import By

        big = os.path.join(self.client, "big.bin")
        with open(big, "wb") as f:
            for _ in range(768):
                f.write(os.urandom(1 << 20))
        self.s.git("annex", "add", "-q", "big.bin", cwd=self.client)
        copy = subprocess.Popen(
            ["git", "annex", "copy", "--to", "origin-n1", "big.bin"], cwd=self.client, env=self.s.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.addCleanup(lambda: copy.poll() is None and copy.kill())
        seen = None
        deadline = time.monotonic() + 120
        while seen is None and copy.poll() is None and time.monotonic() < deadline:
            browser.get(self.base_url + "/")
            for bar in browser.find_elements(By.CSS_SELECTOR, "#transfers tr.transfer [role=progressbar]"):
                done = int(bar.get_attribute("aria-valuenow"))
                if 0 < done < int(bar.get_attribute("aria-valuemax")):
                    seen = (done, browser.find_element(By.ID, "transfers").text)
        self.assertIsNotNone(seen, "no transfer in progress was shown")
        self.assertIn("put", seen[1])
        browser.save_screenshot(os.path.join(self.s.base, "status-transfer.png"))
        self.assertEqual(copy.wait(timeout=120), 0)
        # A node going down shows on the page.
        self.annex("drop", "big.bin")
        self.goAway("n1")
        self.annex("get", "--from", "origin-n1", "big.bin", ok=False)
        browser.get(self.base_url + "/")
        row = browser.find_element(By.CSS_SELECTOR, '#nodes tr[data-node="n1"]')
        self.assertIn("unreachable", row.text)
        shot = os.path.join(self.s.base, "status-node-down.png")
        browser.save_screenshot(shot)
        keep = os.environ.get("ANNEXRELAY_SCREENSHOTS")
        if keep:
            os.makedirs(keep, exist_ok=True)
            for name in ("status-transfer.png", "status-node-down.png"):
                shutil.copy(os.path.join(self.s.base, name), os.path.join(keep, name))


class HttpMetricsTests(_OperatorCase):
    """
    The same series for the annex+http door: a real client through
    annexUrl moves C{door="http"} counters.
    """

    def setUp(self):
        from annexrelay.testing.ports import wait_listening

        self.port = free_port()
        self.httpPort = free_port()
        self.daemonArgs = (
            "--metrics", "tcp:%d:interface=127.0.0.1" % (self.port,),
            "--wideopen", "--p2phttp", "tcp:%d:interface=127.0.0.1" % (self.httpPort,),
        )
        InteropCase.setUp(self)
        wait_listening(self.httpPort, self.proc)
        self.base_url = "http://127.0.0.1:%d" % (self.port,)
        self.s.git("config", "remote.origin.annexUrl", "annex+http://127.0.0.1:%d/git-annex/" % (self.httpPort,), cwd=self.client)
        self.s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=self.client)

    def test_http_copy_get_drop(self):
        self.s.addFile(self.client, "h.txt", b"over http " * 900)
        self.annex("copy", "--to", "origin-n1", "h.txt")
        self.annex("drop", "h.txt")
        self.annex("get", "--from", "origin-n1", "h.txt")
        self.annex("drop", "--from", "origin-n1", "h.txt")
        m = self.metrics()
        label = lambda op, outcome: ("annexrelay_requests_total", (("door", "http"), ("operation", op), ("outcome", outcome)))
        self.assertEqual(m[label("put", "ok")], 1)
        self.assertGreaterEqual(m[label("get", "ok")], 1)
        self.assertGreaterEqual(m[label("remove", "ok")], 1)
        self.assertEqual(m[("annexrelay_bytes_total", (("direction", "in"), ("door", "http")))], 9000)
        self.assertEqual(m[("annexrelay_bytes_total", (("direction", "out"), ("door", "http")))], 9000)
