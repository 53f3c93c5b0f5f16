"""
The real git-annex client through annexrelay's annex+http front door
(C{remote.origin.annexUrl = annex+http://127.0.0.1:PORT/git-annex/}): a
proxied git remote, a cluster, and the repository itself, with the daemon
running as C{twistd -n annexrelay --p2phttp ...}.
"""

import os

from annexrelay.testing.ports import free_port, wait_listening
from tests.interop.test_interop import InteropCase


class HttpCase(InteropCase):
    """
    A daemon with an annex+http listener, and a client whose origin's
    annex traffic goes there.
    """

    httpArgs = ("--wideopen",)

    def endpoint(self):
        return "tcp:%d:interface=127.0.0.1" % (self.port,)

    def startDaemon(self):
        self.port = free_port()
        self.daemonArgs = tuple(self.httpArgs) + ("--p2phttp", self.endpoint())
        InteropCase.startDaemon(self)
        wait_listening(self.port, self.proc)

    def setUp(self):
        InteropCase.setUp(self)
        self.useHttp(self.client)

    def useHttp(self, client):
        self.s.git("config", "remote.origin.annexUrl", "annex+http://127.0.0.1:%d/git-annex/" % (self.port,), cwd=client)
        self.s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=client)

    def httpRequests(self, route):
        """
        The daemon's request log lines for C{route} (e.g. C{put v4}).
        """
        return [l for l in self.daemonLog().splitlines() if "frontdoor.http.door" in l and " %s " % (route,) in l]

    def assertCleanLog(self):
        log = self.daemonLog()
        self.assertNotIn("Unhandled Error", log)
        self.assertNotIn("Traceback", log)


class ProxiedRemoteOverHttpTests(HttpCase):
    def test_copy_get_drop_fsck_whereis(self):
        content = b"over http\n" * 5000
        self.s.addFile(self.client, "one.txt", content)
        k = self.key("one.txt")
        self.annex("copy", "--to", "origin-n1", "one.txt")
        self.assertTrue(self.nodeHas("n1", k))
        self.assertFalse(self.nodeHas("n2", k))
        self.assertTrue(self.httpRequests("put v4"), self.daemonLog())
        n1 = self.uuids["n1"]
        self.waitForProxyLog(k, " 1 " + n1)

        other = self.s.makeClient("client2")
        self.useHttp(other)
        self.annex("pull", "--no-content", "origin", cwd=other)
        self.assertIn(n1, self.annex("whereis", "--key", k, cwd=other))

        self.annex("fsck", "--from", "origin-n1", "one.txt")
        self.annex("drop", "one.txt")
        self.assertTrue(self.httpRequests("lockcontent v4"))
        self.annex("get", "--from", "origin-n1", "one.txt")
        self.assertTrue(self.httpRequests("key v4"))
        with open(os.path.join(self.client, "one.txt"), "rb") as f:
            self.assertEqual(f.read(), content)

        self.annex("drop", "--from", "origin-n1", "one.txt")
        self.assertFalse(self.nodeHas("n1", k))
        self.waitForProxyLog(k, " 0 " + n1)
        self.assertTrue(self.httpRequests("remove v4"))
        self.assertCleanLog()

    def test_big_object_round_trip(self):
        content = os.urandom(5 * 1024 * 1024 + 3)
        self.s.addFile(self.client, "big.bin", content)
        self.annex("copy", "--to", "origin-n2", "big.bin")
        self.annex("drop", "big.bin")
        self.annex("get", "--from", "origin-n2", "big.bin")
        with open(os.path.join(self.client, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), content)
        self.assertCleanLog()


class ClusterOverHttpTests(HttpCase):
    nodes = 3

    def setUp(self):
        HttpCase.setUp(self)
        self.clusterUUID = self.s.makeCluster("c1", ["n1", "n2", "n3"])
        self.annex("pull", "--no-content", "origin")

    def test_copy_lands_on_every_node_get_drop(self):
        for name in ("a.txt", "b.txt"):
            self.s.addFile(self.client, name, ("content of %s\n" % name).encode())
        self.annex("copy", "--to", "origin-c1", "a.txt", "b.txt")
        for name in ("a.txt", "b.txt"):
            k = self.key(name)
            self.assertEqual([n for n in ("n1", "n2", "n3") if self.nodeHas(n, k)], ["n1", "n2", "n3"])
            for n in ("n1", "n2", "n3"):
                self.waitForProxyLog(k, " 1 " + self.uuids[n])
        self.assertTrue(self.httpRequests("put v4"))

        other = self.s.makeClient("client2")
        self.useHttp(other)
        self.annex("pull", "--no-content", "origin", cwd=other)
        out = self.annex("whereis", "--key", self.key("a.txt"), cwd=other)
        for n in ("n1", "n2", "n3"):
            self.assertIn(self.uuids[n], out)

        self.annex("fsck", "--from", "origin-c1", "a.txt")
        self.annex("drop", "a.txt")
        self.annex("get", "--from", "origin-c1", "a.txt")
        with open(os.path.join(self.client, "a.txt"), "rb") as f:
            self.assertEqual(f.read(), b"content of a.txt\n")
        self.annex("drop", "--from", "origin-c1", "b.txt")
        k = self.key("b.txt")
        self.assertEqual([n for n in ("n1", "n2", "n3") if self.nodeHas(n, k)], [])
        for n in ("n1", "n2", "n3"):
            self.waitForProxyLog(k, " 0 " + self.uuids[n])
        self.assertCleanLog()


class RepositoryOverHttpTests(HttpCase):
    """
    The proxy repository itself over annex+http (its own git-annex-shell,
    through the same core).
    """

    def test_copy_get_drop(self):
        self.s.addFile(self.client, "own.txt", b"the repository itself\n")
        k = self.key("own.txt")
        self.annex("copy", "--to", "origin", "own.txt")
        self.assertTrue(self.httpRequests("put v4"), self.daemonLog())
        p = self.s.git("annex", "contentlocation", k, cwd=self.s.proxy, check=False)
        self.assertTrue(p.strip(), "the proxy repository lacks the content")
        self.annex("fsck", "--from", "origin", "own.txt")
        self.annex("drop", "own.txt")
        self.annex("get", "--from", "origin", "own.txt")
        self.annex("drop", "--from", "origin", "own.txt")
        self.assertFalse(self.s.git("annex", "contentlocation", k, cwd=self.s.proxy, check=False).strip())
        self.assertCleanLog()


class HttpsTests(HttpCase):
    """
    An ssl: endpoint: --authenv lets users in over https only.
    """

    httpArgs = ("--authenv", "--unauth-readonly")

    def endpoint(self):
        from tests.frontdoor.http.certs import self_signed

        key, cert = self_signed(self.mktemp())
        self.s.env["GIT_ANNEX_P2PHTTP_PASSWORD_alice"] = "secret"
        return "ssl:%d:interface=127.0.0.1:privateKey=%s:certKey=%s" % (self.port, key, cert)

    def setUp(self):
        InteropCase.setUp(self)

    def test_authenv_over_https(self):
        import base64
        import http.client
        import ssl

        path = "/git-annex/%s/v4/remove?key=SHA256E-s1--00&clientuuid=%s" % (self.uuids["n1"], self.uuids["n1"])
        alice = {"Authorization": "Basic " + base64.b64encode(b"alice:secret").decode()}
        results = []
        for headers in ({}, alice):
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=60, context=ssl._create_unverified_context())
            c.request("POST", path, body=b"", headers=headers)
            r = c.getresponse()
            results.append((r.status, r.read()))
            c.close()
        self.assertEqual(results, [(401, b""), (200, b'{"plusuuids":[],"removed":true}')])
        self.assertCleanLog()
