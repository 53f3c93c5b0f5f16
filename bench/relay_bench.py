"""
Benchmark: the real git-annex client moving content through

  (a) a direct git-annex-shell p2pstdio on the node,
  (b) git-annex's own proxy (git-annex-shell on the proxy repository),
  (c) annexrelay (annexrelay-shell handing sessions to the running daemon),

in one run, on one machine, side by side.  For each scenario it prints wall
time, and for the relay side (b: the proxying git-annex-shell process;
c: the daemon plus annexrelay-shell) CPU seconds and peak RSS, then the
ratios c/a and c/b.  It also times spawn-to-AUTH-SUCCESS of annexrelay-shell
(daemon running) against git-annex-shell.

A third scenario gets --one-file-gets files (20) with one git annex get
each, a new session every time (0 leaves it out); --big-mib 0 leaves the
big object out.  c/a and c/b are the medians of the ratios taken run by
run, and the targets of issue 18 are checked: small-file copy c/a <= 1.0,
one-file gets c/b <= 0.8; with --local-store (bare nodes that annexrelay
stores into itself), small-file copy c/b <= 0.8 too.

Usage: ./dev bench [--big-mib 512] [--small-count 1000] [--small-kib 4] [--repeat 3] [--one-file-gets 20] [--local-store]

Machines are shared and noisy: read the ratios, not the absolute times.
CPU of the proxying git-annex-shell in (b) is sampled from /proc every
10 ms, so its last ~10 ms may be missed; the daemon's CPU in (c) is read
exactly before and after.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from annexrelay.testing.lab import Setup  # noqa: E402
from annexrelay.testing.measure import ThreeWay, fmt, scenario_arguments  # noqa: E402

class Bench(ThreeWay):
    def __init__(self, base, args):
        s = Setup(base, nodes=1, bare=args.local_store)
        self.node = s.nodes["n1"]
        extra = ["--local-store"] if args.local_store else []
        daemon = s.startDaemon(["--idle-timeout", "30"] + extra + os.environ.get("BENCH_DAEMON_ARGS", "").split())
        client = s.makeClient()
        s.git("remote", "add", "direct", "localhost:" + self.node, cwd=client)
        s.git("config", "remote.direct.annex-uuid", s.uuidOf(self.node), cwd=client)
        targets = {"a": ("direct", "git-annex-shell"), "b": ("origin-n1", "git-annex-shell"), "c": ("origin-n1", "annexrelay-shell")}
        ThreeWay.__init__(self, s, daemon, client, targets, args)

    # Scenarios

    def drop_from_node(self, paths):
        def prepare(which):
            remote, shell = self.targets[which]
            self.run(["git", "annex", "drop", "--force", "--from", remote] + paths, shell)

        return prepare

    def drop_here_after_copy(self, paths):
        def prepare(which):
            remote, shell = self.targets[which]
            self.run(["git", "annex", "copy", "--to", remote] + paths, shell)
            self.run(["git", "annex", "drop", "--force"] + paths, shell)

        return prepare

    def spawn_times(self, n=15):
        n1 = self.s.uuidOf(self.node)
        cases = {
            "git-annex-shell (direct)": ["git-annex-shell", "p2pstdio", self.node, "bench"],
            "annexrelay-shell (daemon)": ["annexrelay-shell", "p2pstdio", self.s.proxy, "bench", "--uuid", n1],
        }
        out = {}
        for name, argv in cases.items():
            samples = []
            for _ in range(n):
                t0 = time.monotonic()
                p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.s.env)
                line = p.stdout.readline()
                samples.append(time.monotonic() - t0)
                p.stdin.close()
                p.wait()
                if not line.startswith(b"AUTH-SUCCESS"):
                    raise RuntimeError("%s said %r" % (name, line))
            out[name] = statistics.median(samples)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scenario_arguments(ap)
    ap.add_argument("--one-file-gets", type=int, default=20, help="files got one git annex get each (0: none)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="annexrelay-bench-")
    out = sys.stdout
    out.write(
        "annexrelay benchmark in %s (big object %d MiB, %d small files of %d KiB, median of %d runs%s)\n"
        % (base, args.big_mib, args.small_count, args.small_kib, args.repeat, ", --local-store" if args.local_store else "")
    )
    b = Bench(base, args)
    try:
        b.make_files()
        small = ["small"]
        scenarios = []
        if args.big_mib:
            scenarios += [
                b.scenario("big object: copy --to", ["big.bin"], b.drop_from_node(["big.bin"]), ["git", "annex", "copy", "--to", "REMOTE", "big.bin"]),
                b.scenario("big object: get --from", ["big.bin"], b.drop_here_after_copy(["big.bin"]), ["git", "annex", "get", "--from", "REMOTE", "big.bin"]),
            ]
        scenarios += [
            b.scenario("small files: copy --to", small, b.drop_from_node(small), ["git", "annex", "copy", "--to", "REMOTE"] + small),
            b.scenario("small files: get --from", small, b.drop_here_after_copy(small), ["git", "annex", "get", "--from", "REMOTE"] + small),
        ]
        if args.one_file_gets:
            few = ["small/f%05d" % i for i in range(min(args.one_file_gets, args.small_count))]
            loop = "for f in %s; do git annex get -q --from REMOTE \"$f\" || exit 1; done" % " ".join(few)
            scenarios.append(
                b.scenario("%d one-file gets" % len(few), few, b.drop_here_after_copy(few), ["sh", "-c", loop])
            )
        spawn = b.spawn_times()
    finally:
        b.close()
    out.write("\n%-26s %9s %9s %9s | %8s %8s | %8s %8s | %6s %6s\n" % (
        "scenario", "a wall", "b wall", "c wall", "b cpu", "c cpu", "b rss", "c rss", "c/a", "c/b"))
    for name, r in scenarios:
        (aw, _, _), (bw, bc, br), (cw, cc, cr) = r["a"], r["b"], r["c"]
        ca, cb = r["ratios"]
        out.write("%-26s %8.2fs %8.2fs %8.2fs | %8s %8s | %7.1fM %7.1fM | %6.2f %6.2f\n" % (
            name, aw, bw, cw, fmt(bc, "s"), fmt(cc, "s"), (br or 0) / 1024, (cr or 0) / 1024, ca, cb))
    targets = [("small files: copy --to", "c/a", 0, 1.0), ("one-file gets", "c/b", 1, 0.8)]
    if args.local_store:
        targets.append(("small files: copy --to", "c/b", 1, 0.8))
    out.write("\ntargets (issue 18):\n")
    for name, r in scenarios:
        for suffix, label, i, limit in targets:
            if name.endswith(suffix):
                got = r["ratios"][i]
                out.write("  %-26s %s %.2f (target <= %.2f: %s)\n" % (name, label, got, limit, "met" if got <= limit else "missed"))
    out.write("\nrelay side: b = the proxying git-annex-shell; c = annexrelay daemon + annexrelay-shell (own CPU, not node processes)\n")
    out.write("daemon peak RSS over the whole run: %.1f MiB\n" % (b.peak / 1024))
    out.write("\nspawn to AUTH-SUCCESS (median of 15):\n")
    for name, t in spawn.items():
        out.write("  %-28s %6.1f ms\n" % (name, t * 1000))
    ga = spawn["git-annex-shell (direct)"]
    out.write("  ratio annexrelay-shell / git-annex-shell: %.2f\n" % (spawn["annexrelay-shell (daemon)"] / ga))
    if not args.keep:
        subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    main()
