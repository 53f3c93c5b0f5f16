"""
The network namespace a Tor test runs in, so that its client side may own
127.0.0.1:9050 (git-annex's tor client has that port hard-coded) while
other tests run beside it.

The namespace is held by its first process (the SOCKS stand-in of the fast
tier, or a holder for the real-Tor tier); everything else of the test (the
daemon, tors, the git-annex client) enters it with C{nsenter}.  Where a
namespace cannot be made (not root), the test runs on the machine's own
loopback and is skipped if port 9050 is taken.
"""

import os
import shutil
import subprocess
import sys
import time

from annexrelay.testing.ports import port_free

HERE = os.path.dirname(os.path.abspath(__file__))
_usable = None


def namespaces_usable():
    global _usable
    if _usable is None:
        _usable = bool(
            not os.environ.get("ANNEXRELAY_TEST_NO_NETNS")
            and os.geteuid() == 0
            and shutil.which("unshare")
            and shutil.which("nsenter")
            and shutil.which("ip")
            and subprocess.run(["unshare", "-n", "true"], stderr=subprocess.DEVNULL).returncode == 0
        )
    return _usable


def wait_for(predicate, what, timeout=60, proc=None, log=None):
    """
    Wait, bounded, until C{predicate()} is true (a file appears, a log
    line is written): this waits on an event, with a short poll.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: process exited %s first\n%s" % (what, proc.returncode, log() if log else ""))
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for %s\n%s" % (what, log() if log else ""))
        time.sleep(0.05)


class OnionNet:
    """
    @param holder: the argv of the namespace's first process.
    """

    def __init__(self, base, holder, env=None):
        self.base = base
        self.procs = []
        self.prefix = []
        argv = list(holder)
        if namespaces_usable():
            argv = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + argv
        elif not port_free(9050):
            raise unittest_skip("127.0.0.1:9050 is taken and no network namespace can be made (needs root)")
        self.holder = self.spawn(argv, os.path.join(base, "holder.log"), env=env, enter=False)
        if namespaces_usable():
            self.prefix = ["nsenter", "-t", str(self.holder.pid), "-n", "--"]

    def spawn(self, argv, logfile, env=None, enter=True, cwd=None, stdin=None):
        out = open(logfile, "ab")
        p = subprocess.Popen(
            (self.prefix if enter else []) + list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd or self.base,
            stdin=stdin,
        )
        out.close()
        self.procs.append(p)
        return p

    def run(self, argv, **kw):
        return subprocess.run(self.prefix + list(argv), **kw)

    def stop(self):
        for p in reversed(self.procs):
            if p.stdin is not None:
                p.stdin.close()
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def unittest_skip(why):
    from twisted.trial.unittest import SkipTest

    return SkipTest(why)


def standin_argv(root, ready):
    return [sys.executable, os.path.join(HERE, "socks_standin.py"), "--root", root, "--ready", ready]
