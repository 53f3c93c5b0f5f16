"""
The README's first command works: C{./dev demo} (a cluster over ssh) and
C{./dev demo http} (clients cloned over http: a user writes and pushes, an
anonymous client reads and is refused a write and a push) run to the end with the real client.
"""

import subprocess
import sys

from tests.interop.test_interop import InteropCase


class DemoTests(InteropCase):
    daemon = False
    timeout = 300

    def setUp(self):
        pass

    def demo(self, *args):
        p = subprocess.run(
            [sys.executable, "-m", "annexrelay.demo"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=280
        )
        out = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, out)
        return out

    def test_cluster_demo(self):
        out = self.demo()
        # What the gateway did when n1 was gone: it says n1 cannot be reached.
        self.assertRegex(out, r"skipping node n1: cannot reach node n1")
        self.assertNotIn("Traceback", out)

    def test_http_demo(self):
        out = self.demo("http")
        # Cloned over http, the client found annex+http in /config.
        self.assertRegex(out, r"annex\+http://127\.0\.0\.1:\d+/git-annex/")
        self.assertIn("get hello.txt (from origin-c1...)", out)
        self.assertIn("-> 401", out)
        self.assertIn("POST git receive-pack / - -> 200", out)
        self.assertIn("GET git refs receive-pack / - -> 401", out)
        self.assertNotIn("Traceback", out)
