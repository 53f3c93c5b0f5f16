"""
The annex+http door's bounds over real HTTP on 127.0.0.1, with the daemon
as C{twistd -n annexrelay}: a hundred concurrent requests through
C{--max-requests 4} all answered (queued, none lost, no wedge), and a
connection whose headers never end closed after C{--header-timeout} while
the others are served; a node stopped (SIGSTOP) in the middle of the
pool answered 504 within C{--node-timeout}, and the next request served
by a fresh node connection; a put body that stops cut after
C{--body-timeout}, then resumed from what the node kept; a 512 MiB put
and a GET whose reader stops half-way keep the daemon's peak RSS within
32 MiB of its baseline.  Every wait is on an event (a reply, a closed
socket) or a bounded poll.
"""

import json
import os
import signal
import socket
import time
import urllib.request

from annexrelay.testing import httpload
from annexrelay.testing.ports import free_port
from tests.frontdoor.http import test_faults as faults
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


def _children(pid):
    """
    The descendants of C{pid}: {pid: command line}.
    """
    parents, cmds = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmds[int(entry)] = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in out:
                out[child] = cmds.get(child, "")
                todo.append(child)
    return out


class StalledNodeTests(HttpCase):
    httpArgs = ("--wideopen", "--node-timeout", "3")

    def call(self, action):
        raw = Raw(self.port)
        try:
            raw.request("POST", "/git-annex/%s/v4/%s?key=%s&clientuuid=%s" % (self.uuids["n1"], action, KEY, CU), [("Content-Length", "0")])
            status, headers = raw.head()
            return status, raw.body(headers)
        finally:
            raw.close()

    def test_stalled_node_gets_504_and_the_next_request_a_fresh_node(self):
        self.assertEqual(self.call("checkpresent"), (200, b'{"present":false}'))
        nodes = [pid for pid, cmd in _children(self.proc.pid).items() if "p2pstdio" in cmd]
        self.assertTrue(nodes, _children(self.proc.pid))
        for pid in nodes:
            os.kill(pid, signal.SIGSTOP)
        self.addCleanup(lambda: [_kill(pid, signal.SIGCONT) for pid in nodes])
        start = time.monotonic()
        status, body = self.call("checkpresent")
        self.assertEqual((status, body), (504, b"no answer from the node to CHECKPRESENT in 3 seconds\n"))
        self.assertLess(time.monotonic() - start, 30)
        # The stalled connection is not reused: the next request is served.
        self.assertEqual(self.call("checkpresent"), (200, b'{"present":false}'))
        self.assertIn("no answer from the node to CHECKPRESENT in 3 seconds", self.daemonLog())
        self.assertCleanLog()


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


class StalledBodyTests(HttpCase):
    """
    A put whose client stops sending in the middle of its body, its
    connection left open: cut after C{--body-timeout}, the node keeps what
    it got, and the put resumes from there.
    """

    httpArgs = ("--wideopen", "--body-timeout", "2")

    def setUp(self):
        HttpCase.setUp(self)
        self.n1 = self.uuids["n1"]

    call = faults.HttpFaultTests.call
    put = faults.HttpFaultTests.put
    putoffset = faults.HttpFaultTests.putoffset
    waitForLog = faults.HttpFaultTests.waitForLog
    waitForOffset = faults.HttpFaultTests.waitForOffset

    def test_stalled_put_body_is_cut_and_resumes(self):
        raw = Raw(self.port)
        try:
            headers = [("X-git-annex-data-length", str(faults.SIZE)), ("Content-Length", str(faults.SIZE))]
            path = "/git-annex/%s/v4/put?key=%s&clientuuid=%s" % (self.n1, faults.KEY, CU)
            raw.request("POST", path, headers, faults.CONTENT[: 1024 * 1024])
            # The daemon closes the silent upload (within the socket's 60 s).
            try:
                self.assertEqual(raw.sock.recv(100), b"")
            except ConnectionResetError:
                pass
        finally:
            raw.close()
        self.waitForLog("the request body stopped arriving for 2 s")
        offset = self.waitForOffset()
        self.assertTrue(0 < offset <= 1024 * 1024, offset)
        self.assertFalse(self.nodeHas("n1", faults.KEY))
        self.assertEqual(self.put(faults.CONTENT[offset:], faults.SIZE - offset, offset), {"plusuuids": [], "stored": True})
        self.assertTrue(self.nodeHas("n1", faults.KEY))
        self.assertCleanLog()


def _proc(pid, name, field):
    """
    A field of /proc/PID/status (KiB) or /proc/PID/io (bytes).
    """
    with open("/proc/%d/%s" % (pid, name)) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class FlatMemoryTests(HttpCase):
    """
    A 512 MiB put, then its GET by a reader that stops half-way until the
    daemon has stopped sending (backpressure reached the node): the
    daemon's peak RSS grows by less than 32 MiB over a warmed-up baseline,
    and the content comes back intact.  (./dev bench http-big does 5 GiB.)
    """

    SIZE = 512 << 20
    BOUND = 32 << 10  # KiB

    def test_big_put_and_stopped_reader_keep_memory_flat(self):
        n1, pid = self.uuids["n1"], self.proc.pid
        small = httpload.worm_key(1 << 20, "small.bin")
        self.assertEqual(httpload.stream_put(self.port, n1, small, 1 << 20, httpload.big_chunks(1 << 20))[0], 200)
        self.assertEqual(httpload.stream_get(self.port, n1, small)[:2], (200, 1 << 20))
        baseline = _proc(pid, "status", "VmHWM")
        key = httpload.worm_key(self.SIZE)
        status, reply, sent = httpload.stream_put(self.port, n1, key, self.SIZE, httpload.big_chunks(self.SIZE))
        self.assertEqual((status, json.loads(reply)), (200, {"plusuuids": [], "stored": True}))
        self.assertLess(_proc(pid, "status", "VmHWM") - baseline, self.BOUND)
        held = []

        def stopped():
            # Bounded polling: until the daemon's written byte count stays
            # put for 20 samples in a row (it is waiting for the reader).
            last, same, end = None, 0, time.monotonic() + 60
            while same < 20 and time.monotonic() < end:
                now = _proc(pid, "io", "wchar")
                same = same + 1 if now == last else 0
                last = now
                time.sleep(0.02)
            held.append((same, _proc(pid, "status", "VmRSS")))

        status, count, got = httpload.stream_get(self.port, n1, key, pause=(self.SIZE // 2, stopped))
        self.assertEqual((status, count, got), (200, self.SIZE, sent))
        self.assertEqual(held[0][0], 20, "the daemon never stopped sending to a reader that stopped")
        self.assertLess(_proc(pid, "status", "VmHWM") - baseline, self.BOUND)
        self.assertCleanLog()
