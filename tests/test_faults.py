"""
Faults, with real nodes: a raw protocol peer (annexrelay-shell spoken to
directly, as sshd would run it) that breaks off in the middle of a
transfer, and what the daemon and its nodes do about it.  Each case waits on
events (process exit, file contents), bounded in time.
"""

import os
import subprocess
import time
import uuid

from tests.test_interop import InteropCase

KEY = "SHA256E-s100000--" + "a" * 64


class RawSession:
    """
    One P2P session through annexrelay-shell, spoken to byte by byte.
    """

    def __init__(self, case, target, client=None):
        self.case = case
        command = "git-annex-shell 'p2pstdio' '%s' '%s' --uuid %s" % (case.s.proxy, client or uuid.uuid4(), target)
        self.p = subprocess.Popen(
            ["annexrelay-shell", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=case.s.env,
            cwd=case.s.base,
        )
        case.addCleanup(self.kill)
        self.expect(b"AUTH-SUCCESS " + target.encode())
        self.say(b"VERSION 4\n")
        self.expect(b"VERSION 4")

    def say(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def line(self):
        return self.p.stdout.readline().rstrip(b"\n")

    def expect(self, line):
        got = self.line()
        self.case.assertEqual(got, line, self.case.daemonLog())

    def close(self, timeout=30):
        """
        The client closes its side; the session must end within C{timeout}.
        """
        self.p.stdin.close()
        return self.p.wait(timeout=timeout)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for f in (self.p.stdout, self.p.stderr):
            f.close()


def waitFor(check, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class ProxiedRemoteFaultTests(InteropCase):
    def partial(self, node):
        """
        The size of C{node}'s partial copy of L{KEY}, or None.
        """
        tmp = os.path.join(self.s.nodes[node], ".git", "annex", "tmp", KEY)
        try:
            return os.path.getsize(tmp)
        except OSError:
            return None

    def test_put_cut_short_resumes(self):
        """
        A client sends 40 bytes of a 100000-byte PUT and closes: the 40
        bytes reach the node, the session ends, and the next PUT resumes
        from 40.
        """
        s = RawSession(self, self.uuids["n1"])
        s.say(b"PUT f " + KEY.encode() + b"\n")
        s.expect(b"PUT-FROM 0")
        s.say(b"DATA 100000\n" + b"x" * 40)
        s.close()
        waitFor(lambda: self.partial("n1") == 40, "the node's partial file to hold 40 bytes")
        again = RawSession(self, self.uuids["n1"])
        again.say(b"PUT f " + KEY.encode() + b"\n")
        again.expect(b"PUT-FROM 40")
        again.say(b"DATA 99960\n" + b"x" * 99960 + b"INVALID\n")
        again.expect(b"FAILURE")
        self.assertEqual(again.close(), 0)
