"""
Load: many real git-annex clients at once through one daemon.

N clients (default 32) each copy their own files with `git annex copy --to`
at the same time, half to a proxied remote and half to a cluster of two
nodes; one client in four copies one large file (default 50 MB), the others
a batch of small files.  Before that, one client of each kind runs alone
(its solo time).  It then checks that every object is intact on every node
that should hold it (`git annex fsck --from`) and recorded exactly once per
node in the proxy's location log, and prints:

  - each kind's solo time, and its times under load: median, slowest, and
    slowest/solo and slowest/median (fairness: no client starved);
  - the daemon's peak RSS over the run.

Usage: ./dev bench load [--clients 32] [--big-mb 50] [--small-count 20] [--small-kib 4]
                        [--shell git-annex-shell]   (the same load through git-annex's proxy)

On 2 shared cores, N clients cannot each run at their solo speed: the
client processes alone share the cores N ways.  Read slowest/median for
fairness and the RSS for memory; slowest/solo says how much the load costs.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from annexrelay.testing.lab import Setup  # noqa: E402
from annexrelay.testing.measure import proc_cpu  # noqa: E402


def run(cmd, cwd, env):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise RuntimeError("%s failed in %s:\n%s" % (" ".join(cmd), cwd, p.stdout.decode("utf-8", "replace")[-3000:]))
    return p.stdout.decode("utf-8", "replace")


class Client:
    def __init__(self, s, index, big, args):
        self.s = s
        self.name = "client%02d" % index
        self.big = big
        self.remote = "origin-n1" if index % 2 == 0 else "origin-c1"
        self.path = s.makeClient(self.name)
        run(["git", "annex", "pull", "-q", "--no-content", "origin"], self.path, s.env)
        self.files = []
        if big:
            self.add("big.bin", os.urandom(args.big_mb * 1000 * 1000))
        else:
            for i in range(args.small_count):
                self.add("small%03d.bin" % i, os.urandom(args.small_kib * 1024))
        run(["git", "commit", "-q", "-m", "files"], self.path, s.env)
        self.keys = [run(["git", "annex", "lookupkey", f], self.path, s.env).strip() for f in self.files]
        self.seconds = None

    def add(self, name, content):
        with open(os.path.join(self.path, name), "wb") as f:
            f.write(content)
        run(["git", "annex", "add", "-q", name], self.path, self.s.env)
        self.files.append(name)

    def copy(self):
        started = time.monotonic()
        run(["git", "annex", "copy", "-q", "--to", self.remote] + self.files, self.path, self.s.env)
        self.seconds = time.monotonic() - started

    def drop(self):
        run(["git", "annex", "drop", "-q", "--force", "--from", self.remote] + self.files, self.path, self.s.env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--big-mb", type=int, default=50)
    ap.add_argument("--small-count", type=int, default=20)
    ap.add_argument("--small-kib", type=int, default=4)
    ap.add_argument("--shell", default="annexrelay-shell", help="what the clients' ssh runs: annexrelay-shell, or git-annex-shell to measure git-annex's own proxy and gateway under the same load")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="annexrelay-load-bench-")
    s = Setup(base, nodes=3, env={"FAKE_SSH_SHELL": args.shell})
    s.makeCluster("c1", ["n2", "n3"])
    daemon = s.startDaemon(["--commit-delay", "1"])
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            r = proc_cpu(daemon.pid)
            if r is not None:
                peak[0] = max(peak[0], r[1])
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        say = sys.stdout.write
        say(
            "load benchmark through %s in %s: %d clients (1 in 4 with one %d MB file, the others %d x %d KiB)\n"
            % (args.shell, base, args.clients, args.big_mb, args.small_count, args.small_kib)
        )
        clients = [Client(s, i, i % 4 == 0, args) for i in range(args.clients)]
        solo = {}
        for kind, probe in (("big", clients[0]), ("small", clients[1])):
            probe.copy()
            solo[kind] = probe.seconds
            probe.drop()
        threads = [threading.Thread(target=c.copy) for c in clients]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = time.monotonic() - started
        failures = [c.name for c in clients if c.seconds is None]
        if failures:
            raise RuntimeError("copies failed: %s" % failures)
        # Every object intact where it should be, and recorded once.
        for c in clients:
            run(["git", "annex", "fsck", "-q", "--from", c.remote] + c.files, c.path, s.env)
        uuids = {"origin-n1": [s.uuidOf(s.nodes["n1"])], "origin-c1": [s.uuidOf(s.nodes["n2"]), s.uuidOf(s.nodes["n3"])]}

        def notOnce():
            bad = 0
            for c in clients:
                for k in c.keys:
                    p = run(["git", "annex", "examinekey", "--format=${hashdirlower}${key}.log", k], s.proxy, s.env).strip()
                    got = subprocess.run(["git", "cat-file", "-p", "refs/heads/git-annex:" + p], cwd=s.proxy, env=s.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                    lines = got.stdout.decode().splitlines()
                    bad += sum(1 for u in uuids[c.remote] if sum(1 for line in lines if line.endswith(" 1 " + u)) != 1)
            return bad

        # The daemon commits its records within its commit delay: wait for
        # the branch, bounded.
        deadline = time.monotonic() + 60
        twice = notOnce()
        while twice and time.monotonic() < deadline:
            time.sleep(0.5)
            twice = notOnce()
        say("\nall %d copies ok in %.1fs; fsck --from clean; location log records not exactly once: %d\n\n" % (len(clients), total, twice))
        say("%-6s %8s %8s %8s %12s %14s\n" % ("kind", "solo", "median", "slowest", "slowest/solo", "slowest/median"))
        for kind in ("big", "small"):
            times = [c.seconds for c in clients if (c.big if kind == "big" else not c.big)]
            med, worst = statistics.median(times), max(times)
            say("%-6s %7.2fs %7.2fs %7.2fs %12.2f %14.2f\n" % (kind, solo[kind], med, worst, worst / solo[kind], worst / med))
        if args.shell == "annexrelay-shell":
            say("\ndaemon peak RSS: %.1f MiB\n" % (peak[0] / 1024.0,))
    finally:
        stop.set()
        daemon.terminate()
        daemon.wait()
        if not args.keep:
            subprocess.run(["chmod", "-R", "u+w", base])
            subprocess.run(["rm", "-rf", base], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
