"""
The real-Tor tier: a private Tor network on loopback (L{annexrelay.testing.tornet}),
the daemon publishing its onions through txtorcon (C{--tor-control}), and
the real git-annex client linking, copying, getting, dropping, fetching
and pushing through them; a cluster address; and a proxied node that is
itself a tor-annex peer reached through Tor.
"""

import os

from tests.interop import test_tor
from annexrelay.testing.tornet import TorNetwork, tor_usable


class _TorNetCase(test_tor.TorCase):
    if not tor_usable():
        skip = "tor is not installed (.ci/run installs it from Debian's packages)"
    timeout = 600

    def makeNet(self):
        self.tornet = TorNetwork(self.base, env=self.s.env)
        self.addCleanup(self.tornet.stop)
        self.tornet.start()
        self.daemonArgs = ("--tor-control", "tcp:127.0.0.1:%d" % self.tornet.control)
        return self.tornet.net

    def waitPublished(self, repo, proc, log):
        from annexrelay.frontdoor.tor.keys import ONIONS, parse_keys
        from annexrelay.testing.onionnet import wait_for

        onions = {k.onion for k in parse_keys(test_tor.read(test_tor.private(repo, ONIONS))).values()}
        wait_for(
            lambda: all("onion service %s:" % o in log() and "published" in log() for o in onions)
            and log().count(" published") >= len(onions),
            "the onions of %s to be published" % (repo,),
            timeout=120,
            proc=proc,
            log=log,
        )


class RealTorTests(_TorNetCase):
    def test_everything_over_a_private_tor_network(self):
        self.s.addNode("n3", proxied=False)
        self.s.makeCluster("c1", ["n2", "n3"])
        far, _ = self.torPeer()
        self.s.git("config", "remote.tfar.annex-proxy", "true", cwd=self.s.proxy)
        addresses = {name: self.address(*([name] if name else [])) for name in ("n1", "c1", "tfar", None)}
        self.startDaemon()
        for name, addr in addresses.items():
            self.link("t" + (name or "proxy"), addr)

        key = self.roundTrip("tn1", "n1", 2 << 20)

        self.annex("copy", "--to", "tc1", "big")
        self.assertTrue(self.nodeHas("n2", key) and self.nodeHas("n3", key))

        self.annex("copy", "--to", "ttfar", "big")
        self.assertTrue(self.nodeHas(far, key))

        self.gitc("push", "tproxy", "HEAD:refs/heads/from-tor")
        self.gitc("fetch", "tproxy")
        self.assertIn("tproxy/from-tor", self.gitc("branch", "-r"))
        self.assertIn("published", self.log())


class LaunchedTorTests(_TorNetCase):
    def test_tor_launch(self):
        """
        C{--tor-launch}: the daemon's own tor (txtorcon.launch) joins the
        network and publishes; the client reaches it through its tor.
        """
        self.daemonArgs = ("--tor-launch", "--tor-binary", self.tornet.wrapper(os.path.join(self.base, "tor-wrapper")))
        addr = self.address("n1")
        daemon = self.startDaemon()
        self.link("tn1", addr)
        key = self.addFile("f", os.urandom(500000))
        self.annex("copy", "--to", "tn1", "f")
        self.assertTrue(self.nodeHas("n1", key))
        self.assertIn("connected to tor (launched)", self.log())
        daemon.terminate()
        daemon.wait()
        self.assertIn("Server Shut Down", self.log())
        self.assertNotIn("Unhandled Error", self.log())
