"""
The annex+http door's bounds over real HTTP on 127.0.0.1, with the daemon
as C{twistd -n annexrelay}: a hundred concurrent requests through
C{--max-requests 4} all answered (queued, none lost, no wedge), and a
connection whose headers never end closed after C{--header-timeout} while
the others are served.  Every wait is on an event (a reply, a closed
socket), bounded in time.
"""

import json
import socket
import urllib.request

from annexrelay.testing.ports import free_port
from tests.frontdoor.http.test_faults import Raw
from tests.interop.test_http import HttpCase

CU = "22222222-3333-4444-5555-666666666666"
KEY = "SHA256E-s3--0000000000000000000000000000000000000000000000000000000000000000"


class HttpLoadTests(HttpCase):
    def startDaemon(self):
        self.metricsPort = free_port()
        self.httpArgs = (
            "--wideopen", "--max-requests", "4", "--header-timeout", "2",
            "--metrics", "tcp:%d:interface=127.0.0.1" % (self.metricsPort,),
        )
        HttpCase.startDaemon(self)

    def path(self, action):
        return "/git-annex/%s/v4/%s?key=%s&clientuuid=%s" % (self.uuids["n1"], action, KEY, CU)

    def metric(self, name):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (self.metricsPort,), timeout=30) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None

    def test_hundred_clients_through_four_slots(self):
        clients = []
        try:
            for _ in range(100):
                raw = Raw(self.port)
                raw.request("POST", self.path("checkpresent"), [("Content-Length", "0")])
                clients.append(raw)
            answers = []
            for raw in clients:
                status, headers = raw.head()
                answers.append((status, json.loads(raw.body(headers))))
        finally:
            for raw in clients:
                raw.close()
        self.assertEqual(answers, [(200, {"present": False})] * 100)
        self.assertEqual(self.metric("annexrelay_admission_refusals_total"), 0.0)
        self.assertEqual(self.metric("annexrelay_requests_queued"), 0.0)
        self.assertEqual(len(self.httpRequests("checkpresent v4")), 100)
        self.assertCleanLog()

    def test_headers_that_never_end_are_cut(self):
        slow = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        try:
            slow.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (self.path("checkpresent"),)).encode())
            raw = Raw(self.port)
            raw.request("POST", self.path("checkpresent"), [("Content-Length", "0")])
            status, headers = raw.head()
            self.assertEqual((status, json.loads(raw.body(headers))), (200, {"present": False}))
            raw.close()
            # Closed (aborted) by the daemon, within the 60 s socket timeout.
            try:
                self.assertEqual(slow.recv(100), b"")
            except ConnectionResetError:
                pass
        finally:
            slow.close()
        self.assertIn("its request headers took over 2 s", self.daemonLog())
        self.assertCleanLog()
