"""
The annex+http door on a unix socket (C{--p2phttp unix:PATH:mode=600})
behind a small reverse proxy on 127.0.0.1 (L{annexrelay.testing.revproxy},
as a forge or nginx would sit in front): the real client copies, gets
and drops through it.
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile

from annexrelay.testing.ports import free_port, wait_listening
from tests.interop.test_http import HttpCase


class UnixSocketBehindProxyTests(HttpCase):
    def startDaemon(self):
        # (A short path: unix socket paths are limited to about 100 bytes.)
        folder = tempfile.mkdtemp(prefix="ar-")
        self.addCleanup(shutil.rmtree, folder, True)
        self.socket = os.path.join(folder, "http.sock")
        self.daemonArgs = tuple(self.httpArgs) + ("--p2phttp", "unix:%s:mode=600" % (self.socket,))
        HttpCase.__bases__[0].startDaemon(self)
        self.port = free_port()
        self.revproxy = subprocess.Popen(
            [sys.executable, "-m", "annexrelay.testing.revproxy", "tcp:%d:interface=127.0.0.1" % (self.port,), self.socket],
            env=self.s.env,
        )
        self.addCleanup(self._stopProxy)
        wait_listening(self.port, self.revproxy)

    def _stopProxy(self):
        self.revproxy.terminate()
        self.revproxy.wait()

    def test_copy_get_drop_through_the_proxy(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.socket).st_mode), 0o600)
        content = os.urandom(300 * 1024)
        self.s.addFile(self.client, "p.bin", content)
        k = self.key("p.bin")
        self.annex("copy", "--to", "origin-n1", "p.bin")
        self.assertTrue(self.nodeHas("n1", k))
        self.annex("drop", "p.bin")
        self.annex("get", "--from", "origin-n1", "p.bin")
        with open(os.path.join(self.client, "p.bin"), "rb") as f:
            self.assertEqual(f.read(), content)
        self.annex("drop", "--from", "origin-n1", "p.bin")
        self.assertFalse(self.nodeHas("n1", k))
        for route in ("put v4", "key v4", "remove v4"):
            self.assertTrue(self.httpRequests(route), route)
        self.assertCleanLog()
