"""
annexrelay's own users with the real git-annex client, through
C{twistd annexrelay --directory D --authenv-http}: users made with the
real C{annexrelay user} command while the daemon runs; a user read-write
on one repository and read-only on the other copies to the first and is
refused on the second; a revocation applies to the next request, without
a restart; a trusted header honoured on the unix socket it is named for
(raw HTTP over AF_UNIX) and ignored on the tcp listener; one
repository over annex+https, where a store user needs no --authenv flag.
"""

import base64
import http.client
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

from tests.interop.test_http import HttpCase
from tests.interop.test_http_directory import DirectoryCase

ABSENT = "SHA256E-s1--0000000000000000000000000000000000000000000000000000000000000000"
CU = "22222222-3333-4444-5555-666666666666"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


class GrantsCase(DirectoryCase):
    def startDirectoryDaemon(self):
        # A short path: unix socket addresses are limited to ~100 bytes.
        here = tempfile.mkdtemp(prefix="ar-")
        self.addCleanup(shutil.rmtree, here, True)
        self.sock = os.path.join(here, "forge.sock")
        self.unix = "unix:%s:mode=600" % (self.sock,)
        self.httpArgs = ("--authenv-http", "--p2phttp", self.unix, "--trusted-user-header", "X-Forge-User=" + self.unix)
        DirectoryCase.startDirectoryDaemon(self)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            self.assertLess(time.monotonic(), deadline, self.daemonLog())
            time.sleep(0.05)

    def user(self, *args, stdin=None, ok=True):
        annexrelay = os.path.join(os.path.dirname(sys.executable), "annexrelay")
        p = subprocess.run(
            [annexrelay, "user"] + list(args) + ["--directory", self.root], input=stdin,
            env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        )
        self.assertEqual(p.returncode == 0, ok, p.stdout + p.stderr)
        return p.stdout

    def signOn(self, client, name, password):
        creds = os.path.abspath(self.mktemp())
        with open(creds, "w") as f:
            # (git keeps the path of a URL that is not http(s) in the match)
            for path in ("a", "team/b"):
                f.write("annex+http://%s:%s@127.0.0.1:%d/%s/git-annex\n" % (name, password, self.port, path))
        self.s.git("config", "credential.helper", "store --file=" + creds, cwd=client)

    def request(self, conn, path, headers=()):
        conn.request("POST", path, body=b"", headers=dict(headers))
        r = conn.getresponse()
        answer = (r.status, r.read())
        conn.close()
        return answer


class RealClientGrantsTests(GrantsCase):
    def test_read_write_here_read_only_there_then_revoked(self):
        out = self.user("add", "alice", "--mode", "read-write", "--repo", "a")
        password = [l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("password: ")][0]
        self.user("grant", "alice", "--repo", "team/b", "--mode", "read-only")
        state = os.path.join(self.root, ".annexrelay", "users")
        self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o600)
        with open(state) as f:
            self.assertNotIn(password, f.read())

        ca = self.clientOf(self.a, "client-a")
        cb = self.clientOf(self.b, "client-b")
        for c in (ca, cb):
            self.signOn(c, "alice", password)
        noPrompt = {"GIT_TERMINAL_PROMPT": "0"}
        self.s.addFile(ca, "a.txt", b"alice writes to a\n" * 50)
        self.s.addFile(cb, "b.txt", b"alice may not write to b\n" * 50)
        ka, kb = self.key("a.txt", ca), self.key("b.txt", cb)
        self.annex("copy", "--to", "origin-n1", "a.txt", cwd=ca, env=noPrompt)
        self.assertTrue(self.nodeHas("n1", ka))
        self.annex("copy", "--to", "origin-n1", "b.txt", cwd=cb, env=noPrompt, ok=False)
        self.assertFalse(self.nodeHas("n1", kb))
        # Read-only on b: reading works (a's upload is on the node both proxy).
        self.annex("get", "--from", "origin-n1", "--key", ka, cwd=cb, env=noPrompt)
        self.assertIn("alice: read-only (grant for repository team/b) does not allow write", self.daemonLog())

        # Revoked while the daemon runs: the next request is refused.
        self.user("revoke", "alice", "--repo", "a")
        self.s.addFile(ca, "a2.txt", b"after the revocation\n" * 50)
        k2 = self.key("a2.txt", ca)
        self.annex("copy", "--to", "origin-n1", "a2.txt", cwd=ca, env=noPrompt, ok=False)
        self.assertFalse(self.nodeHas("n1", k2))
        self.assertIn("alice: no grant for repository a", self.daemonLog())
        # Granted again, and then removed.
        self.user("grant", "alice", "--repo", "a", "--mode", "append-only")
        self.annex("copy", "--to", "origin-n1", "a2.txt", cwd=ca, env=noPrompt)
        self.assertTrue(self.nodeHas("n1", k2))
        self.user("remove", "alice")
        self.annex("drop", "--from", "origin-n1", "a2.txt", "--force", cwd=ca, env=noPrompt, ok=False)
        self.assertTrue(self.nodeHas("n1", k2))
        self.assertNotIn(password, self.daemonLog())
        self.assertCleanLog()


class TrustedHeaderTests(GrantsCase):
    def test_header_on_its_unix_listener_only(self):
        self.user("add", "dora", "--no-password", "--mode", "read-write", "--repo", "a")
        remove = "/a/git-annex/%s/v4/remove?key=%s&clientuuid=%s" % (self.uuids["n1"], ABSENT, CU)
        remove_b = "/team/b/git-annex/%s/v4/remove?key=%s&clientuuid=%s" % (self.uuids["n1"], ABSENT, CU)
        dora = {"X-Forge-User": "dora"}
        self.assertEqual(self.request(UnixHTTPConnection(self.sock), remove, dora), (200, b'{"plusuuids":[],"removed":true}'))
        self.assertEqual(self.request(UnixHTTPConnection(self.sock), remove_b, dora)[0], 403)
        self.assertEqual(self.request(UnixHTTPConnection(self.sock), remove)[0], 401)
        # The same header over tcp is ignored (and logged once).
        for _ in range(2):
            self.assertEqual(self.request(http.client.HTTPConnection("127.0.0.1", self.port, timeout=60), remove, dora)[0], 401)
        self.assertEqual(self.daemonLog().count("ignoring the X-Forge-User header"), 1)
        # A password user over tcp; a wrong password is counted.
        self.user("add", "erin", "--password-stdin", "--mode", "read-only", "--repo", "a", stdin="erin-pw\n")
        erin = {"Authorization": "Basic " + base64.b64encode(b"erin:erin-pw").decode()}
        wrong = {"Authorization": "Basic " + base64.b64encode(b"erin:nope").decode()}
        tcp = lambda: http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)  # noqa: E731
        self.assertEqual(self.request(tcp(), remove, erin)[0], 403)
        check = remove.replace("/remove?", "/checkpresent?")
        self.assertEqual(self.request(tcp(), check, erin), (200, b'{"present":false}'))
        self.assertEqual(self.request(tcp(), check, wrong)[0], 401)
        self.assertIn("erin: wrong password (failure 1 from this address)", self.daemonLog())
        self.assertCleanLog()


class OverHttpsTests(HttpCase):
    """
    One repository (--repo) over annex+https with none of git-annex's
    --authenv flags: a store user is let in over https, with its grant's
    mode (append-only: copies, may not drop).
    """

    httpArgs = ("--unauth-readonly",)

    def endpoint(self):
        from tests.frontdoor.http.certs import self_signed

        key, self.cert = self_signed(self.mktemp())
        return "ssl:%d:interface=127.0.0.1:privateKey=%s:certKey=%s" % (self.port, key, self.cert)

    def useHttp(self, client):
        self.s.git("config", "remote.origin.annexUrl", "annex+https://127.0.0.1:%d/git-annex/" % (self.port,), cwd=client)
        self.s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=client)

    def test_store_user_over_https(self):
        annexrelay = os.path.join(os.path.dirname(sys.executable), "annexrelay")
        p = subprocess.run([annexrelay, "user", "add", "carol", "--mode", "append-only", "--password-stdin"],
                           input=b"carol-secret\n", cwd=self.s.proxy, env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr)
        creds = os.path.abspath(self.mktemp())
        with open(creds, "w") as f:
            f.write("annex+https://carol:carol-secret@127.0.0.1:%d/git-annex\n" % (self.port,))
        self.s.git("config", "credential.helper", "store --file=" + creds, cwd=self.client)
        env = {"GIT_SSL_CAINFO": self.cert, "GIT_TERMINAL_PROMPT": "0"}
        self.s.addFile(self.client, "s.txt", b"over https, a user of annexrelay's\n" * 100)
        k = self.key("s.txt")
        self.annex("copy", "--to", "origin-n1", "s.txt", env=env)
        self.assertTrue(self.nodeHas("n1", k))
        self.annex("drop", "--from", "origin-n1", "s.txt", "--force", env=env, ok=False)
        self.assertTrue(self.nodeHas("n1", k))
        self.assertIn("carol: append-only (grant for repository .) does not allow remove", self.daemonLog())
        self.assertCleanLog()
