"""
The annex+http door over real HTTP on 127.0.0.1, spoken to with raw
sockets so a client can go away at any byte: a GET or a put cut short
(the session ends, the node connection is not reused mid-request, a
retried put resumes from what the node kept), a body shorter or longer
than announced, a keeplocked client that disconnects.  Every wait is on
an event (a reply, a log line), bounded in time.
"""

import hashlib
import json
import os
import socket
import time

from annexrelay.testing.gitrepos import restore_node
from tests.interop.test_http import HttpCase

SIZE = 3 * 1000 * 1000
CONTENT = bytes(range(256)) * (SIZE // 256) + b"y" * (SIZE % 256)
KEY = "SHA256E-s%d--%s" % (SIZE, hashlib.sha256(CONTENT).hexdigest())
CU = "22222222-3333-4444-5555-666666666666"


class Raw:
    """
    One HTTP/1.1 connection, byte by byte.
    """

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, path, headers=(), body=b""):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"] + ["%s: %s" % h for h in headers]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def head(self):
        """
        The status and headers of the response.
        """
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict((k.lower(), v.strip()) for k, _, v in (l.partition(":") for l in lines[1:]))
        return int(lines[0].split()[1]), headers

    def read(self, n):
        while len(self.buffer) < n:
            self._more()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buffer += data

    def body(self, headers):
        if "content-length" in headers:
            return self.read(int(headers["content-length"]))
        out = b""
        while True:
            while b"\r\n" not in self.buffer:
                self._more()
            size, self.buffer = self.buffer.split(b"\r\n", 1)
            n = int(size, 16)
            out += self.read(n + 2)[:n]
            if n == 0:
                return out

    def close(self):
        self.sock.close()


class HttpFaultTests(HttpCase):
    def setUp(self):
        HttpCase.setUp(self)
        self.n1 = self.uuids["n1"]

    def call(self, method, path, headers=(), body=b""):
        raw = Raw(self.port)
        try:
            raw.request(method, "/git-annex/%s/%s" % (self.n1, path), headers, body)
            status, h = raw.head()
            return status, h, raw.body(h)
        finally:
            raw.close()

    def put(self, data, length, offset=0):
        headers = [("X-git-annex-data-length", str(length)), ("Content-Length", str(len(data)))]
        status, _, body = self.call("POST", "v4/put?key=%s&clientuuid=%s&offset=%d" % (KEY, CU, offset), headers, data)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def putoffset(self):
        status, _, body = self.call("POST", "v4/putoffset?key=%s&clientuuid=%s" % (KEY, CU))
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def waitForLog(self, text, count=1, deadline=30):
        end = time.monotonic() + deadline
        while self.daemonLog().count(text) < count:
            if time.monotonic() > end:
                self.fail("the daemon never logged %r:\n%s" % (text, self.daemonLog()))
            time.sleep(0.02)

    def waitForOffset(self, deadline=30):
        """
        putoffset, until the node shows what it kept (its previous session
        may still be finishing): bounded.
        """
        end = time.monotonic() + deadline
        while True:
            o = self.putoffset().get("offset", 0)
            if o > 0 or time.monotonic() > end:
                return o
            time.sleep(0.05)

    def stored(self):
        self.assertEqual(self.put(CONTENT, SIZE), {"plusuuids": [], "stored": True})
        self.assertTrue(self.nodeHas("n1", KEY))

    def assertClean(self):
        log = self.daemonLog()
        self.assertNotIn("Unhandled Error", log)
        self.assertNotIn("Traceback", log)

    def test_client_gone_mid_get(self):
        self.stored()
        raw = Raw(self.port)
        raw.request("GET", "/git-annex/%s/v4/key/%s?clientuuid=%s" % (self.n1, KEY, CU))
        status, headers = raw.head()
        self.assertEqual((status, headers["x-git-annex-data-length"]), (200, str(SIZE)))
        raw.read(100 * 1024)
        raw.close()
        self.waitForLog("-> gone")
        # The put's session served the GET too (it was between requests).
        self.waitForLog("ended after 2 request(s)")
        # The next GET gets the whole object from a fresh node connection.
        status, headers, body = self.call("GET", "v4/key/%s?clientuuid=%s" % (KEY, CU))
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(CONTENT).hexdigest())
        self.assertClean()

    def test_client_gone_mid_put_then_resume(self):
        raw = Raw(self.port)
        headers = [("X-git-annex-data-length", str(SIZE)), ("Content-Length", str(SIZE))]
        raw.request("POST", "/git-annex/%s/v4/put?key=%s&clientuuid=%s" % (self.n1, KEY, CU), headers, CONTENT[: 1024 * 1024])
        self.waitForLog(" PUT %s to node n1" % (KEY,))
        raw.close()
        self.waitForLog("client stopped sending in the middle of PUT data")
        offset = self.waitForOffset()
        self.assertTrue(0 < offset <= 1024 * 1024, offset)
        self.assertFalse(self.nodeHas("n1", KEY))
        self.assertEqual(self.put(CONTENT[offset:], SIZE - offset, offset), {"plusuuids": [], "stored": True})
        self.assertTrue(self.nodeHas("n1", KEY))
        self.assertIn("from offset %d" % (offset,), self.daemonLog())
        self.waitForProxyLog(KEY, " 1 " + self.n1)
        self.assertClean()

    def test_body_shorter_than_announced(self):
        self.assertEqual(self.put(CONTENT[:500000], SIZE), {"plusuuids": [], "stored": False})
        self.assertFalse(self.nodeHas("n1", KEY))
        self.assertIn("%d byte(s) shorter" % (SIZE - 500000,), self.daemonLog())
        # Nothing was recorded; what the node got is kept for a resume.
        self.assertEqual(self.waitForOffset(), 500000)
        self.assertEqual(self.proxyLog(KEY), "")
        self.assertClean()

    def test_body_longer_than_announced_and_bad_lengths(self):
        self.assertEqual(self.put(CONTENT + b"more", SIZE), {"plusuuids": [], "stored": False})
        self.assertFalse(self.nodeHas("n1", KEY))
        self.assertEqual(self.put(CONTENT, -3), {"plusuuids": [], "stored": False})
        self.assertEqual(self.put(CONTENT, SIZE, offset=-1), {"plusuuids": [], "stored": False})
        self.stored()
        self.assertClean()

    def test_keeplocked_client_gone_releases_the_lock(self):
        self.stored()
        status, _, body = self.call("POST", "v4/lockcontent?key=%s&clientuuid=%s" % (KEY, CU))
        lock = json.loads(body)
        self.assertTrue(lock["locked"])
        raw = Raw(self.port)
        headers = [("Transfer-Encoding", "chunked"), ("Content-Type", "application/json;charset=utf-8")]
        line = b'{"unlock":false}\n'
        raw.request("POST", "/git-annex/%s/v4/keeplocked?lockid=%s&clientuuid=%s" % (self.n1, lock["lockid"], CU), headers, b"%x\r\n%s\r\n" % (len(line), line))
        self.waitForLog("released:", count=0)
        raw.close()
        self.waitForLog("released: the client went away")
        # The node's lock is gone: the content can be removed.
        status, _, body = self.call("POST", "v4/remove?key=%s&clientuuid=%s" % (KEY, CU))
        self.assertEqual(json.loads(body), {"plusuuids": [], "removed": True})
        self.assertClean()

    def test_keeplocked_unlock(self):
        self.stored()
        status, _, body = self.call("POST", "v4/lockcontent?key=%s&clientuuid=%s" % (KEY, CU))
        lockid = json.loads(body)["lockid"]
        lines = b'{"unlock": false}\n{"unlock": true}\n'
        status, _, body = self.call("POST", "v4/keeplocked?lockid=%s&clientuuid=%s" % (lockid, CU), [("Content-Length", str(len(lines)))], lines)
        self.assertEqual((status, json.loads(body)), (200, {"locked": False}))
        self.waitForLog("released: the client unlocked")
        self.assertClean()

    def test_head_and_content_length(self):
        self.stored()
        raw = Raw(self.port)
        raw.request("HEAD", "/git-annex/%s/key/%s" % (self.n1, KEY))
        status, headers = raw.head()
        raw.close()
        self.assertEqual((status, headers["content-length"], headers["x-git-annex-data-length"]), (200, str(SIZE), str(SIZE)))
        status, headers, body = self.call("GET", "v4/key/%s?clientuuid=%s&offset=%d" % (KEY, CU, SIZE - 10))
        self.assertEqual((headers["content-length"], body), ("10", CONTENT[-10:]))
        self.assertClean()

    def test_unreachable_node_is_502(self):
        path = self.s.nodes["n2"]
        os.rename(path, path + ".gone")
        self.addCleanup(restore_node, path)
        raw = Raw(self.port)
        raw.request("POST", "/git-annex/%s/v4/checkpresent?key=%s&clientuuid=%s" % (self.uuids["n2"], KEY, CU))
        status, headers = raw.head()
        body = raw.body(headers)
        raw.close()
        self.assertEqual(status, 502)
        self.assertIn(b"cannot reach node n2", body)
        # The other node is served meanwhile.
        self.assertEqual(self.call("POST", "v4/checkpresent?key=%s&clientuuid=%s" % (KEY, CU))[:1], (200,))
        self.assertClean()

    def test_client_gone_in_the_headers(self):
        raw = Raw(self.port)
        raw.send(b"POST /git-annex/%s/v4/checkpresent HTTP/1.1\r\nHost: x\r\n" % (self.n1.encode(),))
        raw.close()
        status, _, body = self.call("POST", "v4/checkpresent?key=%s&clientuuid=%s" % (KEY, CU))
        self.assertEqual((status, body), (200, b'{"present":false}'))
        self.assertClean()
