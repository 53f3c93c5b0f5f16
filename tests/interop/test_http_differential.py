"""
Differential: the same raw requests to git-annex's own C{git annex
p2phttp} and to annexrelay's annex+http door, on the same proxy
repository, give the same status and the same body (JSON, or git-annex's
error text), and for a GET the same C{X-git-annex-data-length}.

Where git-annex is known to hang or crash (see the spec's section 8: a
proxied special remote, a negative GET offset) no request is sent to it.
"""

import base64
import hashlib
import http.client
import os
import subprocess

from twisted.trial import unittest

from annexrelay.testing.ports import free_port
from annexrelay.testing.ports import wait_listening
from tests.interop.test_interop import _have_git_annex
from annexrelay.testing.lab import Setup

CU = "11111111-2222-3333-4444-555555555555"
USERS = {
    "GIT_ANNEX_P2PHTTP_PASSWORD_alice": "secret",
    "GIT_ANNEX_P2PHTTP_PASSWORD_bob": "pw2",
    "GIT_ANNEX_P2PHTTP_PERMISSIONS_bob": "readonly",
    "GIT_ANNEX_P2PHTTP_PASSWORD_carol": "pw3",
    "GIT_ANNEX_P2PHTTP_PERMISSIONS_carol": "appendonly",
}


def b64(s):
    return "[" + base64.urlsafe_b64encode(s.encode()).decode() + "]"


def keyFor(content, ext=".txt"):
    return "SHA256E-s%d--%s%s" % (len(content), hashlib.sha256(content).hexdigest(), ext)


def request(port, method, path, body=None, headers=None):
    """
    One request on a new connection: C{(status, headers, body)}.
    """
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        try:
            c.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            # The server answered before it read the whole body, and
            # closed (git-annex's, under load): its answer is still there.
            pass
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


class Servers:
    """
    git-annex's p2phttp and annexrelay's door on one repository, with the
    same flags.
    """

    def __init__(self, case, setup, flags):
        self.case = case
        self.s = setup
        env = dict(setup.env, **USERS)
        self.ga = free_port()
        log = open(os.path.join(setup.base, "p2phttp.log"), "ab")
        self.gaProc = subprocess.Popen(
            ["git", "annex", "p2phttp", "-J4", "--bind", "127.0.0.1", "--port", str(self.ga)] + list(flags),
            cwd=setup.proxy, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        case.addCleanup(self._stop, self.gaProc)
        self.ar = free_port()
        twistd = os.path.join(os.path.dirname(__import__("sys").executable), "twistd")
        log = open(os.path.join(setup.base, "annexrelay.log"), "ab")
        self.arProc = subprocess.Popen(
            [twistd, "-n", "--pidfile=", "annexrelay", "--repo", setup.proxy, "--commit-delay", "0.2",
             "--p2phttp", "tcp:%d:interface=127.0.0.1" % (self.ar,)] + list(flags),
            cwd=setup.base, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        case.addCleanup(self._stop, self.arProc)
        wait_listening(self.ga, self.gaProc)
        wait_listening(self.ar, self.arProc)

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            proc.terminate()
            proc.wait()

    def both(self, method, path, body=None, headers=None):
        return (
            request(self.ga, method, path, body, headers),
            request(self.ar, method, path, body, headers),
        )


def normal(response, contents=True):
    """
    What must agree: status, body (JSON with sorted lists and no lock id),
    the data length of a GET, whether there is an auth challenge.
    """
    status, headers, body = response
    if headers.get("content-type", "").startswith("application/json"):
        import json

        value = json.loads(body)
        if "lockid" in value:
            value["lockid"] = "<lockid>"
        if isinstance(value.get("timestamp"), int):
            # Each server's monotonic clock, a second apart at most.
            value["timestamp"] = "<int>"
        if "plusuuids" in value:
            value["plusuuids"] = sorted(value["plusuuids"])
        body = value
    elif not contents:
        body = len(body)
    return (status, body, headers.get("x-git-annex-data-length"), "www-authenticate" in headers)


class DifferentialCase(unittest.TestCase):
    maxDiff = None
    if not _have_git_annex():
        skip = "git-annex must be on PATH (./dev test installs it)"

    flags = ("--wideopen",)

    def setUp(self):
        self.s = Setup(self.mktemp(), nodes=3, bare=False)  # files are added in n1's work tree
        self.uuids = {n: self.s.uuidOf(p) for n, p in self.s.nodes.items()}
        self.cluster = self.s.makeCluster("c1", ["n2", "n3"])
        self.content = b"differential content\n"
        self.key = keyFor(self.content)
        path = os.path.join(self.s.nodes["n1"], "f.txt")
        with open(path, "wb") as f:
            f.write(self.content)
        self.s.git("annex", "add", "-q", "f.txt", cwd=self.s.nodes["n1"])
        self.servers = Servers(self, self.s, self.flags)

    def same(self, method, path, body=None, headers=None):
        ga, ar = self.servers.both(method, path, body, headers)
        self.assertEqual(normal(ar), normal(ga), "%s %s" % (method, path))
        return ar


class RequestTests(DifferentialCase):
    def test_routes_versions_parameters(self):
        n1, c1, k, g = self.uuids["n1"], self.cluster, self.key, "/git-annex/"
        cu = "&clientuuid=" + CU
        for v in range(6):
            self.same("POST", g + n1 + "/v%d/checkpresent?key=%s%s" % (v, k, cu))
            self.same("POST", g + n1 + "/v%d/gettimestamp?clientuuid=%s" % (v, CU))
            self.same("POST", g + n1 + "/v%d/putoffset?key=%s%s" % (v, keyFor(b"nothing here"), cu))
            self.same("GET", g + n1 + "/v%d/key/%s?clientuuid=%s" % (v, k, CU))
            self.same("POST", g + n1 + "/v%d/lockcontent?clientuuid=%s" % (v, CU))
        for path in [
            "/v4/checkpresent?key=" + b64(k) + "&clientuuid=" + b64(CU),
            "/v4/checkpresent?key=" + k,
            "/v4/checkpresent?clientuuid=" + CU,
            "/v4/checkpresent",
            "/v4/checkpresent?key=garbage" + cu,
            "/v4/checkpresent?key=%5Bzz!!%5D" + cu,
            "/v4/checkpresent?key=" + k + "&clientuuid=",
            "/v4/checkpresent?key=" + k + cu + "&bypass=",
            "/v4/checkpresent?key=" + k + cu + "&bypass=" + self.uuids["n2"] + "&bypass=x",
            "/v4/checkpresent/?key=" + k + cu,
            "/v4/checkpresent?key=" + k + "&key=zz" + cu,
            "/v4/nosuch?key=" + k + cu,
            "/v4/key/garbage?clientuuid=" + CU,
            "/v4/key/" + b64(k) + "?clientuuid=" + CU,
            "/v4/key/" + k + "?clientuuid=" + CU + "&offset=5",
            "/v4/key/" + k + "?clientuuid=" + CU + "&offset=x",
            "/v4/key/" + k + "?clientuuid=" + CU + "&offset=+5",
            "/v4/key/" + keyFor(b"absent") + "?clientuuid=" + CU,
            "/key/" + k,
            "/key/" + k + "?offset=3",
            "/key/" + keyFor(b"absent"),
            "/v4/remove-before?key=" + k + cu,
            "/v4/remove-before?key=" + k + cu + "&timestamp=1.5",
            "/v4/keeplocked",
            "/v4/keeplocked?lockid=",
            "/v4/keeplocked?lockid=abc",
            "/v4/put?key=" + k + cu,
            "/v4/put?clientuuid=&key=garbage",
        ]:
            for method in ("GET", "POST"):
                self.same(method, g + n1 + path, body=b"" if method == "POST" else None)
        self.same("HEAD", g + n1 + "/key/" + k)
        self.same("HEAD", g + n1 + "/v4/key/" + k + "?clientuuid=" + CU)
        self.same("POST", g + "11111111-2222-3333-4444-555555555555/v4/checkpresent?key=" + k + cu)
        self.same("POST", g + n1.upper() + "/v4/checkpresent?key=" + k + cu)
        self.same("POST", g + "/v4/checkpresent?key=" + k + cu)
        self.same("POST", "/git-annex/")
        self.same("POST", g + n1 + "/v4/checkpresent?key=" + k + cu, headers={"Authorization": "garbage"})
        self.same("POST", g + n1 + "/v4/put?key=" + k + cu, body=b"x", headers={"X-git-annex-data-length": "zz"})
        self.same("POST", g + n1 + "/v4/put?key=" + k + cu + "&data-present=zz", body=b"x", headers={"X-git-annex-data-length": "1"})
        absent = keyFor(b"absent everywhere")
        for v in range(6):
            self.same("POST", g + n1 + "/v%d/remove?key=%s%s" % (v, absent, cu))
            self.same("POST", g + n1 + "/v%d/remove-before?key=%s%s&timestamp=1000000000" % (v, absent, cu))
            self.same("POST", g + n1 + "/v%d/lockcontent?key=%s%s" % (v, absent, cu))
            ga, ar = self.servers.both("POST", g + n1 + "/v%d/lockcontent?key=%s%s" % (v, k, cu))
            self.assertEqual(normal(ar), normal(ga), v)
            for port, (status, headers, body) in ((self.servers.ga, ga), (self.servers.ar, ar)):
                if status == 200 and b'"lockid"' in body:
                    lockid = __import__("json").loads(body)["lockid"]
                    unlock = request(port, "POST", g + n1 + "/v%d/keeplocked?lockid=%s%s" % (v, lockid, cu), b'{"unlock":true}\n')
                    self.assertEqual(unlock[2], b'{"locked":false}')
        h = {"X-git-annex-data-length": "3"}
        self.same("POST", g + n1 + "/v4/put?key=%s%s&data-present=true" % (absent, cu), b"abc", h)
        self.same("POST", g + n1 + "/v3/put?key=%s%s&data-present=true" % (absent, cu), b"abc", h)
        self.same("POST", g + c1 + "/v4/gettimestamp?clientuuid=" + CU)
        self.same("POST", g + c1 + "/v4/checkpresent?key=" + k + cu)

    def test_put_resume_remove_proxied(self):
        self.putSequence(self.uuids["n1"])

    def test_put_resume_remove_cluster(self):
        self.putSequence(self.cluster)

    def putSequence(self, target):
        """
        The same sequence on each server, each with a key of its own.  (A
        negative data length is left out: git-annex's server wedges a
        worker on it; tests/frontdoor/http covers annexrelay's answer.)
        """
        g = "/git-annex/"
        if True:
            results = {}
            for side, port in (("ga", self.servers.ga), ("ar", self.servers.ar)):
                # Larger than the 1 MiB a cluster takes from the client
                # before its nodes answer (annexrelay keeps that in memory,
                # so a cut there is not resumed: see the README).
                data = ("%s %s resumable\n" % (side, target[:4])).encode() * 80000
                k, cu = keyFor(data), "&clientuuid=" + CU
                out = []

                def r(method, path, body=None, headers=None):
                    out.append(normal(request(port, method, g + target + path, body, headers), contents=False))

                r("POST", "/v4/checkpresent?key=" + k + cu)
                r("POST", "/v4/putoffset?key=" + k + cu)
                r("POST", "/v4/put?key=" + k + cu, data[:7], {"X-git-annex-data-length": str(len(data))})
                r("POST", "/v4/putoffset?key=" + k + cu)
                r("POST", "/v4/put?key=" + k + cu + "&offset=7", data[7:], {"X-git-annex-data-length": str(len(data) - 7)})
                r("POST", "/v4/putoffset?key=" + k + cu)
                r("POST", "/v1/putoffset?key=" + k + cu)
                r("POST", "/v4/checkpresent?key=" + k + cu)
                r("GET", "/v4/key/" + k + "?clientuuid=" + CU + "&offset=3")
                r("POST", "/v4/put?key=" + k + cu, data, {"X-git-annex-data-length": str(len(data))})
                r("POST", "/v0/put?key=" + k + cu, data, {"X-git-annex-data-length": str(len(data))})
                r("POST", "/v1/remove?key=" + k + cu)
                r("POST", "/v4/remove?key=" + k + cu)
                r("POST", "/v4/put?key=" + k + cu, data + b"extra", {"X-git-annex-data-length": str(len(data))})
                r("POST", "/v4/put?key=" + k + cu + "&offset=-1", data, {"X-git-annex-data-length": str(len(data))})
                r("POST", "/v4/checkpresent?key=" + k + cu)
                results[side] = out
            self.assertEqual(results["ar"], results["ga"], target)


class AuthTests(DifferentialCase):
    """
    A few flag × user cases: the same status, the same challenge.
    """

    flags = ()
    callers = {
        "anonymous": {},
        "alice": basic("alice", "secret"),
        "bob": basic("bob", "pw2"),
        "carol": basic("carol", "pw3"),
        "wrong": basic("alice", "nope"),
        "nobody": basic("mallory", "x"),
    }

    def matrix(self):
        n1, k, g = self.uuids["n1"], self.key, "/git-annex/"
        absent = keyFor(b"never stored")
        cu = "&clientuuid=" + CU
        for name, headers in sorted(self.callers.items()):
            for path in [
                "/v4/checkpresent?key=" + k + cu,
                "/v4/remove?key=" + absent + cu,
                "/v4/putoffset?key=" + absent + cu,
                "/v4/lockcontent?key=" + absent + cu,
                "/v4/keeplocked?lockid=abc" + cu,
            ]:
                ga, ar = self.servers.both("POST", g + n1 + path, b"", headers)
                self.assertEqual(normal(ar)[::3], normal(ga)[::3], "%s %s" % (name, path))

    def test_matrix(self):
        self.matrix()


class AuthReadOnlyTests(AuthTests):
    flags = ("--unauth-readonly",)


class AuthEnvHttpReadOnlyTests(AuthTests):
    flags = ("--authenv-http", "--unauth-readonly")


class AuthEnvHttpTests(AuthTests):
    flags = ("--authenv-http",)


class AuthEnvPlainHttpTests(AuthTests):
    flags = ("--authenv", "--unauth-appendonly", "--unauth-nolocking")


class AuthWideOpenUsersTests(AuthTests):
    flags = ("--wideopen", "--authenv-http")


class AuthNoLockingTests(AuthTests):
    flags = ("--authenv-http", "--unauth-readonly", "--unauth-nolocking")
