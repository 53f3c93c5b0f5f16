"""
The real git-annex client through C{twistd annexrelay --directory D
--p2phttp ...}: two repositories under D that both proxy the same node,
each client on its repository's own annexUrl
(C{annex+http://HOST/<path>/git-annex/}); a repository made after the
daemon started; git-annex's unscoped C{/git-annex/UUID/} form; unknown
UUIDs answered 404 by a few shared scans.
"""

import os
import socket
import subprocess
import sys
import time

from annexrelay.testing.ports import free_port
from tests.interop.test_http import wait_listening
from tests.interop.test_interop import InteropCase


class DirectoryCase(InteropCase):
    daemon = False
    nodes = 1
    httpArgs = ("--wideopen",)

    def setUp(self):
        InteropCase.setUp(self)
        self.root = os.path.join(self.s.base, "srv")
        os.makedirs(self.root)
        self.a = self.makeProxy("a")
        self.b = self.makeProxy(os.path.join("team", "b"))
        self.port = free_port()
        self.startDirectoryDaemon()

    def makeProxy(self, rel):
        """
        A proxy repository at C{rel} under the directory, proxying n1.
        """
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.s.git("init", "-q", "-b", "main", path, cwd=self.s.base)
        self.s.git("annex", "init", "-q", os.path.basename(rel), cwd=path)
        self.s.git("remote", "add", "n1", self.s.nodes["n1"], cwd=path)
        self.s.git("fetch", "-q", "n1", cwd=path)
        self.s.git("config", "remote.n1.annex-proxy", "true", cwd=path)
        self.s.git("annex", "updateproxy", "-q", cwd=path)
        return path

    def startDirectoryDaemon(self):
        log = open(os.path.join(self.s.base, "annexrelay.log"), "ab")
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        self.proc = subprocess.Popen(
            [twistd, "-n", "--pidfile=", "annexrelay", "--directory", self.root, "--commit-delay", "0.2",
             "--idle-timeout", "5", "--p2phttp", "tcp:%d:interface=127.0.0.1" % (self.port,)] + list(self.httpArgs),
            env=self.s.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.s.base,
        )
        log.close()
        self.addCleanup(self.stopDaemon)
        wait_listening(self.port, self.proc)

    def clientOf(self, proxy, name, scoped=True):
        client = self.s.makeClient(name, url="localhost:" + proxy)
        rel = os.path.relpath(proxy, self.root) + "/" if scoped else ""
        self.s.git("config", "remote.origin.annexUrl", "annex+http://127.0.0.1:%d/%sgit-annex/" % (self.port, rel), cwd=client)
        self.s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=client)
        return client

    def locationLog(self, repo, key):
        path = self.s.git("annex", "examinekey", "--format=${hashdirlower}${key}.log", key, cwd=repo).strip()
        p = subprocess.run(
            ["git", "cat-file", "-p", "refs/heads/git-annex:" + path],
            cwd=repo, env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        return p.stdout.decode()

    def waitForLog(self, repo, key, line_end, timeout=30):
        """
        Wait (bounded) until C{repo}'s committed location log for C{key}
        has a line ending in C{line_end}: waits on the branch's content.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = self.locationLog(repo, key).splitlines()
            if any(l.endswith(line_end) for l in lines):
                return lines
            if time.monotonic() > deadline:
                self.fail("%s's location log never got %r; has %r\n%s" % (repo, line_end, lines, self.daemonLog()))
            time.sleep(0.05)

    def waitForScans(self, n=1):
        """
        Wait (bounded) until the daemon has logged C{n} scans.
        """
        deadline = time.monotonic() + 30
        while self.scans() < n:
            self.assertLess(time.monotonic(), deadline, self.daemonLog())
            time.sleep(0.05)

    def post(self, path, headers=()):
        import http.client

        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("POST", path, body=b"", headers=dict(headers))
        r = c.getresponse()
        answer = (r.status, r.read())
        c.close()
        return answer

    def scans(self):
        return len([l for l in self.daemonLog().splitlines() if "] scan " in l])

    def assertCleanLog(self):
        log = self.daemonLog()
        self.assertNotIn("Unhandled Error", log)
        self.assertNotIn("Traceback", log)


class TwoRepositoriesOneNodeTests(DirectoryCase):
    def test_each_repository_keeps_its_own_location_log(self):
        n1 = self.uuids["n1"]
        ca = self.clientOf(self.a, "client-a")
        cb = self.clientOf(self.b, "client-b")
        self.s.addFile(ca, "a.txt", b"through repository a\n" * 100)
        self.s.addFile(cb, "b.txt", b"through repository b\n" * 100)
        ka, kb = self.key("a.txt", ca), self.key("b.txt", cb)
        self.annex("copy", "--to", "origin-n1", "a.txt", cwd=ca)
        self.annex("copy", "--to", "origin-n1", "b.txt", cwd=cb)
        self.assertTrue(self.nodeHas("n1", ka))
        self.assertTrue(self.nodeHas("n1", kb))
        self.waitForLog(self.a, ka, " 1 " + n1)
        self.waitForLog(self.b, kb, " 1 " + n1)
        self.assertEqual(self.locationLog(self.a, kb), "")
        self.assertEqual(self.locationLog(self.b, ka), "")

        self.annex("drop", "a.txt", cwd=ca)
        self.annex("get", "--from", "origin-n1", "a.txt", cwd=ca)
        with open(os.path.join(ca, "a.txt"), "rb") as f:
            self.assertEqual(f.read(), b"through repository a\n" * 100)
        self.annex("drop", "--from", "origin-n1", "b.txt", cwd=cb)
        self.assertFalse(self.nodeHas("n1", kb))
        self.waitForLog(self.b, kb, " 0 " + n1)
        self.assertEqual(self.locationLog(self.a, kb), "")
        self.assertIn("opened repository %s " % (self.a,), self.daemonLog())
        self.assertIn("opened repository %s " % (self.b,), self.daemonLog())
        self.assertCleanLog()

    def test_unscoped_form_for_a_repositorys_own_uuid(self):
        c = self.clientOf(self.a, "client-own", scoped=False)
        self.s.addFile(c, "own.txt", b"the repository itself\n")
        k = self.key("own.txt", c)
        self.annex("copy", "--to", "origin", "own.txt", cwd=c)
        self.assertTrue(self.s.git("annex", "contentlocation", k, cwd=self.a, check=False).strip())
        self.assertFalse(self.s.git("annex", "contentlocation", k, cwd=self.b, check=False).strip())
        self.annex("drop", "own.txt", cwd=c)
        self.annex("get", "--from", "origin", "own.txt", cwd=c)
        self.assertCleanLog()


class LaterRepositoryTests(DirectoryCase):
    def test_repository_made_after_start_is_found(self):
        later = self.makeProxy(os.path.join("later", "deep", "c"))
        c = self.clientOf(later, "client-c")
        self.s.addFile(c, "c.txt", b"a repository the daemon did not know\n")
        k = self.key("c.txt", c)
        self.annex("copy", "--to", "origin-n1", "c.txt", cwd=c)
        self.assertTrue(self.nodeHas("n1", k))
        self.waitForLog(later, k, " 1 " + self.uuids["n1"])
        self.assertCleanLog()

    def test_unknown_uuids_are_404_after_few_scans(self):
        self.waitForScans()
        before = self.scans()
        socks = []
        for i in range(40):
            path = "/git-annex/%08d-dead-4000-8000-000000000000/v4/checkpresent?key=SHA256E-s1--00&clientuuid=x" % i
            if i % 2:
                path = "/team/b" + path
            s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % path).encode())
            socks.append(s)
        for s in socks:
            answer = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
            s.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 404"), answer)
        # The scoped half resolve within team/b (known: no scan); the
        # unscoped half share one or two scans.
        self.assertLessEqual(self.scans() - before, 2, self.daemonLog())
        self.assertCleanLog()


class ShutdownTests(DirectoryCase):
    def test_location_log_committed_at_stop(self):
        c = self.clientOf(self.a, "client-a")
        self.s.addFile(c, "s.txt", b"committed at shutdown\n")
        k = self.key("s.txt", c)
        self.annex("copy", "--to", "origin-n1", "s.txt", cwd=c)
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.assertIn(" 1 " + self.uuids["n1"], self.locationLog(self.a, k))
        self.assertIn("Server Shut Down", self.daemonLog())
        self.assertCleanLog()


class OnlyCallersLetInScanTests(DirectoryCase):
    """
    Without --wideopen, an unauthenticated request for a repository the
    daemon does not know yet is refused (401) and causes no scan; the
    same request from a user finds it.
    """

    httpArgs = ("--authenv-http",)

    def setUp(self):
        self.password = "s3cret"
        DirectoryCase.setUp(self)

    def startDirectoryDaemon(self):
        self.s.env["GIT_ANNEX_P2PHTTP_PASSWORD_alice"] = self.password
        DirectoryCase.startDirectoryDaemon(self)

    def test_unauthenticated_cannot_scan(self):
        import base64

        self.waitForScans()
        later = self.makeProxy("later")
        uuid = self.s.uuidOf(later)
        path = "/later/git-annex/git-annex/%s/v4/checkpresent?key=SHA256E-s1--00&clientuuid=x" % (uuid,)
        before = self.scans()
        for _ in range(5):
            self.assertEqual(self.post(path), (401, b""))
        self.assertEqual(self.scans(), before)
        alice = {"Authorization": "Basic " + base64.b64encode(b"alice:" + self.password.encode()).decode()}
        self.assertEqual(self.post(path, alice), (200, b'{"present":false}'))
        self.assertEqual(self.scans(), before + 1)
        self.assertCleanLog()


class MetricsTests(DirectoryCase):
    """
    --metrics with --directory: request and session counts by door across
    the repositories, and requests by repository (capped).
    """

    def startDirectoryDaemon(self):
        self.metricsPort = free_port()
        self.httpArgs = ("--wideopen", "--metrics", "tcp:%d:interface=127.0.0.1" % (self.metricsPort,))
        DirectoryCase.startDirectoryDaemon(self)
        wait_listening(self.metricsPort, self.proc)

    def test_requests_of_both_repositories_count_as_door_http(self):
        import urllib.request

        for proxy, name in ((self.a, "client-a"), (self.b, "client-b")):
            c = self.clientOf(proxy, name)
            self.s.addFile(c, "m.txt", name.encode())
            self.annex("copy", "--to", "origin-n1", "m.txt", cwd=c)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (self.metricsPort,), timeout=30) as r:
            text = r.read().decode()
        sessions = [l for l in text.splitlines() if l.startswith('annexrelay_sessions_total{door="http"}')]
        self.assertEqual(len(sessions), 1, text)
        self.assertGreaterEqual(float(sessions[0].split()[-1]), 2)
        byRepository = {l.split('"')[1]: float(l.split()[-1]) for l in text.splitlines()
                        if l.startswith("annexrelay_repository_requests_total{")}
        self.assertEqual(len(byRepository), 2, text)
        self.assertTrue(all(v >= 1 for v in byRepository.values()), byRepository)
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % (self.metricsPort,), timeout=30) as r:
            self.assertEqual(r.read(), b"ready\n")
        self.assertCleanLog()


class StatusAndQuotaTests(DirectoryCase):
    """
    The operator's view of a --directory daemon (/status.json, the page,
    annexrelay status --url) shows each open repository with its nodes;
    a --quota on one repository refuses its client's copy, not the
    other's.
    """

    def setUp(self):
        self.metricsPort = free_port()
        self.httpArgs = ("--wideopen", "--metrics", "tcp:%d:interface=127.0.0.1" % (self.metricsPort,), "--quota", "team/b=10")
        DirectoryCase.setUp(self)

    def test_status_grouped_and_quota(self):
        import json
        import urllib.request

        ca = self.clientOf(self.a, "client-a")
        cb = self.clientOf(self.b, "client-b")
        self.s.addFile(ca, "a.txt", b"through repository a\n" * 100)
        self.s.addFile(cb, "b.txt", b"through repository b\n" * 100)
        self.annex("copy", "--to", "origin-n1", "a.txt", cwd=ca)
        out = self.annex("copy", "--to", "origin-n1", "b.txt", cwd=cb, ok=False)
        self.assertIn("507 over quota: the repository stores 0 bytes of its 10 bytes quota", out)
        self.assertFalse(self.nodeHas("n1", self.key("b.txt", cb)))

        base = "http://127.0.0.1:%d/" % (self.metricsPort,)
        with urllib.request.urlopen(base + "status.json", timeout=30) as r:
            snap = json.loads(r.read())
        self.assertEqual(sorted(r["path"] for r in snap["repositories"]), ["a", "team/b"])
        for r in snap["repositories"]:
            self.assertEqual([t["name"] for t in r["targets"]], ["n1"])
        with urllib.request.urlopen(base, timeout=30) as r:
            html = r.read().decode()
        self.assertIn('<h3 class="repository">team/b', html)
        p = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "annexrelay"), "status", "--url", base],
            env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
        )
        text = p.stdout.decode()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("(2 repositories, 2 open)", text)
        self.assertIn("team/b (", text)
        self.assertCleanLog()
