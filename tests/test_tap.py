"""
Wiring: the daemon's options and service tree against real repositories.
"""

import os
import subprocess

from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest

from annexrelay import tap

from annexrelay.testing.gitrepos import git as _git, have_git_annex as _have_git_annex


class WiringTests(unittest.TestCase):
    if not _have_git_annex():
        skip = "git-annex is not on PATH"

    def makeRepo(self, remotes=0):
        path = os.path.abspath(self.mktemp())
        subprocess.run(["git", "init", "-q", path], check=True)
        _git(path, "annex", "init", "-q", "proxy")
        with open(os.path.join(path, ".git", "config"), "a") as f:
            for i in range(remotes):
                f.write(
                    '[remote "r%d"]\n\turl = /srv/r%d\n\tannex-proxy = true\n\tannex-uuid = %08d-0000-4000-8000-000000000000\n'
                    % (i, i, i)
                )
        return path

    def test_thousand_remotes_start_without_a_connection(self):
        path = self.makeRepo(remotes=1000)
        options = tap.Options()
        options.parseOptions(["--repo", path, "--listen", "tcp:0:interface=127.0.0.1"])
        memory = MemoryReactorClock()
        top = tap.makeService(options, reactor=memory)
        top.privilegedStartService()
        top.startService()
        self.assertEqual(len(top.core.repository.nodes), 1000)
        self.assertEqual(memory.spawnedProcesses if hasattr(memory, "spawnedProcesses") else [], [])
        self.assertEqual(top.core.pool.opened, 0)
        self.assertEqual(len(memory.tcpServers), 1)

    def test_default_listener_is_the_repository_socket(self):
        path = self.makeRepo()
        options = tap.Options()
        options.parseOptions(["--repo", path])
        self.assertEqual(len(options["listen"]), 1)
        self.assertTrue(options["listen"][0].startswith("unix:"))
        self.assertIn("annexrelay.sock", options["listen"][0])

    def test_repo_required(self):
        from twisted.python.usage import UsageError

        self.assertRaises(UsageError, tap.Options().parseOptions, [])

    def test_one_way_to_tor(self):
        from twisted.python.usage import UsageError

        path = self.makeRepo()
        for pair in (["--tor-control", "tcp:127.0.0.1:9051", "--tor-launch"], ["--tor-launch", "--onion-local-only"]):
            self.assertRaises(UsageError, tap.Options().parseOptions, ["--repo", path] + pair)

    def test_onion_front_door_listens_per_target(self):
        """
        With --onion-local-only, each target with a key gets a loopback
        listener when the service starts (a memory reactor: no tor).
        """
        from annexrelay.frontdoor.tor.keys import OnionKeys
        from annexrelay.repo import ProxyRepository

        path = self.makeRepo(remotes=2)
        repo = ProxyRepository(path)
        keys = OnionKeys(repo.gitDir)
        keys.forTarget(repo.uuid)
        keys.forTarget(sorted(repo.nodes)[0])
        options = tap.Options()
        options.parseOptions(["--repo", path, "--onion-local-only", "--listen", "tcp:0:interface=127.0.0.1"])
        memory = MemoryReactorClock()
        top = tap.makeService(options, reactor=memory)
        top.startService()
        onion = [(port, iface) for port, _, _, iface in memory.tcpServers[1:]]
        self.assertEqual(onion, [(0, "127.0.0.1"), (0, "127.0.0.1")])

    def test_p2phttp_listeners_and_flags(self):
        """
        Each --p2phttp endpoint string is one listener of the one annex+http
        door; its flags are git annex p2phttp's, and need --p2phttp.
        """
        from twisted.python.usage import UsageError

        from annexrelay.frontdoor.http.door import HttpFrontDoor

        path = self.makeRepo()
        options = tap.Options()
        options.parseOptions(
            ["--repo", path, "--listen", "tcp:0:interface=127.0.0.1", "--p2phttp", "tcp:0:interface=127.0.0.1",
             "--p2phttp", r"tcp:0:interface=\:\:1", "--unauth-readonly", "--authenv-http"]
        )
        memory = MemoryReactorClock()
        top = tap.makeService(options, reactor=memory)
        top.startService()
        self.assertEqual([iface for _, _, _, iface in memory.tcpServers], ["127.0.0.1", "127.0.0.1", "::1"])
        door = [s for s in top if isinstance(s, HttpFrontDoor)][0]
        self.assertTrue(door.policy.unauthReadOnly and door.policy.authenvHttp)
        self.assertFalse(door.policy.wideopen)
        self.assertRaises(UsageError, tap.Options().parseOptions, ["--repo", path, "--wideopen"])

    def test_directory_options(self):
        """
        --directory is annex+http only, instead of --repo; its service tree
        is the door on a Directory (no core until a request needs one).
        """
        from twisted.python.usage import UsageError

        from annexrelay.directory.cores import Directory
        from annexrelay.frontdoor.http.door import HttpFrontDoor

        path = self.makeRepo()
        d = os.path.abspath(self.mktemp())
        os.makedirs(d)
        http = ["--p2phttp", "tcp:0:interface=127.0.0.1"]
        for args, why in (
            (["--directory", d, "--repo", path] + http, "exclusive"),
            (["--directory", d], "needs --p2phttp"),
            (["--directory", d, "--listen", "tcp:0"] + http, "does not go with --directory"),
            (["--directory", d, "--onion-local-only"] + http, "does not go with --directory"),
            (["--directory", os.path.join(d, "nope")] + http, "is not a directory"),
            ([], "--repo (or --directory) is required"),
        ):
            e = self.assertRaises(UsageError, tap.Options().parseOptions, args)
            self.assertIn(why, str(e))
        options = tap.Options()
        options.parseOptions(["--directory", d, "--metrics", "tcp:0:interface=127.0.0.1"] + http)
        self.assertEqual(options["listen"], [])
        memory = MemoryReactorClock()
        top = tap.makeService(options, reactor=memory)
        door = [s for s in top if isinstance(s, HttpFrontDoor)][0]
        self.assertIsInstance(door.cores, Directory)
        self.assertIs(door.core, door.cores)
        self.assertIsNotNone(door.cores.metrics)
        self.assertTrue(door.scoped)
        self.assertEqual(top.directory.cores, {})
        top.startService()
        self.assertEqual([iface for _, _, _, iface in memory.tcpServers], ["127.0.0.1", "127.0.0.1"])
        top.stopService()

    def test_trusted_user_header(self):
        """
        --trusted-user-header NAME=ENDPOINT names one of the --p2phttp
        endpoints exactly; each listener's factory carries its endpoint,
        and the door's sign-on knows which one trusts the header.
        """
        from twisted.python.usage import UsageError

        from annexrelay.frontdoor.http.door import HttpFrontDoor

        path = self.makeRepo()
        sock = os.path.join(os.path.abspath(self.mktemp()), "forge.sock")
        unix, tcp = "unix:%s:mode=600" % (sock,), "tcp:0:interface=127.0.0.1"
        base = ["--repo", path, "--listen", "tcp:0:interface=127.0.0.1", "--p2phttp", unix, "--p2phttp", tcp]
        for bad, why in (
            (["--trusted-user-header", "X-Forge-User=unix:%s" % (sock,)], "is not one of the --p2phttp endpoints"),
            (["--trusted-user-header", "X-Forge-User"], "takes NAME=ENDPOINT"),
            (["--trusted-user-header", "X Forge=" + tcp], "takes NAME=ENDPOINT"),
            (["--trusted-user-header", "A=" + tcp, "--trusted-user-header", "B=" + tcp], "is named twice"),
        ):
            e = self.assertRaises(UsageError, tap.Options().parseOptions, base + bad)
            self.assertIn(why, str(e))
        options = tap.Options()
        options.parseOptions(base + ["--trusted-user-header", "X-Forge-User=" + unix])
        memory = MemoryReactorClock()
        top = tap.makeService(options, reactor=memory)
        top.startService()
        door = [s for s in top if isinstance(s, HttpFrontDoor)][0]
        self.assertEqual(door.access.trusted, {unix: b"x-forge-user"})
        self.assertEqual([s[1].listener for s in memory.unixServers], [unix])
        self.assertEqual([f.listener for _, f, _, _ in memory.tcpServers[1:]], [tcp])
        self.assertTrue(door.access.store.path.endswith(os.path.join(".git", "annex", "annexrelay", "users")))
        top.stopService()


class QuotaOptionTests(unittest.TestCase):
    """
    C{--quota REPO=SIZE}: REPO resolved against --repo or --directory, the
    size read as git-annex reads it, mistakes refused with why.
    """

    def test_repo(self):
        from twisted.python.usage import UsageError

        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        options = tap.Options()
        options.parseOptions(["--repo", path, "--quota", ".=1.5 GiB"])
        self.assertEqual(options["quotas"], {os.path.realpath(path): 1610612736})
        options = tap.Options()
        options.parseOptions(["--repo", path, "--quota", path + "=50GB"])
        self.assertEqual(options["quotas"], {os.path.realpath(path): 50 * 10**9})
        e = self.assertRaises(UsageError, tap.Options().parseOptions, ["--repo", path, "--quota", "/elsewhere=1GB"])
        self.assertIn("this daemon serves", str(e))
        e = self.assertRaises(UsageError, tap.Options().parseOptions, ["--repo", path, "--quota", ".=lots"])
        self.assertIn("not a size", str(e))

    def test_directory(self):
        from twisted.python.usage import UsageError

        d = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(d, "lab", "photos"))
        options = tap.Options()
        options.parseOptions(["--directory", d, "--p2phttp", "tcp:0", "--quota", "lab/photos=100 megabytes", "--quota", "lab=1kB"])
        self.assertEqual(
            options["quotas"], {os.path.realpath(os.path.join(d, "lab", "photos")): 10**8, os.path.realpath(os.path.join(d, "lab")): 1000}
        )
        e = self.assertRaises(UsageError, tap.Options().parseOptions, ["--directory", d, "--p2phttp", "tcp:0", "--quota", "../x=1GB"])
        self.assertIn("not under --directory", str(e))
