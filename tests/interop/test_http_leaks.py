"""
1000 interrupted requests to the annex+http door (a GET cut after its first
bytes, a remove or lockcontent whose client goes away at once), then
nothing left over: the daemon's open descriptors, its node connections and
its sessions come back to what they were (counted from /proc and the
daemon's own status), and it still serves.
"""

import hashlib
import json
import os
import socket
import time
import urllib.request

from annexrelay.testing.ports import free_port
from tests.interop.test_http import HttpCase

CYCLES = int(os.environ.get("LEAK_CYCLES", "1000"))
KINDS = os.environ.get("LEAK_KINDS", "get,remove,lock").split(",")


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % (pid,)))


class InterruptedRequestTests(HttpCase):
    timeout = 600

    def startDaemon(self):
        self.metricsPort = free_port()
        self.httpArgs = ("--wideopen", "--metrics", "tcp:%d:interface=127.0.0.1" % (self.metricsPort,))
        HttpCase.startDaemon(self)

    def status(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/status.json" % (self.metricsPort,), timeout=30) as r:
            return json.loads(r.read())

    def live(self):
        snap = self.status()
        opened = sum(t.get("open", 0) for t in snap["targets"] if "open" in t)
        return opened, len(snap["transfers"])

    def cut(self, request, readFirst):
        c = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        try:
            c.sendall(request)
            if readFirst:
                c.recv(4096)
        finally:
            c.close()

    def test_thousand_interrupted_requests(self):
        content = os.urandom(4 << 20)
        self.s.addFile(self.client, "big.bin", content)
        key = self.key("big.bin")
        self.annex("copy", "--to", "origin-n1", "big.bin")
        node, client = self.uuids["n1"], self.uuids["n2"]
        get = ("GET /git-annex/%s/v4/key/%s?clientuuid=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (node, key, client)).encode()
        absent = "SHA256E-s5--" + hashlib.sha256(b"none").hexdigest()
        remove = ("POST /git-annex/%s/v4/remove?key=%s&clientuuid=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % (node, absent, client)).encode()
        lock = ("POST /git-annex/%s/v4/lockcontent?key=%s&clientuuid=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % (node, key, client)).encode()
        # One of each first, so the pool and the caches are warm.
        for request, first in ((get, True), (remove, False), (lock, False)):
            self.cut(request, first)
        deadline = time.monotonic() + 60
        while self.live()[1]:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        fds = _fds(self.proc.pid)
        kinds = [k for k in [("get", get, True), ("remove", remove, False), ("lock", lock, False)] if k[0] in KINDS]
        for i in range(CYCLES):
            _, request, first = kinds[i % len(kinds)]
            self.cut(request, first)
        # Every session ends, and with it what it held.
        deadline = time.monotonic() + 120
        while True:
            opened, inFlight = self.live()
            if inFlight == 0 and opened <= 1 and _fds(self.proc.pid) <= fds + 4:
                break
            self.assertLess(time.monotonic(), deadline, (opened, inFlight, _fds(self.proc.pid), fds))
            time.sleep(0.1)
        self.assertIsNone(self.proc.poll())
        # The key is not left locked: it can be dropped from the node.
        self.annex("drop", "--from", "origin-n1", "big.bin")
        self.assertFalse(self.nodeHas("n1", key))
        self.assertCleanLog()
