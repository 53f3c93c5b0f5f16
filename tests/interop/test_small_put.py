"""
Small uploads to a proxied remote, with a real node: the client is told
PUT-FROM 0 before the node answers, and what the node says afterwards (a
partial of the object, the whole object) is honoured on the way.
"""

import hashlib
import os
import subprocess

from tests.interop.test_faults import RawSession, waitFor
from twisted.trial import unittest

from tests.interop.test_interop import InteropCase

SIZE = 5000
HALF = 2000
CONTENT = bytes(range(256)) * (SIZE // 256) + b"y" * (SIZE % 256)
KEY = "SHA256E-s%d--%s" % (SIZE, hashlib.sha256(CONTENT).hexdigest())


class SmallPutTests(InteropCase):
    timeout = 120
    nodes = 1

    def setUp(self):
        if os.environ.get("ANNEXRELAY_TEST_LOCAL_STORE") == "1":
            raise unittest.SkipTest("the early answer is relaying's; under --local-store the node's offset is known at once")
        InteropCase.setUp(self)

    def partial(self):
        try:
            return os.path.getsize(os.path.join(self.s.gitDirOf("n1"), "annex", "tmp", KEY))
        except OSError:
            return None

    def leavePartial(self):
        """
        A session straight to the node's git-annex-shell sends half of the
        object and ends: the node keeps that half for resume.
        """
        subprocess.run(
            ["git-annex-shell", "p2pstdio", self.s.nodes["n1"], self.s.proxyUUID],
            input=b"VERSION 4\nPUT f " + KEY.encode() + b"\nDATA %d\n" % SIZE + CONTENT[:HALF],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.s.env,
            timeout=60,
        )
        waitFor(lambda: self.partial() == HALF, "the node's partial file to hold %d bytes" % (HALF,))

    def put(self, s):
        s.say(b"PUT f " + KEY.encode() + b"\n")
        s.expect(b"PUT-FROM 0")
        s.say(b"DATA %d\n" % SIZE + CONTENT + b"VALID\n")
        self.assertEqual(s.line(), b"SUCCESS", self.daemonLog())

    def stored(self):
        location = subprocess.run(
            ["git", "annex", "contentlocation", KEY], cwd=self.s.nodes["n1"], env=self.s.env, stdout=subprocess.PIPE
        ).stdout.strip()
        with open(os.path.join(self.s.nodes["n1"], location.decode()), "rb") as f:
            return f.read()

    def test_node_resumes_under_an_early_answer(self):
        """
        The node has half of the object: the client, told PUT-FROM 0, sends
        all of it; the node gets the other half and stores the object.
        """
        self.leavePartial()
        s = RawSession(self, self.uuids["n1"])
        self.put(s)
        self.assertEqual(s.close(), 0)
        self.assertEqual(self.stored(), CONTENT)
        self.assertIn("to node n1 from offset %d: %d bytes" % (HALF, SIZE - HALF), self.daemonLog())

    def test_node_has_it(self):
        """
        The node has the object: the client's upload is dropped, it is told
        SUCCESS, and the session goes on in step.
        """
        s = RawSession(self, self.uuids["n1"])
        self.put(s)
        self.put(s)
        s.say(b"CHECKPRESENT " + KEY.encode() + b"\n")
        s.expect(b"SUCCESS")
        self.assertEqual(s.close(), 0)
        self.assertEqual(self.stored(), CONTENT)
