"""
SIGTERM under load, with real nodes: the daemon stops accepting requests at
once (each new one gets C{ERROR shutting down}), lets the transfers in
flight finish within C{--shutdown-grace}, commits every record and exits.
Raw clients send PUT after PUT on several sessions while it happens.
"""

import hashlib
import os
import signal
import threading
import time

from tests.interop.test_faults import RawSession
from tests.interop.test_interop import InteropCase

GRACE = 3.0
SESSIONS = 4


def _object(session, n):
    content = (b"session %d object %d\n" % (session, n)) * 200
    return content, "SHA256E-s%d--%s" % (len(content), hashlib.sha256(content).hexdigest())


class _Uploader(threading.Thread):
    """
    One session storing object after object until the daemon stops it;
    remembers each SUCCESS and when it came, and the session's last line.
    """

    def __init__(self, session, number):
        threading.Thread.__init__(self, daemon=True)
        self.session = session
        self.number = number
        self.stored = []
        self.last = None
        self.error = None

    def run(self):
        s = self.session
        try:
            for n in range(100000):
                content, key = _object(self.number, n)
                s.say(b"PUT f " + key.encode() + b"\n")
                reply = s.line()
                if reply != b"PUT-FROM 0":
                    self.last = reply
                    return
                s.say(b"DATA %d\n" % len(content) + content + b"VALID\n")
                reply = s.line()
                if reply != b"SUCCESS":
                    self.last = reply
                    return
                self.stored.append((key, time.monotonic()))
        except (BrokenPipeError, ValueError, OSError) as e:
            # The session ended while this client was still writing: what
            # it was told is still there to read.
            self.error = e
            try:
                self.last = s.line()
            except (ValueError, OSError):
                pass


class ShutdownTests(InteropCase):
    daemonArgs = ("--shutdown-grace", str(GRACE))

    def test_sigterm_under_load(self):
        target = self.uuids["n1"]
        uploaders = [_Uploader(RawSession(self, target), i) for i in range(SESSIONS)]
        for u in uploaders:
            u.start()
        deadline = time.monotonic() + 60
        while min(len(u.stored) for u in uploaders) < 5:
            self.assertLess(time.monotonic(), deadline, "uploads did not get going")
            self.assertTrue(all(u.is_alive() for u in uploaders), [(u.last, u.error) for u in uploaders])
            time.sleep(0.02)
        stopped = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=GRACE + 30)
        took = time.monotonic() - stopped
        for u in uploaders:
            u.join(30)
        log = self.daemonLog()
        self.assertLess(took, GRACE + 2, log[-3000:])
        # At most the transfer in flight on each session completed after
        # SIGTERM; then each session was told why it ended.
        after = sum(1 for u in uploaders for _, t in u.stored if t > stopped)
        self.assertLessEqual(after, SESSIONS, log[-3000:])
        for u in uploaders:
            self.assertIn(u.last, (b"ERROR shutting down", b""), (u.last, u.error))
        self.assertIn("shutting down", log)
        # Every SUCCESS a client got is in the proxy's committed location log.
        stored = [key for u in uploaders for key, _ in u.stored]
        self.assertGreater(len(stored), 0)
        missing = [k for k in stored if not any(l.endswith(" 1 " + target) for l in self.proxyLog(k).splitlines())]
        self.assertEqual(missing, [], log[-3000:])
        self.assertNotIn("Unhandled Error", log)
        self.assertNotIn("Traceback", log)
        self.assertFalse(os.path.exists(os.path.join(self.s.proxy, ".git", "annex", "annexrelay-pending.log")))
