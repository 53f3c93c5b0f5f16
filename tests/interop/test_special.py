"""
Special remotes of the proxy repository, proxied by annexrelay (through
git-annex's own proxy for each) and as cluster nodes, driven by the real
git-annex client: directory, chunked, encrypted, exporttree+annexobjects.
"""

import os
import re
import time

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


def addSpecialRemotes(case):
    """
    One proxied special remote of each of L{KINDS}, verified by the client.
    """
    for name, options in KINDS.items():
        where = os.path.join(case.s.base, name + "-store")
        os.makedirs(where)
        case.s.git("annex", "initremote", "-q", name, "type=directory", "directory=" + where, *options, cwd=case.s.proxy)
        case.s.git("config", "remote.%s.annex-proxy" % name, "true", cwd=case.s.proxy)
    case.s.git("annex", "updateproxy", "-q", cwd=case.s.proxy)
    case.annex("pull", "-q", "--no-content", "origin")
    for name in KINDS:
        verify(case, "origin-" + name)


class SpecialRemoteTests(InteropCase):
    nodes = 1

    def setUp(self):
        InteropCase.setUp(self)
        addSpecialRemotes(self)

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


class _SpecialRecordsCase(InteropCase):
    """
    A special remote proxied (C{sr}) and one that is a cluster node (C{csr}
    in c1, with n1); a second clone to look from.  The git-annex-shell
    serving a special remote journals what it did and commits only when it
    exits; the idle timeout keeps it in the pool far longer than the tests
    wait.
    """

    nodes = 1
    daemonArgs = ("--idle-timeout", "600")

    def setUp(self):
        InteropCase.setUp(self)
        for name in ("sr", "csr"):
            where = os.path.join(self.s.base, name + "-store")
            os.makedirs(where)
            self.s.git("annex", "initremote", "-q", name, "type=directory", "directory=" + where, "encryption=none", cwd=self.s.proxy)
        self.s.git("config", "remote.sr.annex-proxy", "true", cwd=self.s.proxy)
        self.s.git("annex", "updateproxy", "-q", cwd=self.s.proxy)
        self.s.makeCluster("c1", ["n1", "csr"])
        self.sr = self.s.git("config", "remote.sr.annex-uuid", cwd=self.s.proxy).strip()
        self.csr = self.s.git("config", "remote.csr.annex-uuid", cwd=self.s.proxy).strip()
        self.annex("pull", "-q", "--no-content", "origin")
        verify(self, "origin-sr")
        verify(self, "origin-csr")
        self.other = self.s.makeClient("client2")

    def tearDown(self):
        log = self.daemonLog()
        for bad in ("Unhandled Error", "Traceback"):
            self.assertNotIn(bad, log)

    def seenByAnotherClone(self, key):
        self.annex("pull", "-q", "--no-content", "origin", cwd=self.other)
        return self.annex("whereis", "--key", key, cwd=self.other, ok=None)

    def journal(self):
        return os.listdir(os.path.join(self.s.proxy, ".git", "annex", "journal"))


class SpecialRemoteRecordsTests(_SpecialRecordsCase):
    """
    What a special remote stored or dropped through annexrelay is on the
    proxy's committed branch within the commit delay, and a clone that
    pulls then sees it.
    """

    # Seconds the committed branch may take; well below the idle timeout.
    onTime = 10

    def test_proxied_copy_and_drop(self):
        self.s.addFile(self.client, "a.txt", b"to a proxied special remote\n" * 1000)
        k = self.key("a.txt")
        self.annex("copy", "--to", "origin-sr", "a.txt")
        self.waitForProxyLog(k, " 1 " + self.sr, timeout=self.onTime)
        self.assertIn(self.sr, self.seenByAnotherClone(k))
        self.annex("drop", "--from", "origin-sr", "a.txt")
        self.waitForProxyLog(k, " 0 " + self.sr, timeout=self.onTime)
        self.assertNotIn(self.sr, self.seenByAnotherClone(k))
        # The git-annex-shell that served both is still in the pool.
        self.assertEqual(self.daemonLog().count("connected to node sr "), 1)

    def test_cluster_copy_and_drop(self):
        self.s.addFile(self.client, "c.txt", b"to a cluster with a special node\n" * 1000)
        k = self.key("c.txt")
        self.annex("copy", "--to", "origin-c1", "c.txt")
        self.waitForProxyLog(k, " 1 " + self.csr, timeout=self.onTime)
        self.waitForProxyLog(k, " 1 " + self.uuids["n1"], timeout=self.onTime)
        out = self.seenByAnotherClone(k)
        self.assertIn(self.csr, out)
        self.assertIn(self.uuids["n1"], out)
        self.annex("drop", "--from", "origin-c1", "c.txt")
        self.waitForProxyLog(k, " 0 " + self.csr, timeout=self.onTime)
        self.assertNotIn(self.csr, self.seenByAnotherClone(k))


class _AtStopCase(_SpecialRecordsCase):
    """
    The daemon stopped (SIGTERM) with the special remotes' git-annex-shells
    still pooled: when the daemon has exited, nothing journalled is left
    and the branch lists the changes.
    """

    def stopped(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.assertIn("Main loop terminated", self.daemonLog())
        self.assertEqual(self.journal(), [])


class SpecialRemoteRecordsAtStopTests(_AtStopCase):
    def test_sigterm_after_the_commit_delay(self):
        self.s.addFile(self.client, "a.txt", b"to a proxied special remote\n" * 1000)
        self.annex("copy", "--to", "origin-sr", "a.txt")
        # The daemon's batch has run (the record is on the branch or, before
        # annexrelay committed the journal, left in it).
        deadline = time.monotonic() + 30
        while "] recorded 1 location log update(s)" not in self.daemonLog():
            self.assertLess(time.monotonic(), deadline, self.daemonLog())
            time.sleep(0.05)
        self.stopped()
        self.assertIn(" 1 " + self.sr, self.proxyLog(self.key("a.txt")))
        self.assertIn(self.sr, self.seenByAnotherClone(self.key("a.txt")))


class SpecialRemoteRecordsPendingAtStopTests(_AtStopCase):
    # The records still wait for the commit delay when the daemon stops.
    daemonArgs = ("--idle-timeout", "600", "--commit-delay", "600")

    def test_sigterm_before_the_commit_delay(self):
        self.s.addFile(self.client, "a.txt", b"to a proxied special remote\n" * 1000)
        self.s.addFile(self.client, "c.txt", b"to a cluster with a special node\n" * 1000)
        self.annex("copy", "--to", "origin-sr", "a.txt")
        self.annex("copy", "--to", "origin-c1", "c.txt")
        self.stopped()
        self.assertIn(" 1 " + self.sr, self.proxyLog(self.key("a.txt")))
        self.assertIn(" 1 " + self.csr, self.proxyLog(self.key("c.txt")))
        self.assertIn(self.csr, self.seenByAnotherClone(self.key("c.txt")))
