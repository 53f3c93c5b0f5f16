"""
Bad input to the annex+http door over real sockets: malformed paths, keys
and UUIDs, negative and huge offsets and lengths, absurd headers, junk
bodies and raw random bytes.  Every request gets an HTTP answer (or its
connection is closed, for bytes that are not HTTP), never a traceback or
a hang; nothing is written outside the repositories; the door keeps
serving a real client afterwards.
"""

import os
import random
import socket

from tests.interop.test_http import HttpCase

UUIDS = ["", "x", "00000000-0000-0000-0000-000000000000", "../../etc", "%2e%2e", "a" * 300]
KEYS = ["SHA256E-s1--00", "", "../x", "WORM--\x00", "[bm90IGEga2V5]", "[!!!]", "K" * 5000, "WORM-s3-m1--a b"]
NUMBERS = ["0", "-1", "99999999999999999999999", "1e9", "x", ""]
ROUTES = ["checkpresent", "put", "putoffset", "remove", "remove-before", "gettimestamp", "lockcontent", "keeplocked", "key/"]


def _request(rng, uuids):
    if rng.random() < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    method = rng.choice(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "G\x00T"])
    uuid = rng.choice(UUIDS + uuids)
    version = rng.choice(["v0", "v1", "v3", "v4", "v5", "v-1", ""])
    route = rng.choice(ROUTES)
    if route == "key/":
        path = "/git-annex/%s/%s/key/%s" % (uuid, version, rng.choice(KEYS))
    else:
        path = "/git-annex/%s/%s/%s" % (uuid, version, route)
    if rng.random() < 0.1:
        path = rng.choice(["/", "//", "/git-annex", "/git-annex/", "/../../etc/passwd", "/" + "x/" * 500])
    params = []
    for name in rng.sample(["key", "clientuuid", "associatedfile", "offset", "bypass", "timestamp", "lockid"], rng.randrange(0, 5)):
        value = rng.choice(KEYS + NUMBERS + uuids)
        params.append("%s=%s" % (name, value))
    query = ("?" + "&".join(params)) if params else ""
    body = b""
    headers = ["Host: 127.0.0.1"]
    if method in ("POST", "PUT"):
        n = rng.choice([0, 1, 10, 100])
        body = os.urandom(n)
        length = rng.choice([str(n), str(n), "-5", "99999999999999", "abc"])
        headers.append("Content-Length: " + length)
        if rng.random() < 0.5:
            headers.append("X-git-annex-data-length: " + rng.choice(NUMBERS + [str(n)]))
    if rng.random() < 0.05:
        headers.append("X-Junk: " + "y" * rng.choice([100, 20000]))
    if rng.random() < 0.05:
        headers.append("Authorization: Basic " + rng.choice(["", "!!!", "YWxpY2U6c2VjcmV0", "x" * 1000]))
    head = "%s %s%s HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n" % (method, path, query, "\r\n".join(headers))
    return head.encode("utf-8", "surrogateescape") + body


class HttpFuzzTests(HttpCase):
    timeout = 300

    def test_random_requests(self):
        rng = random.Random(4171)
        uuids = list(self.uuids.values())
        before = {p: sorted(os.listdir(p)) for p in (self.s.base, self.s.proxy)}
        answered = closed = 0
        for i in range(1000):
            data = _request(rng, uuids)
            c = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            try:
                c.sendall(data)
                c.shutdown(socket.SHUT_WR)
                reply = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
            except (ConnectionResetError, BrokenPipeError):
                reply = b""
            finally:
                c.close()
            if reply.startswith(b"HTTP/1."):
                answered += 1
                status = int(reply.split(b" ", 2)[1])
                self.assertTrue(200 <= status < 600, (data[:300], reply[:300]))
                self.assertNotEqual(status, 500, (data[:300], reply[:500]))
            else:
                closed += 1
            self.assertIsNone(self.proc.poll(), "the daemon died")
        self.assertGreater(answered, 800)
        after = {p: sorted(os.listdir(p)) for p in (self.s.base, self.s.proxy)}
        self.assertEqual(before, after)
        self.assertCleanLog()
        # Still serving.
        self.s.addFile(self.client, "after.txt", b"after the storm\n")
        self.annex("copy", "--to", "origin-n1", "after.txt")
