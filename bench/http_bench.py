"""
annex+http against git-annex's own server: the real git-annex client
through C{annexUrl} to (a) C{git annex p2phttp -J8}, (b) C{git annex
p2phttp -J2} (how forges run it, one process per repository) and (c)
annexrelay's C{--p2phttp}, all serving the same proxy repository (a
proxied remote n1 and a cluster c1 of n1..n3), interleaved, C{--repeat}
times; medians and the ratios c/a and c/b (below 1: faster than
git-annex), each server process's own CPU seconds in each scenario (not
its nodes'), and each server's peak RSS over the run.

Scenarios (the targets of issue 17 in brackets): get of one big object
[c/a <= 0.8], copy of many small files [<= 0.7], 8 clients copying at once
[<= 0.5], a cluster of 3 nodes, 1 MiB files copied [<= 0.5].

Usage: ./dev bench http [--big-mib 256] [--small-count 300] [--small-kib 4]
       [--clients 8] [--cluster-count 100] [--repeat 3] [--keep] [--metrics]

With --metrics the daemon also serves --metrics and is scraped once a
second: the ratio of its c/a to a run's without is what metrics cost.
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
from annexrelay.testing.measure import PeakRSS, proc_cpu  # noqa: E402
from annexrelay.testing.ports import free_port, wait_listening  # noqa: E402


class Scraper(threading.Thread):
    """
    With C{--metrics}: what a Prometheus server and an open status page
    ask of the daemon, once a second each (/metrics, /status.json).
    """

    def __init__(self, port):
        threading.Thread.__init__(self, daemon=True)
        self.port = port
        self.scrapes = 0
        self.stop = threading.Event()

    def run(self):
        import urllib.request

        while not self.stop.is_set():
            for path in ("/metrics", "/status.json"):
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=10) as r:
                    r.read()
            self.scrapes += 1
            self.stop.wait(1.0)


class HttpBench:
    def __init__(self, base, args):
        self.args = args
        s = self.s = Setup(base, nodes=3)
        s.makeCluster("c1", ["n1", "n2", "n3"])
        self.ports = {"a": free_port(), "b": free_port(), "c": free_port()}
        log = open(os.path.join(base, "p2phttp.log"), "ab")
        self.servers = {}
        for which, jobs in (("a", "-J8"), ("b", "-J2")):
            p = subprocess.Popen(
                ["git-annex", "p2phttp", jobs, "--wideopen", "--bind", "127.0.0.1", "--port", str(self.ports[which])],
                cwd=s.proxy, env=s.env, stdout=log, stderr=subprocess.STDOUT,
            )
            self.servers[which] = p
        extra = []
        if args.metrics:
            self.metricsPort = free_port()
            extra = ["--metrics", "tcp:%d:interface=127.0.0.1" % (self.metricsPort,)]
        self.servers["c"] = s.startDaemon(
            ["--wideopen", "--p2phttp", "tcp:%d:interface=127.0.0.1" % (self.ports["c"],), "--idle-timeout", "60"] + extra
        )
        self.scraper = None
        if args.metrics:
            wait_listening(self.metricsPort, self.servers["c"], 60)
            self.scraper = Scraper(self.metricsPort)
            self.scraper.start()
        for which, p in self.servers.items():
            wait_listening(self.ports[which], p, 60)
        self.rss = {w: PeakRSS(p.pid) for w, p in self.servers.items()}
        for r in self.rss.values():
            r.start()
        self.clients = [s.makeClient("client%d" % i) for i in range(max(1, args.clients))]
        for c in self.clients:
            s.git("config", "annex.security.allowed-ip-addresses", "127.0.0.1", cwd=c)

    def use(self, client, which):
        self.s.git("config", "remote.origin.annexUrl", "annex+http://127.0.0.1:%d/git-annex/" % (self.ports[which],), cwd=client)

    def annex(self, client, *args):
        p = subprocess.run(["git", "annex"] + list(args), cwd=client, env=self.s.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise RuntimeError("git annex %s failed:\n%s" % (" ".join(args), p.stdout.decode("utf-8", "replace")[-3000:]))

    def files(self, client, folder, count, size):
        path = os.path.join(client, folder)
        os.makedirs(path, exist_ok=True)
        for i in range(count):
            with open(os.path.join(path, "f%05d" % i), "wb") as f:
                f.write(os.urandom(size))
        self.s.git("annex", "add", "-q", folder, cwd=client)
        self.s.git("commit", "-q", "-m", folder, cwd=client)

    def timed(self, prepare, run):
        runs = {w: [] for w in "abc"}
        cpu = {w: [] for w in "abc"}
        for _ in range(self.args.repeat):
            for which in "abc":
                prepare(which)
                c0 = (proc_cpu(self.servers[which].pid) or (0, 0))[0]
                t0 = time.monotonic()
                run(which)
                runs[which].append(time.monotonic() - t0)
                cpu[which].append((proc_cpu(self.servers[which].pid) or (0, 0))[0] - c0)
        result = {w: statistics.median(v) for w, v in runs.items()}
        # The server process's own CPU seconds (not its nodes'), median.
        result.update({w + "cpu": statistics.median(v) for w, v in cpu.items()})
        return result

    def big_get(self):
        c = self.clients[0]
        with open(os.path.join(c, "big.bin"), "wb") as f:
            for _ in range(self.args.big_mib):
                f.write(os.urandom(1 << 20))
        self.s.git("annex", "add", "-q", "big.bin", cwd=c)
        self.s.git("commit", "-q", "-m", "big", cwd=c)
        self.use(c, "c")
        self.annex(c, "copy", "--to", "origin-n1", "big.bin")

        def prepare(which):
            self.annex(c, "drop", "--force", "big.bin")
            self.use(c, which)

        return self.timed(prepare, lambda w: self.annex(c, "get", "--from", "origin-n1", "big.bin"))

    def small_copy(self):
        c = self.clients[0]
        self.files(c, "small", self.args.small_count, self.args.small_kib * 1024)

        def prepare(which):
            self.use(c, "c")
            self.annex(c, "drop", "--force", "--from", "origin-n1", "small")
            self.use(c, which)

        return self.timed(prepare, lambda w: self.annex(c, "copy", "--to", "origin-n1", "small"))

    def concurrent_copy(self):
        for i, c in enumerate(self.clients):
            self.files(c, "mine", 20, 256 * 1024)

        def prepare(which):
            for c in self.clients:
                self.use(c, "c")
                self.annex(c, "drop", "--force", "--from", "origin-n1", "mine")
                self.use(c, which)

        def run(which):
            threads = [threading.Thread(target=self.annex, args=(c, "copy", "--to", "origin-n1", "mine")) for c in self.clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        return self.timed(prepare, run)

    def cluster_copy(self):
        c = self.clients[0]
        self.files(c, "mib", self.args.cluster_count, 1 << 20)

        def prepare(which):
            self.use(c, "c")
            self.annex(c, "drop", "--force", "--from", "origin-c1", "mib")
            self.use(c, which)

        return self.timed(prepare, lambda w: self.annex(c, "copy", "--to", "origin-c1", "mib"))

    def close(self):
        if self.scraper is not None:
            self.scraper.stop.set()
        for r in self.rss.values():
            r.stop.set()
        for p in self.servers.values():
            p.terminate()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--small-count", type=int, default=300)
    ap.add_argument("--small-kib", type=int, default=4)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--cluster-count", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--metrics", action="store_true",
                    help="annexrelay with --metrics, scraped (/metrics and /status.json) once a second: compare its c/a with a run without")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="annexrelay-http-bench-")
    out = sys.stdout
    out.write("annexrelay annex+http benchmark in %s (median of %d)%s\n" % (
        base, args.repeat, ", annexrelay with --metrics scraped once a second" if args.metrics else ""))
    b = HttpBench(base, args)
    rows = []
    try:
        for name, fn in (
            ("get %d MiB" % args.big_mib, b.big_get),
            ("copy %d x %d KiB" % (args.small_count, args.small_kib), b.small_copy),
            ("%d clients copy 20 x 256 KiB" % args.clients, b.concurrent_copy),
            ("cluster: copy %d x 1 MiB" % args.cluster_count, b.cluster_copy),
        ):
            rows.append((name, fn()))
            out.write("  done: %s\n" % (name,))
            out.flush()
    finally:
        b.close()
    out.write("\n%-30s %9s %9s %9s | %6s %6s | %s\n" % ("scenario", "a -J8", "b -J2", "c relay", "c/a", "c/b", "server CPU s a/b/c"))
    for name, r in rows:
        out.write("%-30s %8.2fs %8.2fs %8.2fs | %6.2f %6.2f | %.2f/%.2f/%.2f\n" % (
            name, r["a"], r["b"], r["c"], r["c"] / r["a"], r["c"] / r["b"], r["acpu"], r["bcpu"], r["ccpu"]))
    out.write("\npeak RSS: git annex p2phttp -J8 %.1f MiB, -J2 %.1f MiB, annexrelay daemon %.1f MiB\n" % tuple(
        b.rss[w].peak / 1024 for w in "abc"))
    if b.scraper is not None:
        out.write("--metrics: %d scrapes of /metrics and /status.json during the run\n" % (b.scraper.scrapes,))
    if not args.keep:
        subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    main()
