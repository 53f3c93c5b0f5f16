"""
git-annex's own remote test suite (C{git annex testremote}) through the
annex+http door: a proxied remote and a cluster, the client's annex
traffic going to C{annexUrl}.  The "unavailable remote" cases cannot pass
through any proxy (see L{tests.interop.test_testremote}); every other case
must.
"""

from tests.interop.test_http import HttpCase
from tests.interop import test_testremote


class TestRemoteOverHttpTests(HttpCase):
    timeout = 600
    nodes = 3
    runTestRemote = test_testremote.TestRemoteTests.runTestRemote

    def check(self, remote):
        failed, out = self.runTestRemote(remote)
        self.assertTrue(failed <= test_testremote.UNAVAILABLE, "failed: %s\n%s\n--- daemon log:\n%s" % (sorted(failed), out, self.daemonLog()[-20000:]))
        self.assertTrue(self.httpRequests("put v4") or self.httpRequests("put v3"), "nothing went over annex+http")
        self.assertCleanLog()

    def test_proxied_remote(self):
        self.check("origin-n1")

    def test_cluster(self):
        self.s.makeCluster("c1", ["n2", "n3"])
        self.annex("pull", "-q", "--no-content", "origin")
        self.check("origin-c1")
