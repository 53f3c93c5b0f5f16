"""
One daemon serving many repositories under one --directory: N git-annex
repositories (default 1000), one annex+http request to each (a
checkpresent of the repository itself, which opens its core and its
git-annex-shell), a few at a time; then the daemon's resident memory
(the target is at most 150 MiB with 1000 repositories open) and what the
requests took.

    ./dev bench directory [--repos 1000] [--concurrency 8] [--keep]
"""

import argparse
import concurrent.futures
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from annexrelay.testing.lab import git_env, write_fake_ssh  # noqa: E402
from annexrelay.testing.ports import free_port, wait_listening  # noqa: E402

KEY = "SHA256E-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt"
CLIENT = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"


def vm(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def make_repositories(root, n, env):
    """
    One repository made by git annex init, copied N times with a UUID each
    (git annex init a thousand times would take minutes).
    """
    template = os.path.join(root, ".template")
    subprocess.run(["git", "init", "-q", "-b", "main", template], check=True, env=env)
    subprocess.run(["git", "annex", "init", "-q", "template"], cwd=template, check=True, env=env)
    made = []
    for i in range(n):
        rel = os.path.join("lab%02d" % (i % 50), "r%04d" % i)
        path = os.path.join(root, "srv", rel)
        shutil.copytree(template, path, symlinks=True)
        u = str(uuid.uuid4())
        config = os.path.join(path, ".git", "config")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(re.sub(r"uuid = \S+", "uuid = " + u, text))
        made.append((rel, u))
    return made


def children(pid):
    """
    The daemon's child processes now (node connections, git).
    """
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return len(f.read().split())
    except OSError:
        return -1


def checkpresent(port, rel, u):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.request("POST", "/%s/git-annex/%s/v4/checkpresent?key=%s&clientuuid=%s" % (rel, u, KEY, CLIENT), body=b"")
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--keep", action="store_true", help="keep the repositories (their path is printed)")
    args = ap.parse_args(argv)
    base = tempfile.mkdtemp(prefix="annexrelay-dirbench-")
    bindir = os.path.join(base, "bin")
    write_fake_ssh(bindir)
    env = git_env(bindir)
    try:
        t0 = time.monotonic()
        repos = make_repositories(base, args.repos, env)
        print("made %d repositories in %.1f s" % (len(repos), time.monotonic() - t0))
        port = free_port()
        log = open(os.path.join(base, "annexrelay.log"), "wb")
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        daemon = subprocess.Popen(
            [twistd, "-n", "--pidfile=", "annexrelay", "--directory", os.path.join(base, "srv"), "--wideopen",
             "--p2phttp", "tcp:%d:interface=127.0.0.1" % (port,), "--idle-timeout", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=base,
        )
        log.close()
        try:
            wait_listening(port, daemon)
            idle = vm(daemon.pid, "VmRSS")
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
                statuses = list(pool.map(lambda r: checkpresent(port, *r), repos))
            took = time.monotonic() - t0
            rss, peak = vm(daemon.pid, "VmRSS"), vm(daemon.pid, "VmHWM")
            kids = children(daemon.pid)
            with open(os.path.join(base, "annexrelay.log"), errors="replace") as f:
                opened = f.read().count("opened repository")
            counts = {s: statuses.count(s) for s in sorted(set(statuses))}
            print("%d checkpresent requests, %d at a time: %.1f s (%.1f ms each), statuses %s" % (
                len(statuses), args.concurrency, took, 1000.0 * took / max(1, len(statuses)), counts))
            print("cores opened: %d; daemon's child processes at the end: %d" % (opened, kids))
            print("daemon RSS: %.1f MiB started, %.1f MiB with every repository open (peak %.1f MiB; target <= 150 MiB)" % (
                idle, rss, peak))
        finally:
            daemon.terminate()
            daemon.wait()
    finally:
        if args.keep:
            print("kept", base)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
