"""
Special remotes of the proxy repository, proxied by annexrelay (through
git-annex's own proxy for each) and as cluster nodes, driven by the real
git-annex client: directory, chunked, encrypted, exporttree+annexobjects.
"""

import os
import re

from annexrelay.testing.gitrepos import restore_node
from tests.interop.test_interop import InteropCase

KINDS = {
    "sr": ["encryption=none"],
    "chunked": ["encryption=none", "chunk=64KiB"],
    "enc": ["encryption=shared"],
    "export": ["encryption=none", "exporttree=yes", "annexobjects=yes"],
}


def verify(case, remote):
    """
    What git-annex asks of a user before a proxied special remote is
    used: look at its configuration, then confirm it.
    """
    out = case.annex("verifyremote", remote)
    confirm = re.search(r"verifyremote \S+ (--safe \S+)", out)
    case.assertIsNotNone(confirm, out)
    case.annex("verifyremote", remote, *confirm.group(1).split())
    # git-annex 10.20261026 also writes remote.NAME.annex-verified, a
    # config section that hides the proxied remote of that name ("no
    # available git remote"); the verification itself is kept in
    # .git/annex/verified-remote.log.  The same happens through
    # git-annex's own proxy.
    case.s.git("config", "--remove-section", "remote." + remote, cwd=case.client)


class SpecialRemoteTests(InteropCase):
    nodes = 1

    def setUp(self):
        InteropCase.setUp(self)
        for name, options in KINDS.items():
            where = os.path.join(self.s.base, name + "-store")
            os.makedirs(where)
            self.s.git("annex", "initremote", "-q", name, "type=directory", "directory=" + where, *options, cwd=self.s.proxy)
            self.s.git("config", "remote.%s.annex-proxy" % name, "true", cwd=self.s.proxy)
        self.s.git("annex", "updateproxy", "-q", cwd=self.s.proxy)
        self.annex("pull", "-q", "--no-content", "origin")
        for name in KINDS:
            verify(self, "origin-" + name)

    def roundTrip(self, remote, name):
        content = (name.encode() + b" special\n") * 50000
        self.s.addFile(self.client, name, content)
        self.annex("copy", "--to", remote, name)
        # git-annex does not count an exporttree remote as a copy (files
        # there can be overwritten): dropping the only other one is forced.
        self.annex("drop", *(["--force"] if "export" in remote else []), name)
        self.annex("get", "--from", remote, name)
        with open(os.path.join(self.client, name), "rb") as f:
            self.assertEqual(f.read(), content)
        self.annex("fsck", "--from", remote, name)
        self.annex("drop", "--from", remote, name)
        out = self.annex("whereis", name)
        self.assertNotIn("origin-" + name.split(".")[0], out.split("ok")[0].replace("[here]", ""))

    def test_every_kind(self):
        for name in KINDS:
            self.roundTrip("origin-" + name, name + ".txt")
        log = self.daemonLog()
        self.assertIn("session from", log)
        self.assertNotIn("not configured to proxy", log)


class SpecialRemoteClusterNodeTests(InteropCase):
    """
    A cluster whose nodes are a git repository and a special remote.
    """

    nodes = 1

    def setUp(self):
        InteropCase.setUp(self)
        where = os.path.join(self.s.base, "sr-store")
        os.makedirs(where)
        self.s.git("annex", "initremote", "-q", "sr", "type=directory", "directory=" + where, "encryption=none", "chunk=64KiB", cwd=self.s.proxy)
        self.clusterUUID = self.s.makeCluster("c1", ["n1", "sr"])
        self.annex("pull", "-q", "--no-content", "origin")
        verify(self, "origin-sr")

    def test_copy_get_drop(self):
        content = b"a cluster with a special remote\n" * 40000
        self.s.addFile(self.client, "c.txt", content)
        k = self.key("c.txt")
        self.annex("copy", "--to", "origin-c1", "c.txt")
        self.assertTrue(self.nodeHas("n1", k))
        sr = self.s.git("config", "remote.sr.annex-uuid", cwd=self.s.proxy).strip()
        self.waitForProxyLog(k, " 1 " + sr)
        # The git node gone: the special remote serves the read.
        os.rename(self.s.nodes["n1"], self.s.nodes["n1"] + ".gone")
        try:
            self.annex("drop", "c.txt")
            self.annex("get", "--from", "origin-c1", "c.txt")
        finally:
            restore_node(self.s.nodes["n1"])
        with open(os.path.join(self.client, "c.txt"), "rb") as f:
            self.assertEqual(f.read(), content)
        self.annex("drop", "--from", "origin-c1", "c.txt")
        self.waitForProxyLog(k, " 0 " + sr)
        self.assertFalse(self.nodeHas("n1", k))
