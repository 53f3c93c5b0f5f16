"""
Serving over Tor, against git-annex's own tor server: the real git-annex
client copies to and gets from one repository (n1) through
 (a) git-annex's tor server (C{git annex remotedaemon} on n1),
 (b) annexrelay serving n1 itself on its own onion address,
 (c) annexrelay as a proxy in front of n1 (n1 a proxied remote).
All three go through the same SOCKS5 stand-in (tests/socks_standin.py) in a
network namespace, so what differs is the server, not Tor.  Prints the
median wall times and the ratios b/a and c/a (below 1: faster than
git-annex).  Needs root (network and mount namespaces: git-annex's tor
server reads its socket from /etc/tor/torrc, which is bind-mounted over in
a namespace of its own, never written).

Usage: ./dev bench tor [--big-mib 100] [--small-count 200] [--small-kib 4] [--repeat 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from annexrelay.testing.lab import Setup  # noqa: E402
from annexrelay.testing.onionnet import OnionNet, namespaces_usable, standin_argv, wait_for  # noqa: E402

BIN = os.path.dirname(sys.executable)
FAKE_ONION = "a" * 56 + ".onion"
PORT = 16388


def run(cmd, cwd, env, net=None, stdin=None):
    argv = (net.prefix if net else []) + list(cmd)
    p = subprocess.run(argv, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), p.stdout.decode("utf-8", "replace")[-3000:]))
    return p.stdout.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big-mib", type=int, default=100)
    ap.add_argument("--small-count", type=int, default=200)
    ap.add_argument("--small-kib", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not namespaces_usable():
        print("the Tor benchmark needs root (network and mount namespaces)")
        return 1
    base = tempfile.mkdtemp(prefix="annexrelay-tor-bench-")
    s = Setup(base, nodes=1)
    n1, env = s.nodes["n1"], s.env
    uuid = s.uuidOf(n1)
    # git-annex's tor server for n1, its torrc seen only in its mount namespace.
    sock = os.path.join(base, "ga-sock", "s")
    os.makedirs(os.path.dirname(sock))
    torrc = os.path.join(base, "torrc")
    with open(torrc, "w") as f:
        f.write("HiddenServiceDir %s/tor-annex_%d_%s\nHiddenServicePort %d unix:%s\n" % (base, os.getuid(), uuid, PORT, sock))
    os.makedirs(os.path.join(n1, ".git", "annex", "creds"), exist_ok=True)
    with open(os.path.join(n1, ".git", "annex", "creds", "p2paddrs"), "w") as f:
        f.write("tor-annex::%s:%d\n" % (FAKE_ONION, PORT))
    addrA = [l for l in run(["git", "annex", "p2p", "--gen-addresses"], n1, env).splitlines() if l.startswith("tor-annex::")][0]
    addrB = run([os.path.join(BIN, "annexrelay"), "address", "--repo", n1], base, env).strip()
    addrC = run([os.path.join(BIN, "annexrelay"), "address", "--repo", s.proxy, "n1"], base, env).strip()
    ready = os.path.join(base, "standin.ready")
    net = OnionNet(base, standin_argv(base, ready) + ["--map", "%s:%d=unix:%s" % (FAKE_ONION, PORT, sock)], env=env)
    try:
        wait_for(lambda: os.path.exists(ready), "the SOCKS stand-in", proc=net.holder)
        remotedaemon = net.spawn(
            ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/tor/torrc && exec git annex remotedaemon --foreground', torrc],
            os.path.join(base, "remotedaemon.log"), env=env, cwd=n1, stdin=subprocess.PIPE, enter=False,
        )
        wait_for(lambda: os.path.exists(sock), "git-annex's tor server socket", proc=remotedaemon)
        daemons = []
        for repo, name in ((n1, "relay-n1.log"), (s.proxy, "relay-proxy.log")):
            log = os.path.join(base, name)
            daemons.append(net.spawn(
                [os.path.join(BIN, "twistd"), "-n", "--pidfile=", "annexrelay", "--repo", repo, "--onion-local-only"], log, env=env,
            ))
            listeners = os.path.join(repo, ".git", "annex", "annexrelay", "onion-listeners")
            wait_for(lambda: os.path.exists(listeners) and os.path.getsize(listeners) > 0, "annexrelay on " + repo, proc=daemons[-1])
        client = os.path.join(base, "client")
        run(["git", "init", "-q", client], base, env)
        run(["git", "annex", "init", "-q", "client"], client, env)
        for name, addr in (("a", addrA), ("b", addrB), ("c", addrC)):
            run(["git", "annex", "p2p", "--link", "--name", name], client, env, net, (addr + "\n").encode())
        os.makedirs(os.path.join(client, "small"))
        for i in range(args.small_count):
            with open(os.path.join(client, "small", "s%04d" % i), "wb") as f:
                f.write(os.urandom(args.small_kib * 1024))
        with open(os.path.join(client, "big.bin"), "wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(1 << 20))
        run(["git", "annex", "add", "-q", "big.bin", "small"], client, env)
        run(["git", "commit", "-q", "-m", "bench"], client, env)
        results = {}
        for label, files in (("big object", ["big.bin"]), ("small files", ["small"])):
            for _ in range(args.repeat):
                for r in ("a", "b", "c"):
                    t = time.monotonic()
                    run(["git", "annex", "copy", "-q", "--to", r] + files, client, env, net)
                    results.setdefault((label + ": copy --to", r), []).append(time.monotonic() - t)
                    run(["git", "annex", "drop", "-q", "--force", "--from", r] + files, client, env, net)
                for r in ("a", "b", "c"):
                    run(["git", "annex", "copy", "-q", "--to", r] + files, client, env, net)
                    run(["git", "annex", "drop", "-q", "--force"] + files, client, env)
                    t = time.monotonic()
                    run(["git", "annex", "get", "-q", "--from", r] + files, client, env, net)
                    results.setdefault((label + ": get --from", r), []).append(time.monotonic() - t)
                    run(["git", "annex", "drop", "-q", "--force", "--from", r] + files, client, env, net)
    finally:
        net.stop()
    print("Tor benchmark in %s (big object %d MiB, %d small files of %d KiB, median of %d runs)"
          % (base, args.big_mib, args.small_count, args.small_kib, args.repeat))
    print("a = git-annex's tor server, b = annexrelay serving the repository, c = annexrelay proxying it\n")
    print("%-26s %9s %9s %9s | %6s %6s" % ("scenario", "a wall", "b wall", "c wall", "b/a", "c/a"))
    for label in ("big object: copy --to", "big object: get --from", "small files: copy --to", "small files: get --from"):
        a, b, c = (statistics.median(results[(label, r)]) for r in ("a", "b", "c"))
        print("%-26s %8.2fs %8.2fs %8.2fs | %6.2f %6.2f" % (label, a, b, c, b / a, c / a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
