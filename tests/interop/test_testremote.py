"""
git-annex's own remote test suite (C{git annex testremote}) through
annexrelay: a proxied remote, a cluster, a cluster with a node
unreachable, and a proxied special remote.

One group of testremote's cases cannot pass through any proxy: for
"unavailable remote" it makes a copy of the remote with a broken URL and
expects every operation to fail, but a proxied remote's URL is the
proxy's, which still works.  Those four cases fail the same way through
git-annex's own proxy (checked here, differentially); every other case
must pass.
"""

import os
import re
import subprocess

from annexrelay.testing.gitrepos import restore_node
from tests.interop.test_interop import InteropCase
from tests.interop.test_special import verify

UNAVAILABLE = {"unavailable remote." + t for t in ("removeKey", "storeKey", "checkPresent", "retrieveKeyFile")}


class TestRemoteTests(InteropCase):
    timeout = 600
    nodes = 3

    def runTestRemote(self, remote, env=None):
        """
        Run testremote on C{remote}; the names of the cases that failed.
        """
        e = dict(self.s.env, **(env or {}))
        p = subprocess.run(
            ["git", "annex", "testremote", "--fast", remote],
            cwd=self.client,
            env=e,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=500,
        )
        out = p.stdout.decode("utf-8", "replace")
        failed, group = set(), None
        for line in out.splitlines():
            m = re.match(r"^  (\S.*)$", line)
            if m and ":" not in line:
                group = m.group(1).strip()
            m = re.match(r"^\s+(\S[^:]*):\s+FAIL", line)
            if m:
                failed.add("%s.%s" % (group, m.group(1).strip()))
        return failed, out

    def check(self, remote, compare=True):
        failed, out = self.runTestRemote(remote)
        self.assertTrue(failed <= UNAVAILABLE, "failed: %s\n%s\n--- daemon log:\n%s" % (sorted(failed), out, self.daemonLog()))
        if compare:
            # Through git-annex's own proxy: the same cases fail (or more).
            theirs, _ = self.runTestRemote(remote, {"FAKE_SSH_SHELL": "git-annex-shell"})
            self.assertTrue(failed <= theirs, (sorted(failed), sorted(theirs)))

    def test_proxied_remote(self):
        self.check("origin-n1")

    def test_cluster(self):
        self.s.makeCluster("c1", ["n2", "n3"])
        self.annex("pull", "-q", "--no-content", "origin")
        self.check("origin-c1")
        # git-annex's gateway gives up when a node cannot be reached;
        # annexrelay goes on with the others.
        os.rename(self.s.nodes["n3"], self.s.nodes["n3"] + ".gone")
        try:
            self.check("origin-c1", compare=False)
        finally:
            restore_node(self.s.nodes["n3"])

    def test_proxied_special_remote(self):
        where = os.path.join(self.s.base, "sr-store")
        os.makedirs(where)
        self.s.git("annex", "initremote", "-q", "sr", "type=directory", "directory=" + where, "encryption=none", cwd=self.s.proxy)
        self.s.git("config", "remote.sr.annex-proxy", "true", cwd=self.s.proxy)
        self.s.git("annex", "updateproxy", "-q", cwd=self.s.proxy)
        self.annex("pull", "-q", "--no-content", "origin")
        verify(self, "origin-sr")
        self.check("origin-sr")
