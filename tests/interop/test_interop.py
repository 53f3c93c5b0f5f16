"""
Tier 3: the real git-annex client, through an ssh stand-in that runs
annexrelay-shell, against real git-annex repositories as nodes, with the
daemon running as C{twistd -n annexrelay}.
"""

import os
import shutil
import subprocess
import time
import uuid

from twisted.trial import unittest

from annexrelay.connectors.process import nodeCommand
from annexrelay.testing.lab import Setup
from annexrelay.repo import ProxyRepository
from annexrelay.testing.gitrepos import restore_node


def _have_git_annex():
    return shutil.which("git-annex") is not None and shutil.which("annexrelay-shell") is not None


class InteropCase(unittest.TestCase):
    if not _have_git_annex():
        skip = "git-annex and annexrelay-shell must be on PATH (./dev test installs them)"

    daemon = True
    daemonArgs = ()
    nodes = 2
    bare = False  # bare node repositories

    def setUp(self):
        self.s = Setup(self.mktemp(), nodes=self.nodes, bare=self.bare)
        self.uuids = {name: self.s.uuidOf(path) for name, path in self.s.nodes.items()}
        self.proc = None
        if self.daemon:
            self.startDaemon()
        self.client = self.s.makeClient()

    def startDaemon(self):
        self.proc = self.s.startDaemon(["--commit-delay", "0.2", "--idle-timeout", "5"] + list(self.daemonArgs))
        self.addCleanup(self.stopDaemon)

    def stopDaemon(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def annex(self, *args, cwd=None, env=None, ok=True):
        e = dict(self.s.env)
        if env:
            e.update(env)
        p = subprocess.run(
            ["git", "annex"] + list(args),
            cwd=cwd or self.client,
            env=e,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=180,
        )
        out = p.stdout.decode("utf-8", "replace")
        if ok is not None and (p.returncode == 0) != ok:
            self.fail("git annex %s exited %d:\n%s\n--- daemon log:\n%s" % (" ".join(args), p.returncode, out, self.daemonLog()))
        return out

    def daemonLog(self):
        try:
            with open(os.path.join(self.s.base, "annexrelay.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def key(self, name, client=None):
        return self.s.git("annex", "lookupkey", name, cwd=client or self.client).strip()

    def nodeHas(self, node, key):
        p = subprocess.run(
            ["git", "annex", "contentlocation", key],
            cwd=self.s.nodes[node],
            env=self.s.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return p.returncode == 0

    def proxyLog(self, key):
        """
        The proxy's committed location log for C{key}.
        """
        path = self.s.git("annex", "examinekey", "--format=${hashdirlower}${key}.log", key, cwd=self.s.proxy)
        p = subprocess.run(
            ["git", "cat-file", "-p", "refs/heads/git-annex:" + path.strip()],
            cwd=self.s.proxy,
            env=self.s.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return p.stdout.decode()

    def waitForProxyLog(self, key, line_end, timeout=30):
        """
        Wait (bounded by C{timeout} seconds) until the proxy's committed log
        has a line ending in C{line_end}.  This waits on the branch's
        content, not on a delay.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = self.proxyLog(key).splitlines()
            if any(l.endswith(line_end) for l in lines):
                return lines
            if time.monotonic() > deadline:
                self.fail("proxy location log never got %r; has %r\n%s" % (line_end, lines, self.daemonLog()))
            time.sleep(0.05)


class ProxiedRemoteTests(InteropCase):
    def test_copy_get_drop_fsck_whereis(self):
        content = b"file one\n" * 1000
        self.s.addFile(self.client, "one.txt", content)
        k = self.key("one.txt")
        self.annex("copy", "--to", "origin-n1", "one.txt")
        self.assertTrue(self.nodeHas("n1", k))
        self.assertFalse(self.nodeHas("n2", k))
        n1 = self.uuids["n1"]
        self.waitForProxyLog(k, " 1 " + n1)

        # A second client learns it from the proxy's branch.
        other = self.s.makeClient("client2")
        self.annex("pull", "--no-content", "origin", cwd=other)
        out = self.annex("whereis", "--key", k, cwd=other)
        self.assertIn(n1, out)

        self.annex("fsck", "--from", "origin-n1", "one.txt")
        self.annex("drop", "one.txt")
        self.annex("get", "--from", "origin-n1", "one.txt")
        with open(os.path.join(self.client, "one.txt"), "rb") as f:
            self.assertEqual(f.read(), content)

        self.annex("drop", "--from", "origin-n1", "one.txt")
        self.assertFalse(self.nodeHas("n1", k))
        self.waitForProxyLog(k, " 0 " + n1)
        self.annex("pull", "--no-content", "origin", cwd=other)
        self.assertNotIn(n1, self.annex("whereis", "--key", k, cwd=other, ok=None))

    def test_interrupted_get_resumes(self):
        """
        The connection breaks in the middle of a GET; the next get resumes
        from where the client's partial file ends.
        """
        content = os.urandom(4 * 1024 * 1024)
        self.s.addFile(self.client, "big.bin", content)
        self.annex("copy", "--to", "origin-n1", "big.bin")
        self.annex("drop", "big.bin")
        # Each connection breaks after 1 MiB; git-annex retries while it
        # makes progress, each time resuming where its partial file ends.
        self.annex("get", "--from", "origin-n1", "big.bin", env={"FAKE_SSH_CUT_AFTER": str(1024 * 1024)}, ok=None)
        self.annex("get", "--from", "origin-n1", "big.bin")
        with open(os.path.join(self.client, "big.bin"), "rb") as f:
            self.assertEqual(f.read(), content)
        offsets = [
            int(l.split(" at offset ")[1].split(":")[0]) for l in self.daemonLog().splitlines() if "GET " in l and " at offset " in l
        ]
        self.assertEqual(offsets[0], 0)
        self.assertTrue(offsets[-1] > 0, offsets)

    def test_read_only(self):
        self.s.addFile(self.client, "a.txt", b"aaa\n")
        self.s.addFile(self.client, "b.txt", b"bbb\n")
        self.annex("copy", "--to", "origin-n1", "b.txt")
        ro = {"GIT_ANNEX_SHELL_READONLY": "1"}
        self.annex("copy", "--to", "origin-n1", "a.txt", env=ro, ok=False)
        self.assertIn("refused PUT", self.daemonLog())
        self.assertFalse(self.nodeHas("n1", self.key("a.txt")))
        out = self.annex("drop", "--from", "origin-n1", "b.txt", env=ro, ok=False)
        self.assertIn("read-only", out)
        self.annex("drop", "b.txt", env=ro)
        self.annex("get", "--from", "origin-n1", "b.txt", env=ro)
        # git-annex-shell would let this push through; annexrelay-shell not.
        e = dict(self.s.env, **ro)
        p = subprocess.run(["git", "push", "origin", "main"], cwd=self.client, env=e, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"GIT_ANNEX_SHELL_READONLY", p.stderr)

    def test_append_only(self):
        self.s.addFile(self.client, "a.txt", b"aaa\n")
        ao = {"GIT_ANNEX_SHELL_APPENDONLY": "1"}
        self.annex("copy", "--to", "origin-n1", "a.txt", env=ao)
        self.assertTrue(self.nodeHas("n1", self.key("a.txt")))
        out = self.annex("drop", "--from", "origin-n1", "a.txt", env=ao, ok=False)
        self.assertIn("append-only", out)
        self.assertTrue(self.nodeHas("n1", self.key("a.txt")))

    def test_missing_node(self):
        """
        A node that cannot be reached gets the client a clear error, and the
        daemon goes on serving the others.
        """
        self.s.addFile(self.client, "a.txt", b"aaa\n")
        shutil.move(self.s.nodes["n2"], self.s.nodes["n2"] + ".gone")
        out = self.annex("copy", "--to", "origin-n2", "a.txt", ok=False)
        self.assertIn("cannot reach node n2", out)
        self.annex("copy", "--to", "origin-n1", "a.txt")
        self.assertIsNone(self.proc.poll())
        self.assertIn("cannot reach node n2", self.daemonLog())


class TransferPathTests(InteropCase):
    """
    Payloads spliced in the kernel (the default) and copied through memory
    (--no-splice) arrive intact both ways.
    """

    def roundTrip(self):
        content = os.urandom(3 * 1024 * 1024 + 7)
        self.s.addFile(self.client, "p.bin", content)
        self.annex("copy", "--to", "origin-n1", "p.bin")
        self.annex("drop", "p.bin")
        self.annex("get", "--from", "origin-n1", "p.bin")
        with open(os.path.join(self.client, "p.bin"), "rb") as f:
            self.assertEqual(f.read(), content)
        return self.daemonLog()

    def test_round_trip(self):
        self.assertIn("] spliced ", self.roundTrip())


class CopiedTransferTests(TransferPathTests):
    daemonArgs = ("--no-splice",)

    def test_round_trip(self):
        log = self.roundTrip()
        self.assertNotIn("] spliced ", log)
        self.assertIn("] relaying 3145735 bytes through memory", log)


class ShellTests(InteropCase):
    """
    annexrelay-shell spoken to directly, as an ssh forced command would run
    it.
    """

    def shell(self, *args, input=b"", env=None):
        e = dict(self.s.env)
        if env:
            e.update(env)
        return subprocess.run(
            ["annexrelay-shell"] + list(args),
            input=input,
            env=e,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.s.base,
            timeout=120,
        )

    def test_session_on_a_subdirectory(self):
        """
        A session opened on a directory inside the proxy repository is the
        repository's, with the daemon and without it, and writes nothing
        into the work tree.
        """
        sub = os.path.join(self.s.proxy, "sub")
        os.makedirs(sub)
        key = b"SHA256E-s1--x"
        command = "git-annex-shell 'p2pstdio' '%s' '%s' --uuid %s" % (sub, uuid.uuid4(), self.uuids["n1"])
        for daemon in (True, False):
            if not daemon:
                self.stopDaemon()
            # REMOVE is recorded in the location log: a write.
            p = self.shell("-c", command, input=b"VERSION 4\nREMOVE " + key + b"\n")
            self.assertEqual(p.stdout.decode().splitlines(), ["AUTH-SUCCESS " + self.uuids["n1"], "VERSION 4", "SUCCESS"], p.stderr)
            self.assertEqual(p.returncode, 0)
            self.assertEqual(os.listdir(sub), [])

    def test_unbalanced_quotes(self):
        """
        A forced command that cannot be split is refused with a one-line
        error and exit status 1, as git-annex-shell refuses it; no traceback.
        """
        p = self.shell("-c", "git-annex-shell 'p2pstdio %s" % (self.s.proxy,))
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")
        self.assertNotIn(b"Traceback", p.stderr)
        self.assertEqual(len(p.stderr.decode().splitlines()), 1, p.stderr)
        self.assertIn("No closing quotation", p.stderr.decode())

    def test_malformed_client(self):
        key = b"SHA256E-s1--x"
        p = self.shell(
            "-c",
            "git-annex-shell 'p2pstdio' '%s' '%s' --uuid %s" % (self.s.proxy, uuid.uuid4(), self.uuids["n1"]),
            input=b"VERSION 4\nFOO\nSUCCESS\nPUT-FROM 1\nCHECKPRESENT " + key + b"\n",
        )
        self.assertEqual(
            p.stdout.decode().splitlines(),
            [
                "AUTH-SUCCESS " + self.uuids["n1"],
                "VERSION 4",
                "ERROR unknown command",
                "ERROR unexpected command",
                "ERROR unexpected command",
                "FAILURE",
            ],
        )
        self.assertEqual(p.returncode, 0)
        self.assertIsNone(self.proc.poll())

    def test_configlist(self):
        mine = self.shell("-c", "git-annex-shell 'configlist' '%s'" % (self.s.proxy,))
        theirs = subprocess.run(
            ["git-annex-shell", "configlist", self.s.proxy], env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.assertEqual(mine.returncode, 0)
        self.assertEqual(mine.stdout, theirs.stdout)
        self.assertIn(b"annex.uuid=" + self.s.proxyUUID.encode(), mine.stdout)

    def test_unknown_target(self):
        u = str(uuid.uuid4())
        p = self.shell("p2pstdio", self.s.proxy, "c", "--uuid", u)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"expected repository UUID " + u.encode(), p.stderr)

    def test_known_but_not_proxied(self):
        p = self.shell("p2pstdio", self.s.proxy, "c", "--uuid", self.s.git("config", "annex.uuid", cwd=self.client).strip())
        self.assertEqual(p.returncode, 1)

    def test_the_repository_itself(self):
        p = self.shell("p2pstdio", self.s.proxy, "c", "--uuid", self.s.proxyUUID, input=b"VERSION 4\n")
        self.assertEqual(p.stdout.splitlines()[0], b"AUTH-SUCCESS " + self.s.proxyUUID.encode())

    def test_legacy_and_unknown_commands(self):
        p = self.shell("inannex", self.s.proxy, "--uuid", self.uuids["n1"], "SHA256E-s1--x")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"Cannot proxy inannex", p.stderr)
        p = self.shell("frobnicate", self.s.proxy)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"unknown command", p.stderr)
        p = self.shell()
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"bad parameters", p.stderr)

    def test_missing_client_uuid(self):
        p = self.shell("p2pstdio", self.s.proxy)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"missing UUID parameter", p.stderr)


class ClusterTests(InteropCase):
    """
    annexrelay as the gateway of cluster c1 = n1, n2, n3, configured with
    git-annex's own commands; the client sees it as origin-c1.
    """

    nodes = 3

    def setUp(self):
        InteropCase.setUp(self)
        self.clusterUUID = self.s.makeCluster("c1", ["n1", "n2", "n3"])
        self.annex("pull", "--no-content", "origin")

    def add(self, *names):
        for name in names:
            self.s.addFile(self.client, name, ("content of %s\n" % name).encode())

    def holders(self, name):
        key = self.key(name)
        return sorted(n for n, path in self.s.nodes.items() if os.path.isdir(path) and self.nodeHas(n, key))

    def breakNode(self, name):
        """
        The node's repository goes away (moved aside), as a dead disk would.
        """
        path = self.s.nodes[name]
        os.rename(path, path + ".gone")
        self.addCleanup(restore_node, path)

    def test_copy_lands_on_every_node_whereis(self):
        self.add("a.txt", "b.txt", "c.txt")
        out = self.annex("copy", "--to", "origin-c1", "a.txt", "b.txt", "c.txt")
        self.assertEqual(out.count("ok"), 3, out)
        for name in ("a.txt", "b.txt", "c.txt"):
            self.assertEqual(self.holders(name), ["n1", "n2", "n3"])
        for node in ("n1", "n2", "n3"):
            self.waitForProxyLog(self.key("c.txt"), "1 " + self.uuids[node])
        # Never the cluster UUID in the log.
        self.assertNotIn(self.clusterUUID, self.proxyLog(self.key("a.txt")))
        other = self.s.makeClient("client2")
        self.annex("pull", "--no-content", "origin", cwd=other)
        out = self.annex("whereis", "--key", self.key("c.txt"), cwd=other)
        self.assertIn("(3 copies)", out)
        for expected in ("cluster c1 [origin-c1]", "n1 [origin-n1]", "n2 [origin-n2]", "n3 [origin-n3]"):
            self.assertIn(expected, out)

    def test_get_fails_over(self):
        """
        Two of three nodes are gone, whichever the gateway would pick first:
        get from the cluster still works.
        """
        self.add("a.txt")
        self.annex("copy", "--to", "origin-c1", "a.txt")
        self.annex("drop", "a.txt")
        self.breakNode("n1")
        self.breakNode("n2")
        self.annex("get", "--from", "origin-c1", "a.txt")
        with open(os.path.join(self.client, "a.txt"), "rb") as f:
            self.assertEqual(f.read(), b"content of a.txt\n")
        self.annex("fsck", "--from", "origin-c1", "a.txt")

    def test_copy_with_a_node_unreachable(self):
        self.breakNode("n2")
        self.add("a.txt", "b.txt")
        self.annex("copy", "--to", "origin-c1", "a.txt", "b.txt")
        self.assertEqual(self.holders("a.txt"), ["n1", "n3"])
        out = self.annex("whereis", "a.txt")
        self.assertIn("n1 [origin-n1]", out)
        self.assertIn("n3 [origin-n3]", out)
        self.assertNotIn("n2 [origin-n2]", out)
        self.assertIn("unreachable: n2", self.daemonLog())

    def test_drop_from_all_nodes(self):
        self.add("a.txt")
        self.annex("copy", "--to", "origin-c1", "a.txt")
        self.annex("drop", "--from", "origin-c1", "a.txt")
        self.assertEqual(self.holders("a.txt"), [])
        for node in ("n1", "n2", "n3"):
            self.waitForProxyLog(self.key("a.txt"), "0 " + self.uuids[node])
        # Dropping the only other copy, proven by locking it in the cluster.
        self.annex("copy", "--to", "origin-c1", "a.txt")
        self.annex("drop", "a.txt")
        self.annex("get", "--from", "origin-c1", "a.txt")

    def test_preferred_content_routes(self):
        self.s.git("annex", "wanted", "n1", "include=*.jpg", cwd=self.s.proxy)
        self.add("photo.jpg", "notes.txt")
        self.annex("copy", "--to", "origin-c1", "photo.jpg", "notes.txt")
        self.assertEqual(self.holders("photo.jpg"), ["n1", "n2", "n3"])
        self.assertEqual(self.holders("notes.txt"), ["n2", "n3"])


class NodeGoneTests(InteropCase):
    """
    What C{./dev demo} shows: a node's repository is moved away while the
    daemon keeps a git-annex-shell for it in the pool (that process goes on
    answering, as if it lacked every key).  The log says the node cannot be
    reached, and why; never that it lacks the content.
    """

    nodes = 2
    daemonArgs = ("--idle-timeout", "600")

    def setUp(self):
        InteropCase.setUp(self)
        self.s.makeCluster("c1", ["n1", "n2"])
        # n1 is asked first.
        self.s.git("config", "remote.n1.annex-cost", "50", cwd=self.s.proxy)
        self.annex("pull", "--no-content", "origin")

    def test_get_with_a_node_moved_away(self):
        self.s.addFile(self.client, "a.txt", b"a node moved away\n")
        self.annex("copy", "--to", "origin-c1", "a.txt")
        self.annex("drop", "a.txt")
        path = self.s.nodes["n1"]
        os.rename(path, path + ".gone")
        self.addCleanup(restore_node, path)
        self.annex("get", "--from", "origin-c1", "a.txt")
        log = self.daemonLog()
        if not self.s.localStore:
            # (Under --local-store the upload opened no connection to n1.)
            self.assertIn("asking node n1 again on a new connection", log)
        self.assertIn("skipping node n1: cannot reach node n1 (%s): " % (path,), log)
        self.assertIn("has moved", log)
        self.assertNotIn("does not have it", log)
        self.assertIn("unreachable: n1" if self.s.localStore else "1 failover(s), unreachable: n1", log)


class TwoGatewayTests(InteropCase):
    """
    Cluster c1 has two gateways that list each other (C{extendcluster} both
    ways): the proxy (nodes n1) and g2 (node n3).  A client's upload goes
    to n1 and, through g2, to n3, and stops there: BYPASS ends the loop.
    """

    nodes = 3
    g2Shell = None  # None: g2 is annexrelay; "git-annex-shell": git-annex's gateway

    def setUp(self):
        InteropCase.setUp(self)
        s = self.s
        s.makeCluster("c1", ["n1"])
        self.g2 = os.path.join(s.base, "g2")
        s.git("init", "-q", "-b", "main", self.g2, cwd=s.base)
        s.git("annex", "init", "-q", "g2", cwd=self.g2)
        s.git("remote", "add", "n3", s.nodes["n3"], cwd=self.g2)
        s.git("remote", "add", "g1", "localhost:" + s.proxy, cwd=self.g2)
        s.git("fetch", "-q", "g1", cwd=self.g2)
        s.git("fetch", "-q", "n3", cwd=self.g2)
        s.git("annex", "extendcluster", "g1", "c1", cwd=self.g2)
        s.git("config", "remote.n3.annex-cluster-node", "c1", cwd=self.g2)
        s.git("annex", "updatecluster", cwd=self.g2)
        s.git("remote", "add", "g2", "localhost:" + self.g2, cwd=s.proxy)
        s.git("fetch", "-q", "g2", cwd=s.proxy)
        s.git("annex", "extendcluster", "g2", "c1", cwd=s.proxy)
        s.git("annex", "updatecluster", cwd=s.proxy)
        if self.g2Shell:
            # The proxy reaches g2 with git-annex-shell: git-annex's gateway.
            s.git("config", "remote.g2.annex-shell", self.g2Shell, cwd=s.proxy)
        else:
            p = s.startDaemon(
                ["--commit-delay", "0.2"], logfile=os.path.join(s.base, "g2.log"), repo=self.g2
            )
            self.addCleanup(lambda: (p.terminate(), p.wait()))
        self.annex("pull", "--no-content", "origin")

    def g2Log(self):
        with open(os.path.join(self.s.base, "g2.log"), errors="replace") as f:
            return f.read()

    def test_loop_terminates(self):
        self.s.addFile(self.client, "a.txt", b"two gateways\n")
        out = self.annex("copy", "--to", "origin-c1", "a.txt")
        self.assertIn("ok", out)
        key = self.key("a.txt")
        self.assertTrue(self.nodeHas("n1", key))
        self.assertTrue(self.nodeHas("n3", key))
        self.assertFalse(self.nodeHas("n2", key))
        # The client was told about both nodes.
        out = self.annex("whereis", "a.txt")
        self.assertIn("n1 [origin-n1]", out)
        self.assertIn(self.uuids["n3"], out)
        if not self.g2Shell:
            self.assertIn("gateway already on this path", self.g2Log())
        # Reads reach n3 through g2 when n1 is gone.
        self.annex("drop", "--from", "origin-n1", "a.txt")
        self.annex("drop", "a.txt", "--force")
        self.annex("get", "--from", "origin-c1", "a.txt")


class AnnexGatewayBehindTests(TwoGatewayTests):
    """
    The same, with git-annex's own gateway as the second one.
    """

    g2Shell = "git-annex-shell"


class InProcessTests(InteropCase):
    """
    No daemon: annexrelay-shell serves the session itself.
    """

    daemon = False

    def test_copy_without_daemon(self):
        self.s.addFile(self.client, "a.txt", b"in process\n")
        self.annex("copy", "--to", "origin-n1", "a.txt")
        k = self.key("a.txt")
        self.assertTrue(self.nodeHas("n1", k))
        # The shell wrote the location log before it exited.
        self.assertIn(" 1 " + self.uuids["n1"], self.proxyLog(k))
        self.annex("drop", "a.txt")
        self.annex("get", "--from", "origin-n1", "a.txt")


class ConfigurationTests(unittest.TestCase):
    """
    The proxy repository's configuration, read the way git-annex does.
    """

    if not _have_git_annex():
        skip = "git-annex must be on PATH"

    def test_reads_proxy_config_and_reloads(self):
        s = Setup(self.mktemp(), nodes=2)
        repo = ProxyRepository(s.proxy)
        self.assertEqual(sorted(n.name for n in repo.nodes.values()), ["n1", "n2"])
        self.assertEqual(repo.uuid.decode(), s.proxyUUID)
        n1 = repo.nodes[s.uuidOf(s.nodes["n1"]).encode()]
        self.assertEqual(nodeCommand(repo, n1), ["git-annex-shell", "p2pstdio", s.nodes["n1"], s.proxyUUID])
        s.git("config", "remote.n2.annex-proxy", "false", cwd=s.proxy)
        self.assertIsNone(repo.target(s.uuidOf(s.nodes["n2"]).encode()))

    def test_ssh_node_command(self):
        s = Setup(self.mktemp(), nodes=0)
        s.git("remote", "add", "far", "ssh://user@host:2222/~/srv/repo", cwd=s.proxy)
        s.git("config", "remote.far.annex-proxy", "true", cwd=s.proxy)
        s.git("config", "remote.far.annex-uuid", "11111111-2222-3333-4444-555555555555", cwd=s.proxy)
        repo = ProxyRepository(s.proxy)
        node = repo.nodes[b"11111111-2222-3333-4444-555555555555"]
        self.assertEqual(
            nodeCommand(repo, node),
            [
                "ssh",
                "-p",
                "2222",
                "-T",
                "user@host",
                "git-annex-shell 'p2pstdio' 'srv/repo' '%s' --uuid 11111111-2222-3333-4444-555555555555" % s.proxyUUID,
            ],
        )
