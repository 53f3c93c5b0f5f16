"""
Faults, with real nodes: a raw protocol peer (annexrelay-shell spoken to
directly, as sshd would run it) breaks off in the middle of a transfer, or
a node dies under it; what the daemon and its nodes do about it.  The same
cases run for a proxied remote and for a cluster, with payloads moved in
the kernel and copied through memory (C{--no-splice}).  Each case waits on
events (process exit, end of output, file contents), bounded in time.
"""

import hashlib
import os
import signal
import subprocess
import time
import uuid

from twisted.trial import unittest

from annexrelay.testing.gitrepos import restore_node
from tests.interop.test_interop import InteropCase

SIZE = 3 * 1000 * 1000
CUT = 40 * 1024


def _content():
    return bytes(range(256)) * (SIZE // 256) + b"x" * (SIZE % 256)


CONTENT = _content()
KEY = "SHA256E-s%d--%s" % (SIZE, hashlib.sha256(CONTENT).hexdigest())


class RawSession:
    """
    One P2P session through annexrelay-shell, spoken to byte by byte.
    """

    def __init__(self, case, target):
        self.case = case
        command = "git-annex-shell 'p2pstdio' '%s' '%s' --uuid %s" % (case.s.proxy, uuid.uuid4(), target)
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

    def read(self, n):
        return self.p.stdout.read(n)

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
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


def waitFor(check, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def nodeProcesses(path):
    """
    The pids of the git-annex-shell p2pstdio processes serving C{path}.
    """
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"p2pstdio" in argv and path.encode() in argv:
            pids.append(int(pid))
    return pids


class _FaultCases:
    """
    The fault matrix; subclasses say what the target is and how payloads
    move.
    """

    nodes = 2
    cluster = False

    def setUp(self):
        InteropCase.setUp(self)
        self.addCleanup(self.checkAfterwards)
        if self.cluster:
            self.target = self.s.makeCluster("c1", ["n1", "n2"])
            self.holders = ["n1", "n2"]
        else:
            self.target = self.uuids["n1"]
            self.holders = ["n1"]

    def checkAfterwards(self):
        """
        Whatever the case did: every error was handled where it arose (none
        reached the reactor), and, once the daemon has committed what it
        recorded, nothing is recorded present that a node does not hold.
        """
        self.stopDaemon()
        log = self.daemonLog()
        for bad in ("Unhandled Error", "Traceback"):
            self.assertNotIn(bad, log)
        lines = self.proxyLog(KEY).splitlines()
        for node in self.holders:
            if any(line.endswith(" 1 " + self.uuids[node]) for line in lines):
                self.assertTrue(self.nodeHas(node, KEY), "recorded on %s, which does not have it" % (node,))

    def partial(self, node):
        tmp = os.path.join(self.s.gitDirOf(node), "annex", "tmp", KEY)
        try:
            return os.path.getsize(tmp)
        except OSError:
            return None

    def store(self):
        s = RawSession(self, self.target)
        s.say(b"PUT f " + KEY.encode() + b"\n")
        s.expect(b"PUT-FROM 0")
        s.say(b"DATA %d\n" % SIZE + CONTENT + b"VALID\n")
        self.assertTrue(s.line().startswith(b"SUCCESS"), self.daemonLog())
        self.assertEqual(s.close(), 0)

    def test_put_cut_short_resumes(self):
        """
        A client sends part of a PUT and closes: the session ends, the bytes
        it sent reach the node, and the next PUT resumes from there.
        """
        s = RawSession(self, self.target)
        s.say(b"PUT f " + KEY.encode() + b"\n")
        s.expect(b"PUT-FROM 0")
        s.say(b"DATA %d\n" % SIZE + CONTENT[:CUT])
        self.assertEqual(s.close(), 0)
        for node in self.holders:
            waitFor(lambda: self.partial(node) == CUT, "node %s's partial file to hold %d bytes" % (node, CUT))
        again = RawSession(self, self.target)
        again.say(b"PUT f " + KEY.encode() + b"\n")
        again.expect(b"PUT-FROM %d" % CUT)
        again.say(b"DATA %d\n" % (SIZE - CUT) + CONTENT[CUT:] + b"VALID\n")
        self.assertTrue(again.line().startswith(b"SUCCESS"), self.daemonLog())
        self.assertEqual(again.close(), 0)
        for node in self.holders:
            self.assertTrue(self.nodeHas(node, KEY))

    def getSome(self):
        self.store()
        s = RawSession(self, self.target)
        s.say(b"GET 0 f " + KEY.encode() + b"\n")
        s.expect(b"DATA %d" % SIZE)
        self.assertEqual(s.read(CUT), CONTENT[:CUT])
        return s

    def running(self):
        return sum(len(nodeProcesses(self.s.nodes[n])) for n in self.holders)

    def getAll(self):
        s = RawSession(self, self.target)
        s.say(b"GET 0 f " + KEY.encode() + b"\n")
        s.expect(b"DATA %d" % SIZE)
        self.assertEqual(s.read(SIZE), CONTENT)
        s.expect(b"VALID")
        s.say(b"SUCCESS\n")
        self.assertEqual(s.close(), 0)

    def test_client_vanishes_mid_get(self):
        """
        A client killed in the middle of a GET: its session ends, the node
        connection it was using is closed (its node process exits instead
        of sending to nobody), and the next GET is served.
        """
        s = self.getSome()
        before = self.running()
        s.kill()
        waitFor(lambda: self.running() == before - 1, "the serving node's git-annex-shell to exit")
        self.assertIn("the client went away in the middle of GET data", self.daemonLog())
        self.getAll()

    def test_node_dies_mid_get(self):
        """
        The node serving a GET is killed mid-payload: the client's session
        ends (it is not left waiting), and a retry is served.
        """
        s = self.getSome()
        for node in self.holders:
            for pid in nodeProcesses(self.s.nodes[node]):
                os.kill(pid, signal.SIGKILL)
        s.p.stdout.read()  # the end of the session: bounded by the case's timeout
        self.assertEqual(s.p.wait(timeout=30), 0)
        self.getAll()


    def other(self, node):
        return [n for n in self.holders if n != node]

    def finishPut(self, offsetAtMost):
        """
        A new session stores L{KEY}, resuming where the nodes have partial
        data; every holder has it afterwards.
        """
        s = RawSession(self, self.target)
        s.say(b"PUT f " + KEY.encode() + b"\n")
        reply = s.line()
        self.assertTrue(reply.startswith(b"PUT-FROM "), reply)
        offset = int(reply.split()[1])
        self.assertLessEqual(offset, offsetAtMost)
        s.say(b"DATA %d\n" % (SIZE - offset) + CONTENT[offset:] + b"VALID\n")
        self.assertTrue(s.line().startswith(b"SUCCESS"), self.daemonLog())
        self.assertEqual(s.close(), 0)
        for node in self.holders:
            self.assertTrue(self.nodeHas(node, KEY), node)
        return offset

    def test_node_dies_mid_put(self):
        """
        A node killed in the middle of a PUT: a proxied remote's session
        ends; a cluster completes with its other node.  The retry resumes
        from what the node kept.
        """
        if self.s.localStore:
            raise unittest.SkipTest("under --local-store no node process receives the PUT")
        half = 1000 * 1000
        s = RawSession(self, self.target)
        s.say(b"PUT f " + KEY.encode() + b"\n")
        s.expect(b"PUT-FROM 0")
        s.say(b"DATA %d\n" % SIZE + CONTENT[:half])
        victim = self.holders[-1]
        waitFor(lambda: (self.partial(victim) or 0) > 0, "node %s to receive data" % (victim,))
        for pid in nodeProcesses(self.s.nodes[victim]):
            os.kill(pid, signal.SIGKILL)
        try:
            s.say(CONTENT[half:] + b"VALID\n")
        except BrokenPipeError:
            pass
        reply = s.line()
        if self.cluster:
            self.assertEqual(reply, b"SUCCESS-PLUS " + self.uuids[self.other(victim)[0]].encode(), self.daemonLog())
            self.assertTrue(self.nodeHas(self.other(victim)[0], KEY))
        else:
            # The client learns why, then the session ends.
            self.assertTrue(reply.startswith(b"ERROR node %s failed in the middle of PUT data" % (victim.encode(),)), reply)
            self.assertEqual(s.line(), b"", "the session ends")
        s.kill()
        self.assertFalse(self.nodeHas(victim, KEY))
        self.finishPut(half)

    def test_node_unreachable_then_back(self):
        """
        A node that cannot be reached: a clear error (proxied remote) or
        the other node takes it (cluster); once it is back, it is used.
        """
        victim = self.holders[-1]
        os.rename(self.s.nodes[victim], self.s.nodes[victim] + ".gone")
        s = RawSession(self, self.target)
        s.say(b"PUT f " + KEY.encode() + b"\n")
        if self.cluster:
            s.expect(b"PUT-FROM 0")
            s.say(b"DATA %d\n" % SIZE + CONTENT + b"VALID\n")
            self.assertEqual(s.line(), b"SUCCESS-PLUS " + self.uuids[self.other(victim)[0]].encode())
        else:
            reply = s.line()
            self.assertTrue(reply.startswith(b"ERROR cannot reach node %s " % victim.encode()), reply)
        self.assertEqual(s.close(), 0)
        restore_node(self.s.nodes[victim])
        self.finishPut(0)

    def test_node_stalls_and_the_client_gives_up(self):
        """
        A node that stops (SIGSTOP) in the middle of a GET, and a client
        that gives up on it: the session ends and the stalled node is
        killed, not left behind.
        """
        s = self.getSome()
        before = self.running()
        serving = [pid for n in self.holders for pid in nodeProcesses(self.s.nodes[n])]
        for pid in serving:
            os.kill(pid, signal.SIGSTOP)
        self.addCleanup(lambda: [os.kill(pid, signal.SIGCONT) for pid in serving if os.path.exists("/proc/%d" % pid)])
        s.kill()
        waitFor(lambda: self.running() == before - 1, "the stalled node to be killed")
        for pid in serving:
            if os.path.exists("/proc/%d" % pid):
                os.kill(pid, signal.SIGCONT)
        self.getAll()

    def test_daemon_stopped_with_records_pending(self):
        """
        SIGTERM with location log records not yet committed: the daemon
        stops within a bounded time and the records are in the branch;
        started again, it serves.
        """
        self.stopDaemon()
        self.proc = self.s.startDaemon(["--commit-delay", "60", "--idle-timeout", "300"] + [a for a in self.daemonArgs if a == "--no-splice"])
        self.store()
        self.proc.terminate()
        # twistd stops cleanly, then ends with the signal it got.
        self.assertIn(self.proc.wait(timeout=30), (0, -signal.SIGTERM))
        self.assertIn("Server Shut Down", self.daemonLog())
        for node in self.holders:
            self.assertIn(" 1 " + self.uuids[node], self.proxyLog(KEY))
        self.startDaemon()
        self.getAll()


    def test_daemon_stopped_mid_transfer(self):
        """
        SIGTERM while a client is in the middle of an upload: the daemon
        stops at once (its sessions end, its nodes keep what they got),
        and after a restart the upload resumes.
        """
        half = 1000 * 1000
        s = RawSession(self, self.target)
        s.say(b"PUT f " + KEY.encode() + b"\n")
        s.expect(b"PUT-FROM 0")
        s.say(b"DATA %d\n" % SIZE + CONTENT[:half])
        for node in self.holders:
            waitFor(lambda: (self.partial(node) or 0) > 0, "node %s to receive data" % (node,))
        started = time.monotonic()
        self.proc.terminate()
        self.assertIn(self.proc.wait(timeout=30), (0, -signal.SIGTERM))
        self.stopped = time.monotonic() - started
        self.assertEqual(s.line(), b"", "the session ends")
        s.kill()
        self.startDaemon()
        self.finishPut(half)


class ProxiedSplicedFaultTests(_FaultCases, InteropCase):
    timeout = 120
    daemonArgs = ("--idle-timeout", "300")


class ProxiedCopiedFaultTests(_FaultCases, InteropCase):
    timeout = 120
    daemonArgs = ("--no-splice", "--idle-timeout", "300")


class ClusterSplicedFaultTests(_FaultCases, InteropCase):
    timeout = 120
    cluster = True
    daemonArgs = ("--idle-timeout", "300")


class ClusterCopiedFaultTests(_FaultCases, InteropCase):
    timeout = 120
    cluster = True
    daemonArgs = ("--no-splice", "--idle-timeout", "300")
