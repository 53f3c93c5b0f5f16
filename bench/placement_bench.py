"""
What deciding a cluster PUT costs as the gateway's branch grows: the
location log lookup of the key (one round trip to the long-lived
git cat-file) plus the preferred content evaluation (balanced= under
maxsize, copies=, include=), at 1k and 100k keys in the branch; and what
counting the repositories' sizes once costs (the first PUT that needs
them).

Usage: ./dev bench placement [--keys 1000 100000] [--puts 2000]
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from twisted.internet import defer, task  # noqa: E402

from annexrelay.branch import locationlog, uuidlogs  # noqa: E402
from annexrelay.branch.reader import BranchReader  # noqa: E402
from annexrelay.branch.sizes import RepoSizes  # noqa: E402
from annexrelay.testing.lab import Setup  # noqa: E402
from annexrelay.placement import ClusterView  # noqa: E402
from annexrelay.repo import ProxyRepository  # noqa: E402


def fill(repo, uuids, n, rng):
    """
    Add C{n} keys' location logs to the branch in one commit.
    """
    tip = subprocess.run(["git", "rev-parse", "refs/heads/git-annex"], cwd=repo, stdout=subprocess.PIPE, check=True).stdout.strip()
    out = [b"commit refs/heads/git-annex\n", b"committer bench <bench@localhost> 1700000000 +0000\n", b"data 5\nbench\n", b"from " + tip + b"\n"]
    keys = []
    for i in range(n):
        key = b"SHA256E-s%d--%064x.bin" % (1000 + i, rng.getrandbits(256))
        keys.append(key)
        holders = rng.sample(uuids, rng.randrange(0, len(uuids)))
        content = b"".join(b"1700000000s 1 " + u + b"\n" for u in holders)
        out.append(b"M 100644 inline " + locationlog.log_path(key) + b"\n")
        out.append(b"data %d\n" % len(content) + content + b"\n")
    subprocess.run(["git", "fast-import", "--quiet", "--force"], cwd=repo, input=b"".join(out) + b"done\n", check=True)
    return keys


async def measure(reactor, repo, keys, puts, rng):
    """
    @return: C{(seconds per PUT decision, seconds to count the sizes once)}.
    """
    proxy = ProxyRepository(repo)
    cluster = list(proxy.clusters.values())[0]
    branch = BranchReader(reactor, proxy.path, proxy.gitDir, proxy.onelevel)
    sizes = RepoSizes(reactor, proxy.path)
    files = await branch.read(list(uuidlogs.ALL))
    view = ClusterView(cluster, files, (), proxy.uuid, rng)
    t = time.perf_counter()
    await sizes.sizes()
    counting = time.perf_counter() - t
    sample = [rng.choice(keys) for _ in range(puts)]
    started = time.perf_counter()
    for key in sample:
        holders, _ = await branch.holders(key)
        view.putCandidates(holders, "dir/file.bin", 1000, key, None, await sizes.sizes())
    elapsed = time.perf_counter() - started
    await branch.close()
    return elapsed / puts, counting


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, nargs="+", default=[1000, 100000])
    ap.add_argument("--puts", type=int, default=2000)
    args = ap.parse_args()
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args)))


async def run(reactor, args):
    rng = random.Random(1)
    results = []
    for n in args.keys:
        base = tempfile.mkdtemp(prefix="annexrelay-placement-bench-")
        s = Setup(base, nodes=3)
        s.makeCluster("c1", ["n1", "n2", "n3"])
        for name in ("n1", "n2", "n3"):
            s.git("annex", "group", name, "g", cwd=s.proxy)
            s.git("annex", "wanted", name, "balanced=g:1 or (copies=g:3 and include=dir/*)", cwd=s.proxy)
            s.git("annex", "maxsize", name, "1T", cwd=s.proxy)
        uuids = [s.uuidOf(p).encode() for p in s.nodes.values()]
        t = time.perf_counter()
        keys = fill(s.proxy, uuids, n, rng)
        filled = time.perf_counter() - t
        results.append(await measure(reactor, s.proxy, keys, args.puts, rng))
        subprocess.run(["rm", "-rf", base], stderr=subprocess.DEVNULL)
        per, counting = results[-1]
        sys.stdout.write(
            "%7d keys in the branch (made in %.1fs): %.0f us per PUT decision; sizes counted once in %.2fs\n"
            % (n, filled, per * 1e6, counting)
        )
        sys.stdout.flush()
    if len(results) > 1:
        sys.stdout.write("ratio %d keys / %d keys: %.2f\n" % (args.keys[-1], args.keys[0], results[-1][0] / results[0][0]))


if __name__ == "__main__":
    main()
