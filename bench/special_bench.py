"""
What proxying a special remote costs: the real git-annex client copies to a
directory special remote of the proxy repository through (b) git-annex's
own proxy and (c) annexrelay (which reaches it through git-annex's proxy
for it, one pooled process per session), and, for scale, through annexrelay
to a git node (d).  Prints wall times and the ratios c/b and c/d.

Usage: ./dev bench special [--big-mib 100] [--small-count 200] [--small-kib 4]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from annexrelay.testing.lab import Setup  # noqa: E402


def run(cmd, cwd, env):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), p.stdout.decode("utf-8", "replace")[-3000:]))
    return p.stdout.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-mib", type=int, default=100)
    ap.add_argument("--small-count", type=int, default=200)
    ap.add_argument("--small-kib", type=int, default=4)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="annexrelay-special-bench-")
    s = Setup(base, nodes=1)
    store = os.path.join(base, "sr-store")
    os.makedirs(store)
    run(["git", "annex", "initremote", "-q", "sr", "type=directory", "directory=" + store, "encryption=none"], s.proxy, s.env)
    run(["git", "config", "remote.sr.annex-proxy", "true"], s.proxy, s.env)
    run(["git", "annex", "updateproxy", "-q"], s.proxy, s.env)
    daemon = s.startDaemon()
    try:
        client = s.makeClient()
        run(["git", "annex", "pull", "-q", "--no-content", "origin"], client, s.env)
        out = run(["git", "annex", "verifyremote", "origin-sr"], client, s.env)
        confirm = re.search(r"(--safe \S+)", out)
        if confirm:
            run(["git", "annex", "verifyremote", "origin-sr"] + confirm.group(1).split(), client, s.env)
        # (see the README: the config section verifyremote writes hides the proxied remote)
        subprocess.run(["git", "config", "--remove-section", "remote.origin-sr"], cwd=client, env=s.env, stderr=subprocess.DEVNULL)
        small = []
        for i in range(args.small_count):
            name = "s%04d.bin" % i
            with open(os.path.join(client, name), "wb") as f:
                f.write(os.urandom(args.small_kib * 1024))
            small.append(name)
        with open(os.path.join(client, "big.bin"), "wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(1 << 20))
        run(["git", "annex", "add", "-q"] + small + ["big.bin"], client, s.env)
        run(["git", "commit", "-q", "-m", "files"], client, s.env)
        ways = {
            "b": ("origin-sr", "git-annex-shell"),
            "c": ("origin-sr", "annexrelay-shell"),
            "d": ("origin-n1", "annexrelay-shell"),
        }
        results = {}
        for label, files in (("big object", ["big.bin"]), ("small files", small)):
            for way, (remote, shell) in ways.items():
                env = dict(s.env, FAKE_SSH_SHELL=shell)
                started = time.monotonic()
                run(["git", "annex", "copy", "-q", "--to", remote] + files, client, env)
                results[(label, way)] = time.monotonic() - started
                run(["git", "annex", "drop", "-q", "--force", "--from", remote] + files, client, env)
        say = sys.stdout.write
        say("special remote benchmark in %s (big %d MiB, %d x %d KiB)\n\n" % (base, args.big_mib, args.small_count, args.small_kib))
        say("%-12s %10s %10s %10s %8s %8s\n" % ("copy --to", "b sr/g-a", "c sr/a-r", "d git/a-r", "c/b", "c/d"))
        for label in ("big object", "small files"):
            b, c, d = (results[(label, w)] for w in "bcd")
            say("%-12s %9.2fs %9.2fs %9.2fs %8.2f %8.2f\n" % (label, b, c, d, c / b, c / d))
        say("\nb: git-annex's proxy to the special remote; c: annexrelay to it; d: annexrelay to a git node\n")
    finally:
        daemon.terminate()
        daemon.wait()
        subprocess.run(["chmod", "-R", "u+w", base])
        subprocess.run(["rm", "-rf", base], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
