"""
Benchmark: the real git-annex client storing to and reading from a cluster
of 3 nodes through

  (a) a direct git-annex-shell p2pstdio on one node (the baseline: one copy),
  (b) git-annex's own cluster gateway (git-annex-shell on the proxy),
  (c) annexrelay as the gateway (annexrelay-shell handing sessions to the
      running daemon),

in one run, on one machine, interleaved.  Printed per scenario: wall
times, the gateway side's CPU seconds and peak RSS (b: the gateway's
git-annex-shell process; c: the daemon plus annexrelay-shell; node
processes are not counted for either), and the ratios c/a and c/b.

--big-mib 0 leaves the big object out.  c/a and c/b are the medians of
the ratios taken run by run; the target of issue 18 is checked: small-file
copy c/b <= 0.5.

Usage: ./dev bench cluster [--big-mib 512] [--small-count 1000] [--small-kib 4] [--repeat 3] [--local-store]

Machines are shared and noisy: read the ratios, not the absolute times.
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from annexrelay.testing.lab import Setup  # noqa: E402
from annexrelay.testing.measure import ThreeWay, fmt, scenario_arguments  # noqa: E402


class ClusterBench(ThreeWay):
    def __init__(self, base, args):
        s = Setup(base, nodes=3, bare=args.local_store)
        s.makeCluster("c1", ["n1", "n2", "n3"])
        extra = ["--local-store"] if args.local_store else []
        daemon = s.startDaemon(["--idle-timeout", "30"] + extra + os.environ.get("BENCH_DAEMON_ARGS", "").split())
        client = s.makeClient()
        node = s.nodes["n1"]
        s.git("remote", "add", "direct", "localhost:" + node, cwd=client)
        s.git("config", "remote.direct.annex-uuid", s.uuidOf(node), cwd=client)
        targets = {"a": ("direct", "git-annex-shell"), "b": ("origin-c1", "git-annex-shell"), "c": ("origin-c1", "annexrelay-shell")}
        ThreeWay.__init__(self, s, daemon, client, targets, args)

    def check_stored(self, paths, everywhere):
        """
        After a copy to the cluster, every node must hold the content (so
        a fast run is not a run that skipped work).
        """
        keys = self.s.git("annex", "find", "--format=${key}\n", *paths, cwd=self.client).split()
        for name, node in self.s.nodes.items():
            if not everywhere and name != "n1":
                continue
            missing = subprocess.run(
                ["git", "annex", "contentlocation"] + keys[:1] + keys[-1:],
                cwd=node,
                env=self.s.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ).returncode
            if missing:
                raise RuntimeError("node %s lacks content after the copy" % (name,))

    def drop_everywhere(self, paths):
        """
        Before a copy: the content is on no node (dropped through
        annexrelay, which removes from all nodes and records it).
        """

        def prepare(which):
            self.run(["git", "annex", "drop", "--force", "--from", "origin-c1"] + paths, "annexrelay-shell")
            self.run(["git", "annex", "drop", "--force", "--from", "direct"] + paths, "git-annex-shell")

        return prepare

    def drop_here(self, paths):
        """
        Before a get: the content is in the cluster (and on n1), not here.
        """

        def prepare(which):
            self.run(["git", "annex", "copy", "--to", "origin-c1"] + paths, "annexrelay-shell")
            self.run(["git", "annex", "drop", "--force"] + paths, "annexrelay-shell")

        return prepare


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scenario_arguments(ap)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="annexrelay-cluster-bench-")
    out = sys.stdout
    out.write(
        "annexrelay cluster benchmark in %s: 3 nodes; big object %d MiB, %d small files of %d KiB, median of %d runs%s\n"
        % (base, args.big_mib, args.small_count, args.small_kib, args.repeat, ", --local-store" if args.local_store else "")
    )
    b = ClusterBench(base, args)
    try:
        b.make_files()
        big, small = ["big.bin"], ["small"]
        scenarios = []
        if args.big_mib:
            scenarios.append(
                b.scenario(
                    "big object: copy --to",
                    big,
                    b.drop_everywhere(big),
                    ["git", "annex", "copy", "--to", "REMOTE"] + big,
                    lambda w: b.check_stored(big, w != "a"),
                )
            )
        scenarios.append(
            b.scenario(
                "small files: copy --to",
                small,
                b.drop_everywhere(small),
                ["git", "annex", "copy", "--to", "REMOTE"] + small,
                lambda w: b.check_stored(small, w != "a"),
            )
        )
        if args.big_mib:
            scenarios.append(
                b.scenario("big object: get --from", big, b.drop_here(big), ["git", "annex", "get", "--from", "REMOTE"] + big)
            )
        scenarios.append(
            b.scenario("small files: get --from", small, b.drop_here(small), ["git", "annex", "get", "--from", "REMOTE"] + small)
        )
    finally:
        b.close()
    out.write(
        "\n%-26s %9s %9s %9s | %8s %8s | %8s %8s | %6s %6s\n"
        % ("scenario", "a wall", "b wall", "c wall", "b cpu", "c cpu", "b rss", "c rss", "c/a", "c/b")
    )
    for name, r in scenarios:
        (aw, _, _), (bw, bc, br), (cw, cc, cr) = r["a"], r["b"], r["c"]
        ca, cb = r["ratios"]
        cpu = ""
        if bc and cc is not None:
            cpu = "  (cpu c/b %.2f)" % (cc / bc)
        out.write(
            "%-26s %8.2fs %8.2fs %8.2fs | %8s %8s | %7.1fM %7.1fM | %6.2f %6.2f%s\n"
            % (name, aw, bw, cw, fmt(bc, "s"), fmt(cc, "s"), (br or 0) / 1024, (cr or 0) / 1024, ca, cb, cpu)
        )
    for name, r in scenarios:
        if name == "small files: copy --to":
            got = r["ratios"][1]
            out.write("\ntarget (issue 18): %s c/b %.2f (target <= 0.50: %s)\n" % (name, got, "met" if got <= 0.5 else "missed"))
    out.write("\na = one direct copy to one node; b = git-annex's gateway; c = annexrelay (gateway CPU only, not nodes)\n")
    out.write("daemon peak RSS over the whole run: %.1f MiB\n" % (b.peak / 1024))
    if not args.keep:
        subprocess.run(["rm", "-rf", base])


if __name__ == "__main__":
    main()
