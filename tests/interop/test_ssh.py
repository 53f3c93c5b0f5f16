"""
The real OpenSSH in front and behind: a client reaching the proxy through
sshd with annexrelay-shell as the forced command in C{authorized_keys}
(and a read-only key), a proxied node at an C{ssh://} URL reached with its
C{annex-ssh-options}, and a cluster mixing an ssh node and a local one.
"""

import os
import subprocess

from twisted.trial import unittest

from annexrelay.testing.lab import Setup
from annexrelay.testing import sshd
from tests.interop.test_interop import InteropCase

# No ssh connection caching: nothing may outlive a test.
NO_SSH_CACHING = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "annex.sshcaching", "GIT_CONFIG_VALUE_0": "false"}


class SshTests(InteropCase):
    timeout = 300

    def setUp(self):
        why = sshd.available()
        if why is not None:
            raise unittest.SkipTest(why)
        self.s = Setup(self.mktemp(), nodes=2, env=NO_SSH_CACHING)
        self.sshd = sshd.Sshd(os.path.join(self.s.base, "sshd"), self.s.bindir)
        self.addCleanup(self.sshd.stop)
        # n2 is reached over ssh, with the key given in its ssh options.
        self.s.git("remote", "set-url", "n2", "ssh://nodehost" + self.s.nodes["n2"], cwd=self.s.proxy)
        self.s.git("config", "remote.n2.annex-ssh-options", "-i " + self.sshd.keys["node"], cwd=self.s.proxy)
        self.uuids = {name: self.s.uuidOf(path) for name, path in self.s.nodes.items()}
        self.proc = None
        self.startDaemon()
        self.client = self.s.makeClient(url="proxyhost:" + self.s.proxy)

    def test_copy_get_drop_over_ssh(self):
        content = b"through sshd\n" * 20000
        self.s.addFile(self.client, "s.txt", content)
        k = self.key("s.txt")
        for remote, node in (("origin-n1", "n1"), ("origin-n2", "n2")):
            self.annex("copy", "--to", remote, "s.txt")
            self.assertTrue(self.nodeHas(node, k))
        self.annex("drop", "s.txt")
        self.annex("get", "--from", "origin-n2", "s.txt")
        with open(os.path.join(self.client, "s.txt"), "rb") as f:
            self.assertEqual(f.read(), content)
        self.annex("drop", "--from", "origin-n2", "s.txt")
        self.assertFalse(self.nodeHas("n2", k))
        log = self.daemonLog()
        self.assertIn("connected to node n2", log)
        with open(self.sshd.log, errors="replace") as f:
            self.assertIn("Accepted publickey", f.read())

    def test_read_only_key(self):
        """
        The read-only key reads; its writes and pushes are refused.
        """
        self.s.addFile(self.client, "r.txt", b"read only\n")
        k = self.key("r.txt")
        self.annex("copy", "--to", "origin-n1", "r.txt")
        # The reader learns where it is from the proxy's branch.
        self.waitForProxyLog(k, " 1 " + self.uuids["n1"])
        reader = self.s.makeClient("reader", url="proxyro:" + self.s.proxy)
        self.annex("get", "--key", k, "--from", "origin-n1", cwd=reader)
        self.s.addFile(reader, "w.txt", b"not allowed\n")
        self.annex("copy", "--to", "origin-n1", "w.txt", cwd=reader, ok=False)
        self.assertIn("refused PUT", self.daemonLog())
        self.assertFalse(self.nodeHas("n1", self.key("w.txt", reader)))
        out = self.annex("drop", "--from", "origin-n1", "--key", k, cwd=reader, ok=False)
        self.assertIn("read-only", out)
        self.assertTrue(self.nodeHas("n1", k))
        p = subprocess.run(
            ["git", "push", "origin", "HEAD:refs/heads/reader"], cwd=reader, env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"GIT_ANNEX_SHELL_READONLY", p.stderr)

    def test_cluster_of_ssh_and_local_nodes(self):
        self.s.makeCluster("c1", ["n1", "n2"])
        self.annex("pull", "-q", "--no-content", "origin")
        self.s.addFile(self.client, "c.txt", b"to both nodes\n" * 1000)
        k = self.key("c.txt")
        self.annex("copy", "--to", "origin-c1", "c.txt")
        self.assertTrue(self.nodeHas("n1", k))
        self.assertTrue(self.nodeHas("n2", k))
        self.annex("drop", "--from", "origin-c1", "c.txt")
        self.assertFalse(self.nodeHas("n1", k))
        self.assertFalse(self.nodeHas("n2", k))
