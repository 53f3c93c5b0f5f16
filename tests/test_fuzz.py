"""
Property tests: a client session fed arbitrary and mutated lines, oversized
numbers, NUL bytes and hostile keys answers ERROR or closes cleanly; it
never crashes, never hangs with input left unread, and never asks a node
about a key no location log could hold.
"""

import os
import random
import subprocess
import uuid as uuidlib

from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from annexrelay.p2p import messages
from annexrelay.testing.memory import ClusterPair, RelayPair
from tests.interop.test_interop import InteropCase

KEYS = [
    b"SHA256E-s10--84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882.txt",
    b"WORM-s3-m1--a b",
    b"WORM-s3-m1--../../../etc/passwd",
    b"WORM-s3-m1--a/b",
    b"WORM-s3-m1--\x0bx",
    b"WORM-s3-m1--a\x00b",
    b"WORM--" + b"x" * 300,
    b"",
]
NUMBERS = [b"0", b"1", b"-1", b"9223372036854775808", b"-9223372036854775809", b"", b"missing", b"1e9", b"0x10"]
WORDS = sorted(messages.GRAMMAR)


def _line():
    word = st.sampled_from(WORDS).map(lambda w: w.encode())
    field = st.one_of(st.sampled_from(KEYS), st.sampled_from(NUMBERS), st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")))
    real = st.tuples(word, st.lists(field, max_size=4)).map(lambda t: b" ".join([t[0]] + t[1]))
    junk = st.binary(max_size=200).map(lambda b: b.replace(b"\n", b""))
    return st.one_of(real, junk)


def _done():
    from twisted.internet.error import ConnectionDone
    from twisted.python.failure import Failure

    return Failure(ConnectionDone())


class _Crashes:
    def __init__(self):
        self.events = []

    def __call__(self, event):
        if event.get("log_failure") is not None or event.get("isError"):
            self.events.append(event)


def _feed(p, line, replies):
    """
    C{line} from the client; then each node that was asked something
    answers with the next of C{replies} (consumed).
    """
    p.send(line + b"\n")
    for conn in list(p.pool.conns):
        if conn.transport.value() and replies and not conn.broken:
            conn.transport.clear()
            conn.dataReceived(replies.pop(0) + b"\n")


class FuzzTests(unittest.TestCase):
    def check(self, makePair, lines, replies=()):
        """
        Feed C{lines} from the client; after each, if a node was asked
        something, it answers with the next of C{replies}.
        """
        crashes = _Crashes()
        globalLogPublisher.addObserver(crashes)
        replies = list(replies)
        try:
            p = makePair()
            for line in lines:
                if p.session.state == "closed":
                    break
                _feed(p, line, replies)
            p.take()
            p.session.readConnectionLost()
            # Every node's output ends too, including connections opened
            # while failing over from the ones ended before.
            ended = set()
            for _ in range(50):
                live = [c for c in p.pool.conns if c not in ended]
                if not live:
                    break
                for conn in live:
                    ended.add(conn)
                    conn.inputEnded(_done())
        finally:
            globalLogPublisher.removeObserver(crashes)
        self.assertEqual(crashes.events, [])
        # The client's end of input ends the session (no hang).
        self.assertEqual(p.session.state, "closed")
        self.assertTrue(p.session.done.called)
        for conn in p.pool.conns:
            for line in conn.transport.value().split(b"\n"):
                self.assertNotIn(b"\x00", line)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_line(), max_size=12))
    def test_proxied_remote(self, lines):
        self.check(lambda: RelayPair(reachable=False), lines)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_line(), max_size=12))
    def test_cluster_without_nodes(self, lines):
        def pair():
            p = ClusterPair()
            p.pool.reachable = False
            return p

        self.check(pair, lines)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_line(), max_size=12), st.lists(_line(), max_size=12))
    def test_proxied_remote_with_a_node_saying_anything(self, lines, replies):
        self.check(RelayPair, lines, replies)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_line(), max_size=12), st.lists(_line(), max_size=12))
    def test_cluster_with_nodes_saying_anything(self, lines, replies):
        self.check(ClusterPair, lines, replies)


def _request():
    """
    Well-formed requests on a key the node may have, so sessions get deep
    into their targets (PUT-FROM, DATA, verdicts) before the junk comes.
    """
    key = st.sampled_from(KEYS[:2])
    number = st.sampled_from([b"0", b"1", b"3", b"-1", b"99999999999999999999"])
    return st.one_of(
        st.builds(lambda k: b"PUT af " + k, key),
        st.builds(lambda o, k: b"GET " + o + b" af " + k, number, key),
        st.builds(lambda k: b"CHECKPRESENT " + k, key),
        st.builds(lambda k: b"LOCKCONTENT " + k, key),
        st.builds(lambda k: b"REMOVE " + k, key),
        st.builds(lambda n: b"DATA " + n, number),
        st.sampled_from([b"VALID", b"INVALID", b"SUCCESS", b"FAILURE", b"UNLOCKCONTENT", b"DATA-PRESENT", b"GETTIMESTAMP"]),
    )


NODE_REPLIES = [b"PUT-FROM 0", b"PUT-FROM 5", b"SUCCESS", b"FAILURE", b"DATA 3", b"VALID", b"ALREADY-HAVE", b"TIMESTAMP 5", b"ERROR x", b"junk"]


class NoSilentCloseTests(unittest.TestCase):
    """
    Whenever the relay ends a session because of what the client sent, the
    client's last line is an C{ERROR} saying why (a client that sends
    C{ERROR} or C{CONNECT} ends it by the protocol's own rules).
    """

    def check(self, makePair, lines, replies):
        crashes = _Crashes()
        globalLogPublisher.addObserver(crashes)
        replies = list(replies)
        out = b""
        try:
            p = makePair()
            for line in lines:
                if p.session.state == "closed" or line.split(b" ")[0] in (b"ERROR", b"CONNECT"):
                    break
                _feed(p, line, replies)
                out += p.take()
        finally:
            globalLogPublisher.removeObserver(crashes)
        self.assertEqual(crashes.events, [])
        if p.session.state == "closed":
            last = out.rstrip(b"\n").rpartition(b"\n")[2]
            self.assertTrue(last.startswith(b"ERROR "), (lines, out[-300:]))

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.one_of(_request(), _line()), max_size=10), st.lists(st.sampled_from(NODE_REPLIES), max_size=10))
    def test_proxied_remote(self, lines, replies):
        self.check(RelayPair, lines, replies)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.one_of(_request(), _line()), max_size=10), st.lists(st.sampled_from(NODE_REPLIES), max_size=10))
    def test_cluster(self, lines, replies):
        self.check(ClusterPair, lines, replies)

    def test_data_minus_one_inside_put(self):
        p = RelayPair()
        p.send(b"PUT af " + KEYS[0] + b"\n")
        p.nodeSays(b"PUT-FROM 0\n")
        p.take()
        p.send(b"DATA -1\n")
        self.assertEqual(p.take(), b"ERROR client announced DATA -1\n")
        self.assertEqual(p.session.state, "closed")


class DaemonFuzzTests(InteropCase):
    """
    The same kind of input through the real daemon and annexrelay-shell,
    with real nodes: every session ends when its client closes, the daemon
    logs no unhandled error, writes nothing into the work tree, and keeps
    serving.
    """

    timeout = 300

    def test_hostile_sessions(self):
        rng = random.Random(1795)
        targets = [self.uuids["n1"], self.s.makeCluster("c1", ["n1", "n2"])]
        before = sorted(os.listdir(self.s.proxy))

        def line():
            if rng.random() < 0.2:
                return bytes(rng.randrange(256) for _ in range(rng.randrange(60))).replace(b"\n", b"")
            fields = [rng.choice(KEYS + NUMBERS + [b"f", b"", b"\x00", b"VALID"]) for _ in range(rng.randrange(4))]
            return b" ".join([rng.choice(WORDS).encode()] + fields)

        for i in range(40):
            command = "git-annex-shell 'p2pstdio' '%s' '%s' --uuid %s" % (self.s.proxy, uuidlib.uuid4(), rng.choice(targets))
            body = b"VERSION %d\n" % rng.randrange(5) + b"".join(line() + b"\n" for _ in range(rng.randrange(1, 12)))
            p = subprocess.run(
                ["annexrelay-shell", "-c", command],
                input=body,
                env=self.s.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=60,
                cwd=self.s.base,
            )
            self.assertIn(p.returncode, (0, 1), (body, p.stderr))
            self.assertIsNone(self.proc.poll(), "the daemon died")
        self.assertEqual(sorted(os.listdir(self.s.proxy)), before)
        log = self.daemonLog()
        self.assertNotIn("Unhandled Error", log)
        self.assertNotIn("Traceback", log)
        # Still serving.
        self.s.addFile(self.client, "after.txt", b"after the storm\n")
        self.annex("copy", "--to", "origin-n1", "after.txt")
