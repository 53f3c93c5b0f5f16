"""
annexrelay's annex+http door and C{git annex p2phttp -J8} side by side,
each on its own copy of the same setup (a proxy repository with proxied
remotes n1 and n2), under the same seeded load: raw HTTP clients at once
(small objects and 32 MiB ones, put then get, some cut off at a random
byte then resumed or read again) and four real C{git annex copy -J8}
clients.  Each server has a bounded time; then every object must be
intact on its node (checksummed on the get and on the node) and recorded
exactly once in the proxy's location log (read through
L{annexrelay.branch.reader.BranchReader}: the branch and the journal).

annexrelay must pass.  git-annex's server is measured the same way and
its result logged (and the test's log line names both); a p2phttp that
wedges is killed at its deadline and reported, not failed.

Sizes (CI defaults; the full run, ANNEXRELAY_SIDEBYSIDE=full, is 100
clients with 20 objects of 32 MiB, 8 files a git client and a 600 s
deadline):
  ANNEXRELAY_SIDEBYSIDE_CLIENTS (100), ANNEXRELAY_SIDEBYSIDE_BIG (2),
  ANNEXRELAY_SIDEBYSIDE_FILES (6), ANNEXRELAY_SIDEBYSIDE_DEADLINE (40 s);
  ANNEXRELAY_SIDEBYSIDE_JOBS (8) is p2phttp's -J (forges run -J2).
"""

import hashlib
import os
import random
import subprocess
import time

from twisted.internet import defer, reactor, task
from twisted.logger import Logger
from twisted.trial import unittest

from annexrelay.branch import locationlog
from annexrelay.branch.reader import BranchReader
from annexrelay.testing import httpload
from annexrelay.testing.lab import Setup
from annexrelay.testing.ports import free_port, wait_listening
from tests.interop.test_interop import _have_git_annex

log = Logger()
MIB = 1 << 20
FULL = {"CLIENTS": 100, "BIG": 20, "FILES": 8, "DEADLINE": 600, "JOBS": 8}
CI = {"CLIENTS": 100, "BIG": 2, "FILES": 6, "DEADLINE": 40, "JOBS": 8}


def size(name):
    default = (FULL if os.environ.get("ANNEXRELAY_SIDEBYSIDE") == "full" else CI)[name]
    return int(os.environ.get("ANNEXRELAY_SIDEBYSIDE_" + name, default))


class Side:
    """
    One server on its own setup, and the load it gets.
    """

    def __init__(self, name, base):
        self.name = name
        self.s = Setup(base, nodes=2)
        self.uuids = {n: self.s.uuidOf(p) for n, p in self.s.nodes.items()}
        self.port = free_port()
        self.proc = None
        self.clients = []
        self.result = {"server": name}

    def start(self):
        s = self.s
        if self.name == "annexrelay":
            self.proc = s.startDaemon(["--commit-delay", "0.2", "--wideopen", "--p2phttp", "tcp:%d:interface=127.0.0.1" % (self.port,)])
        else:
            out = open(os.path.join(s.base, "p2phttp.log"), "ab")
            self.proc = subprocess.Popen(
                ["git", "annex", "p2phttp", "-J%d" % (size("JOBS"),), "--wideopen", "--bind", "127.0.0.1", "--port", str(self.port)],
                cwd=s.proxy, env=s.env, stdout=out, stderr=subprocess.STDOUT,
            )
            out.close()
        wait_listening(self.port, self.proc, 60)

    def makeClients(self, count, files, seed):
        rng = random.Random(seed)
        for i in range(count):
            c = self.s.makeClient("client%d" % i)
            self.s.git("config", "remote.origin.annexUrl", "annex+http://127.0.0.1:%d/git-annex/" % (self.port,), cwd=c)
            self.s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=c)
            os.makedirs(os.path.join(c, "d"))
            for j in range(files):
                with open(os.path.join(c, "d", "f%d" % j), "wb") as f:
                    f.write(random.Random(rng.random()).randbytes(rng.randrange(1024, 512 * 1024)))
            self.s.git("annex", "add", "-q", "d", cwd=c)
            self.s.git("commit", "-q", "-m", "d", cwd=c)
            keys = self.s.git("annex", "find", "--format=${key}\\n", "d", cwd=c).split()
            self.clients.append((c, keys))

    async def load(self, blobs, seed, deadline):
        """
        All clients at once, for at most C{deadline} seconds.
        """
        http = httpload.Client(reactor, self.port)
        targets = [self.uuids["n1"], self.uuids["n2"]]
        ds = []
        for i, blob in enumerate(blobs):
            d = defer.ensureDeferred(httpload.exercise(http, targets[i % 2], blob, random.Random(seed + i)))
            ds.append(d.addErrback(lambda f: "failed: %s" % (f.getErrorMessage()[:200],)))
        runs = []
        for c, _ in self.clients:
            run = httpload.Run()
            reactor.spawnProcess(run, "git", ["git", "annex", "copy", "-J8", "--to", "origin-n1", "d"], env=self.s.env, path=c)
            runs.append(run)
            ds.append(run.ended.addCallback(lambda code, run=run: "ok" if code == 0 else "git exited %s: %s" % (
                code, bytes(run.output[-300:]).decode("utf-8", "replace"))))
        started = time.monotonic()

        def expire():
            self.result["wedged"] = True
            for d in ds:
                d.cancel()
            for run in runs:
                run.kill()

        timer = reactor.callLater(deadline, expire)
        outcomes = await defer.DeferredList(ds, consumeErrors=True)
        if timer.active():
            timer.cancel()
        await http.close()
        self.result["seconds"] = round(time.monotonic() - started, 1)
        self.result["wedged"] = self.result.get("wedged", False)
        outcomes = [value if ok else "cancelled at the deadline" for ok, value in outcomes]
        self.result["ok"] = outcomes.count("ok")
        self.result["of"] = len(outcomes)
        self.result["problems"] = sorted(set(o for o in outcomes if o != "ok"))[:5]

    async def stop(self):
        """
        SIGTERM, then at most 30 s; a server that does not exit is killed.
        """
        self.proc.terminate()
        for _ in range(600):
            if self.proc.poll() is not None:
                return
            await task.deferLater(reactor, 0.05, lambda: None)
        self.result["killed at stop"] = True
        self.proc.kill()
        self.proc.wait()

    async def check(self, blobs):
        """
        Every object on its node with the right content, and recorded once
        (present) for that node in the proxy's location log.
        """
        wanted = {}
        for i, blob in enumerate(blobs):
            wanted.setdefault(("n1", "n2")[i % 2], []).append(blob.key)
        for _, keys in self.clients:
            wanted.setdefault("n1", []).extend(keys)
        reader = BranchReader(reactor, self.s.proxy, os.path.join(self.s.proxy, ".git"))
        bad = []
        try:
            for node, keys in sorted(wanted.items()):
                uuid = self.uuids[node].encode()
                paths = {k: locationlog.log_path(k.encode()) for k in keys}
                logs = await reader.read(list(paths.values()))
                for k, path in paths.items():
                    mine = [e for e in locationlog.parse(logs[path]) if e.uuid == uuid]
                    if [e.status for e in mine] != [b"1"]:
                        bad.append("%s on %s: log %r" % (k[:20], node, [e.line for e in mine]))
                bad.extend(self.badContent(node, keys))
        finally:
            await reader.close()
        self.result["objects"] = sum(len(k) for k in wanted.values())
        self.result["bad objects"] = len(bad)
        self.result["first bad"] = bad[:3]

    def badContent(self, node, keys):
        out = subprocess.run(
            ["git", "annex", "contentlocation"] + keys, cwd=self.s.nodes[node], env=self.s.env, stdout=subprocess.PIPE,
        ).stdout.decode().split("\n")
        bad = []
        for k, path in zip(keys, out):
            h = hashlib.sha256()
            try:
                with open(os.path.join(self.s.nodes[node], path), "rb") as f:
                    for chunk in iter(lambda: f.read(MIB), b""):
                        h.update(chunk)
            except OSError:
                bad.append("%s missing on %s" % (k[:20], node))
                continue
            if not k.split("--")[1].startswith(h.hexdigest()):
                bad.append("%s corrupt on %s" % (k[:20], node))
        return bad


class SideBySideTests(unittest.TestCase):
    if not _have_git_annex():
        skip = "git-annex must be on PATH (./dev test installs it)"
    timeout = 600

    async def side(self, name, blobs, seed):
        side = Side(name, os.path.join(self.base, name))
        side.makeClients(4, size("FILES"), seed)
        side.start()
        self.addCleanup(lambda: side.proc.poll() is None and (side.proc.kill(), side.proc.wait()))
        await side.load(blobs, seed, size("DEADLINE"))
        await side.stop()
        await side.check(blobs)
        log.info("side by side: {result}", result=side.result)
        return side.result

    @defer.inlineCallbacks
    def test_hundred_clients_and_four_git_clients(self):
        self.base = os.path.abspath(self.mktemp())
        seed = int(os.environ.get("ANNEXRELAY_SIDEBYSIDE_SEED", "17"))
        rng = random.Random(seed)
        count, big = size("CLIENTS"), size("BIG")
        blobs = [httpload.Blob(seed * 1000 + i, 32 * MIB if i < big else rng.randrange(1, 256 * 1024)) for i in range(count)]
        rng.shuffle(blobs)
        ours = yield defer.ensureDeferred(self.side("annexrelay", blobs, seed))
        theirs = yield defer.ensureDeferred(self.side("p2phttp", blobs, seed))
        summary = "annexrelay %r; git annex p2phttp -J%d %r" % (ours, size("JOBS"), theirs)
        log.info("side by side: {summary}", summary=summary)
        with open(os.path.join(self.base, "summary.txt"), "w") as f:
            f.write(summary + "\n")
        self.assertFalse(ours["wedged"], summary)
        self.assertEqual((ours["ok"], ours["bad objects"]), (ours["of"], 0), summary)
        self.assertNotIn("killed at stop", ours, summary)
