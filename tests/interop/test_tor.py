"""
The Tor front door and connector with the real git-annex client (fast
tier): a SOCKS5 stand-in on 127.0.0.1:9050, inside a network namespace of
the test's own, maps each onion to the daemon's loopback listener.  The
real-Tor tier is L{tests.test_tornet}.
"""

import os
import subprocess
import sys

from twisted.trial import unittest

from annexrelay.testing.lab import Setup
from annexrelay.frontdoor.tor.onion import LISTENERS
from annexrelay.frontdoor.tor.keys import ONIONS, parse_keys
from annexrelay.testing.gitrepos import have_git_annex
from annexrelay.testing.onionnet import OnionNet, standin_argv, wait_for

BIN = os.path.dirname(sys.executable)


def private(repo, name):
    return os.path.join(repo, ".git", "annex", "annexrelay", name)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class TorCase(unittest.TestCase):
    if not have_git_annex():
        skip = "git-annex must be on PATH (./dev test installs it)"

    nodes = 2
    daemonArgs = ("--onion-local-only",)

    def setUp(self):
        self.s = Setup(self.mktemp(), nodes=self.nodes)
        self.base = self.s.base
        self.net = self.makeNet()
        self.addCleanup(self.net.stop)
        self.client = self.s.makeClient()
        self.daemon = None

    def makeNet(self):
        ready = os.path.join(self.base, "standin.ready")
        net = OnionNet(self.base, standin_argv(self.base, ready), env=self.s.env)
        wait_for(lambda: os.path.exists(ready), "the SOCKS stand-in", proc=net.holder, log=lambda: read(ready))
        return net

    def log(self):
        return read(os.path.join(self.base, "annexrelay.log"))

    def address(self, *args, repo=None, ok=True):
        p = subprocess.run(
            [os.path.join(BIN, "annexrelay"), "address", "--repo", repo or self.s.proxy] + list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.s.env,
        )
        if (p.returncode == 0) != ok:
            self.fail("annexrelay address %s exited %d: %s" % (" ".join(args), p.returncode, p.stderr.decode()))
        return (p.stdout if ok else p.stderr).decode().strip()

    def startDaemon(self, repo=None, extra=(), logname="annexrelay.log"):
        repo = repo or self.s.proxy
        argv = [os.path.join(BIN, "twistd"), "-n", "--pidfile=", "annexrelay", "--repo", repo]
        argv += ["--commit-delay", "0.2", "--idle-timeout", "5"] + list(self.daemonArgs) + list(extra)
        logfile = os.path.join(self.base, logname)
        p = self.net.spawn(argv, logfile, env=self.s.env)
        self.waitPublished(repo, p, lambda: read(logfile))
        return p

    def waitPublished(self, repo, proc, log):
        def ready():
            onions = {k.onion for k in parse_keys(read(private(repo, ONIONS))).values()}
            listed = {line.split()[0] for line in read(private(repo, LISTENERS)).splitlines() if line.strip()}
            return onions <= listed

        wait_for(ready, "the onion listeners of %s" % (repo,), proc=proc, log=log)

    def annex(self, *args, ok=True, cwd=None, input=None):
        return self.inNet(["git", "annex"] + list(args), ok=ok, cwd=cwd, input=input)

    def gitc(self, *args, ok=True, cwd=None):
        return self.inNet(["git"] + list(args), ok=ok, cwd=cwd)

    def inNet(self, argv, ok=True, cwd=None, input=None):
        p = self.net.run(
            argv,
            cwd=cwd or self.client,
            env=self.s.env,
            input=input.encode() if input is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=int(os.environ.get("TOR_TEST_TIMEOUT", "180")),
        )
        out = p.stdout.decode("utf-8", "replace")
        if ok is not None and (p.returncode == 0) != ok:
            self.fail("%s exited %d:\n%s\n--- daemon log:\n%s" % (" ".join(argv), p.returncode, out, self.log()))
        return out

    def link(self, name, address, ok=True, cwd=None):
        return self.annex("p2p", "--link", "--name", name, input=address + "\n", ok=ok, cwd=cwd)

    def roundTrip(self, remote, node, size):
        """
        Copy a new file of C{size} bytes to C{remote} (whose content lands
        on C{node}), get it back, fsck it there and drop it from there.
        """
        key = self.addFile("big", os.urandom(size))
        self.annex("copy", "--to", remote, "big")
        self.assertTrue(self.nodeHas(node, key))
        self.annex("drop", "big")
        self.annex("get", "--from", remote, "big")
        self.annex("fsck", "--from", remote, "big")
        self.annex("drop", "--from", remote, "big")
        self.assertFalse(self.nodeHas(node, key))
        return key

    def torPeer(self, name="far", remote="tfar"):
        """
        A repository that is a tor-annex peer (served by a daemon of its
        own on its own onion), linked from the proxy repository as remote
        C{remote}.

        @return: its path and its daemon.
        """
        path = os.path.join(self.base, name)
        self.s.git("init", "-q", "-b", "main", path, cwd=self.base)
        self.s.git("annex", "init", "-q", name, cwd=path)
        addr = self.address(repo=path)
        daemon = self.startDaemon(repo=path, logname=name + ".log")
        self.link(remote, addr, cwd=self.s.proxy)
        return path, daemon

    def nodeHas(self, node, key):
        p = subprocess.run(
            ["git", "annex", "contentlocation", key], cwd=self.s.nodes.get(node, node), env=self.s.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        return p.returncode == 0

    def key(self, name, cwd=None):
        return self.s.git("annex", "lookupkey", name, cwd=cwd or self.client).strip()

    def addFile(self, name, content):
        self.s.addFile(self.client, name, content)
        return self.key(name)


class OnionTargetTests(TorCase):
    def test_proxied_remote_copy_get_drop_fsck(self):
        addr = self.address("n1")
        self.assertRegex(addr, r"^tor-annex::[a-z2-7]{56}\.onion:\d+:[0-9a-f]{128}$")
        self.startDaemon()
        out = self.link("tn1", addr)
        self.assertIn("ok", out)
        self.assertEqual(self.s.git("config", "remote.tn1.annex-uuid", cwd=self.client).strip(), self.s.uuidOf(self.s.nodes["n1"]))
        self.roundTrip("tn1", "n1", 3 << 20)
        self.assertNotIn("Traceback", self.log())

    def test_whereis_after_pull(self):
        """
        The relay's location log reaches a Tor-only client through the
        proxy repository's own address (git annex pull).
        """
        a1, own = self.address("n1"), self.address()
        self.startDaemon()
        self.link("tn1", a1)
        self.link("tproxy", own)
        self.addFile("f", b"where is it\n")
        self.annex("copy", "--to", "tn1", "f")
        self.annex("drop", "f")
        self.s.git("annex", "forget", "--drop-dead", "--force", cwd=self.client, check=False)
        self.annex("pull", "--no-content", "tproxy")
        where = self.annex("whereis", "f")
        self.assertIn("tn1", where)

    def test_client_killed_mid_copy_then_retry(self):
        """
        A client killed in the middle of an upload over Tor leaves nothing
        wedged: the node keeps the partial object, the retry resumes it.
        """
        import signal

        addr = self.address("n1")
        self.startDaemon()
        self.link("tn1", addr)
        key = self.addFile("big", os.urandom(64 << 20))
        tmp = os.path.join(self.s.gitDirOf("n1"), "annex", "tmp", key)
        p = subprocess.Popen(
            self.net.prefix + ["git", "annex", "copy", "--to", "tn1", "big"],
            cwd=self.client, env=self.s.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_for(lambda: os.path.exists(tmp) and os.path.getsize(tmp) > (1 << 20), "the node to receive data", proc=p)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        wait_for(lambda: "client stopped sending in the middle" in self.log(), "the session to end", log=self.log)
        self.annex("copy", "--to", "tn1", "big")
        self.assertTrue(self.nodeHas("n1", key))
        self.assertRegex(self.log(), r"PUT \S+ to node n1 from offset [1-9][0-9]*: ")

    def test_daemon_stopped_mid_copy_then_restarted(self):
        """
        The daemon stopped in the middle of an upload over Tor, with no
        grace for transfers in flight: the client fails cleanly, the daemon
        shuts down without an unhandled error, and after a restart the
        retry resumes from the node's partial object.
        """
        addr = self.address("n1")
        daemon = self.startDaemon(extra=["--shutdown-grace", "0"])
        self.link("tn1", addr)
        key = self.addFile("big", os.urandom(64 << 20))
        tmp = os.path.join(self.s.gitDirOf("n1"), "annex", "tmp", key)
        p = subprocess.Popen(
            self.net.prefix + ["git", "annex", "copy", "--to", "tn1", "big"],
            cwd=self.client, env=self.s.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: os.path.exists(tmp) and os.path.getsize(tmp) > (1 << 20), "the node to receive data", proc=p)
        daemon.terminate()
        daemon.wait()
        self.assertNotEqual(p.wait(timeout=120), 0)
        self.assertIn("Server Shut Down", self.log())
        self.startDaemon(logname="annexrelay2.log")
        self.annex("copy", "--to", "tn1", "big")
        self.assertTrue(self.nodeHas("n1", key))
        after = read(os.path.join(self.base, "annexrelay2.log"))
        self.assertRegex(after, r"PUT \S+ to node n1 from offset [1-9][0-9]*: ")
        for log in (self.log(), after):
            self.assertNotIn("Unhandled Error", log)
            self.assertNotIn("Traceback", log)

    def test_get_cut_by_a_killed_client_then_retried(self):
        import signal

        addr = self.address("n1")
        self.startDaemon()
        self.link("tn1", addr)
        key = self.addFile("big", os.urandom(64 << 20))
        self.annex("copy", "--to", "tn1", "big")
        self.annex("drop", "big")
        tmp = os.path.join(self.client, ".git", "annex", "tmp", key)
        p = subprocess.Popen(
            self.net.prefix + ["git", "annex", "get", "--from", "tn1", "big"],
            cwd=self.client, env=self.s.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_for(lambda: os.path.exists(tmp) and os.path.getsize(tmp) > (1 << 20), "the client to receive data", proc=p)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        self.annex("get", "--from", "tn1", "big")
        self.annex("fsck", "big")
        self.assertNotIn("Unhandled Error", self.log())
        self.assertNotIn("Traceback", self.log())

    def test_two_targets_from_one_client(self):
        """
        Each target has an onion of its own, so the client's per-onion
        token files do not collide.
        """
        a1, a2 = self.address("n1"), self.address("n2")
        self.assertNotEqual(a1.split(":")[2], a2.split(":")[2])
        self.startDaemon()
        self.link("tn1", a1)
        self.link("tn2", a2)
        key = self.addFile("f", b"two targets\n")
        self.annex("copy", "--to", "tn1", "f")
        self.annex("copy", "--to", "tn2", "f")
        self.assertTrue(self.nodeHas("n1", key))
        self.assertTrue(self.nodeHas("n2", key))

    def test_address_survives_restart(self):
        addr = self.address("n1")
        p = self.startDaemon()
        self.link("tn1", addr)
        p.terminate()
        p.wait()
        self.startDaemon(logname="annexrelay2.log")
        self.addFile("f", b"after restart\n")
        self.annex("copy", "--to", "tn1", "f")
        onion = addr.split(":")[2]
        self.assertIn(onion, self.address("--list"))
        self.assertEqual(self.address("n1").split(":")[2], onion)

    def test_cluster_address(self):
        self.s.makeCluster("c1", ["n1", "n2"])
        addr = self.address("c1")
        self.startDaemon()
        self.link("tc1", addr)
        key = self.addFile("f", os.urandom(100000))
        self.annex("copy", "--to", "tc1", "f")
        self.assertTrue(self.nodeHas("n1", key))
        self.assertTrue(self.nodeHas("n2", key))
        self.annex("drop", "--from", "tc1", "f")
        self.assertFalse(self.nodeHas("n1", key) or self.nodeHas("n2", key))
        self.annex("copy", "--to", "tc1", "f")
        self.annex("drop", "f")
        self.annex("get", "--from", "tc1", "f")


class OwnRepositoryTests(TorCase):
    def test_git_and_annex_through_the_proxy_address(self):
        addr = self.address()
        self.startDaemon()
        self.link("tproxy", addr)
        self.assertEqual(self.s.git("config", "remote.tproxy.annex-uuid", cwd=self.client).strip(), self.s.proxyUUID)
        key = self.addFile("f", os.urandom(200000))
        self.gitc("push", "tproxy", "HEAD:refs/heads/from-tor")
        self.assertEqual(
            self.s.git("rev-parse", "from-tor", cwd=self.s.proxy).strip(), self.s.git("rev-parse", "HEAD", cwd=self.client).strip()
        )
        self.gitc("fetch", "tproxy")
        self.assertIn("tproxy/from-tor", self.gitc("branch", "-r"))
        self.annex("copy", "--to", "tproxy", "f")
        self.assertTrue(self.nodeHas(self.s.proxy, key))
        self.annex("drop", "f")
        self.annex("get", "--from", "tproxy", "f")
        self.annex("sync", "--no-content", "tproxy")
        self.assertIn("tproxy", self.annex("whereis", "f"))


class TokenTests(TorCase):
    def test_wrong_token(self):
        addr = self.address("n1")
        self.startDaemon()
        out = self.link("tn1", addr[:-8] + "00000000", ok=False)
        self.assertIn("Unable to authenticate", out)
        self.assertIn("wrong token", self.log())

    def test_revoked_token(self):
        addr = self.address("n1")
        self.startDaemon()
        self.link("tn1", addr)
        ident = self.address("--list").split()[0]
        self.assertNotIn(addr.rsplit(":", 1)[1], self.address("--list"))
        self.assertIn("revoked " + ident, self.address("--revoke", ident))
        self.addFile("f", b"revoked\n")
        out = self.annex("copy", "--to", "tn1", "f", ok=False)
        self.assertIn("failed", out)
        self.assertIn("no token has id " + ident, self.address("--revoke", ident, ok=False))

    def test_read_only_token(self):
        self.s.addFile(self.client, "f", b"stored before\n")
        self.annex("copy", "--to", "origin-n1", "f")
        ro = self.address("n1", "--mode", "read-only")
        rop = self.address("--mode", "read-only")
        self.startDaemon()
        self.link("tn1", ro)
        self.link("tproxy", rop)
        self.annex("drop", "f")
        self.annex("get", "--from", "tn1", "f")
        self.addFile("g", b"not allowed\n")
        self.annex("copy", "--to", "tn1", "g", ok=False)
        self.assertIn("refused PUT from tor client", self.log())
        self.assertFalse(self.nodeHas("n1", self.key("g")))
        self.annex("drop", "--from", "tn1", "f", "--force", ok=False)
        self.assertIn("refused REMOVE from tor client", self.log())
        self.assertTrue(self.nodeHas("n1", self.key("f")))
        self.gitc("fetch", "tproxy")
        out = self.gitc("push", "tproxy", "HEAD:refs/heads/denied", ok=False)
        self.assertIn("this repository is read-only; write access denied", out)
        self.assertNotIn("denied", self.s.git("branch", "--list", "denied", cwd=self.s.proxy))
        self.assertIn("refused git-receive-pack", self.log())


class TorNodeTests(TorCase):
    """
    A proxied remote that is itself a tor-annex peer: the relay reaches it
    through the SOCKS port with the token `git annex p2p --link` stored in
    the proxy repository.
    """

    nodes = 1

    def test_proxied_tor_annex_node(self):
        far, _ = self.torPeer()
        self.s.git("config", "remote.tfar.annex-proxy", "true", cwd=self.s.proxy)
        addr = self.address("tfar")
        self.startDaemon()
        self.link("tfar", addr)
        self.assertEqual(self.s.git("config", "remote.tfar.annex-uuid", cwd=self.client).strip(), self.s.uuidOf(far))
        key = self.addFile("f", os.urandom(300000))
        self.annex("copy", "--to", "tfar", "f")
        self.assertTrue(self.nodeHas(far, key))
        self.annex("drop", "f")
        self.annex("get", "--from", "tfar", "f")
        self.annex("drop", "--from", "tfar", "f")
        self.assertFalse(self.nodeHas(far, key))

    def test_missing_token_is_a_clear_error(self):
        self.s.git("remote", "add", "ghost", "tor-annex::" + "a" * 56 + ".onion:5555", cwd=self.s.proxy)
        self.s.git("config", "remote.ghost.annex-uuid", "11111111-2222-3333-4444-555555555555", cwd=self.s.proxy)
        self.s.git("config", "remote.ghost.annex-proxy", "true", cwd=self.s.proxy)
        addr = self.address("ghost")
        self.startDaemon()
        self.link("tghost", addr)
        self.addFile("f", b"x\n")
        self.annex("copy", "--to", "tghost", "f", ok=False)
        self.assertIn("cannot reach node ghost (tor-annex::", self.log())
        self.assertIn("no token in", self.log())


class NotifyChangeTests(TorCase):
    def test_remotedaemon_pulls_on_change(self):
        """
        The client's remotedaemon waits in NOTIFYCHANGE on the proxy's own
        address; a new ref in the proxy repository makes it fetch, over
        CONNECT git-upload-pack, at once.
        """
        addr = self.address()
        self.startDaemon()
        self.link("tproxy", addr)
        self.gitc("fetch", "tproxy")
        log = os.path.join(self.base, "remotedaemon.log")
        rd = self.net.spawn(
            ["git", "annex", "remotedaemon", "--foreground"], log, env=self.s.env, cwd=self.client, stdin=subprocess.PIPE
        )
        wait_for(lambda: self.log().count(" to %s (read-write)" % self.s.proxyUUID) >= 3, "the remotedaemon", proc=rd, log=self.log)
        self.s.git("commit", "-q", "--allow-empty", "-m", "new", cwd=self.s.proxy)
        self.s.git("branch", "notified", cwd=self.s.proxy)
        head = self.s.git("rev-parse", "notified", cwd=self.s.proxy).strip()

        def fetched():
            p = subprocess.run(
                ["git", "rev-parse", "-q", "--verify", "refs/remotes/tproxy/notified"],
                cwd=self.client, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
            return p.stdout.decode().strip() == head

        wait_for(fetched, "the remotedaemon to fetch the new ref", proc=rd, log=lambda: read(log) + self.log())


class TorClusterNodeTests(TorCase):
    """
    A cluster with a node that is a tor-annex peer: stores go to it
    through Tor, reads fail over when it is gone, and it is used again
    once it is back.
    """

    nodes = 1

    def setUp(self):
        TorCase.setUp(self)
        self.far, self.farDaemon = self.torPeer()
        self.s.makeCluster("c1", ["n1", "tfar"])

    def test_tor_annex_node_in_a_cluster(self):
        cluster = self.s.git("config", "annex.cluster.c1", cwd=self.s.proxy).strip()
        self.assertIn(self.s.uuidOf(self.far), self.s.git("show", "git-annex:cluster.log", cwd=self.s.proxy))
        self.startDaemon()
        self.annex("sync", "--no-content", "origin")
        key = self.addFile("f", os.urandom(400000))
        self.annex("copy", "--to", "origin-c1", "f")
        self.assertTrue(self.nodeHas("n1", key))
        self.assertTrue(self.nodeHas(self.far, key))
        # The tor-annex node goes away: reads fail over to n1.
        self.farDaemon.terminate()
        self.farDaemon.wait()
        self.annex("drop", "f")
        self.annex("get", "--from", "origin-c1", "f")
        key2 = self.addFile("g", os.urandom(1000))
        self.annex("copy", "--to", "origin-c1", "g")
        self.assertTrue(self.nodeHas("n1", key2))
        self.assertIn("cannot reach node tfar (tor-annex::", self.log())
        # Back again: used again.
        self.startDaemon(repo=self.far, logname="far2.log")
        key3 = self.addFile("h", os.urandom(1000))
        self.annex("copy", "--to", "origin-c1", "h")
        self.assertTrue(self.nodeHas(self.far, key3))
        self.assertTrue(cluster)


class TorUnreachableTests(TorCase):
    daemonArgs = ("--tor-control", "tcp:127.0.0.1:1")

    def test_daemon_keeps_serving(self):
        """
        A tor that cannot be reached is logged and tried again; the
        daemon and its listeners go on.
        """
        addr = self.address("n1")
        self.startDaemon()
        wait_for(lambda: "cannot publish onion service" in self.log(), "the publishing error", log=self.log)
        self.assertIn("trying again in 30 s", self.log())
        self.link("tn1", addr)
        self.addFile("f", b"served anyway\n")
        self.annex("copy", "--to", "tn1", "f")
        self.assertNotIn("Unhandled Error", self.log())
