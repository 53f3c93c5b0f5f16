"""
Admission of annex+http requests, on a L{Clock}: the fair queue's policy
(pure), waits that end in service or in a 503 refusal, cancellation,
fairness between addresses, the queue-full saturation /readyz asks, and
the metrics it drives; the held-lock limit.
"""

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.frontdoor.http.admission import Admission, Refused
from annexrelay.frontdoor.http.fairqueue import FULL, RUN, WAIT, FairQueue
from annexrelay.frontdoor.http.limits import NodeStalled, within
from annexrelay.frontdoor.http.locks import Locks
from annexrelay.operator.metrics import Metrics
from tests.frontdoor.http.test_locks import FakeLink


class FairQueueTests(unittest.TestCase):
    def test_bound_then_fifo(self):
        q = FairQueue(limit=2, perAddress=None, maxWaiting=10)
        self.assertEqual([q.offer("a", i) for i in range(4)], [RUN, RUN, WAIT, WAIT])
        self.assertEqual(q.finish("a"), [("a", 2)])
        self.assertEqual(q.finish("a"), [("a", 3)])
        self.assertEqual((q.running, q.waiting), (2, 0))

    def test_round_robin_between_addresses(self):
        q = FairQueue(limit=1, perAddress=None, maxWaiting=10)
        self.assertEqual(q.offer("a", "a0"), RUN)
        for t in ("a1", "a2", "a3"):
            q.offer("a", t)
        q.offer("b", "b1")
        q.offer("c", "c1")
        order = []
        for _ in range(5):
            (addr, token), = q.finish(order[-1][0] if order else "a")
            order.append((addr, token))
        self.assertEqual([t for _, t in order], ["a1", "b1", "c1", "a2", "a3"])

    def test_per_address_bound_lets_others_pass(self):
        q = FairQueue(limit=10, perAddress=2, maxWaiting=10)
        self.assertEqual([q.offer("a", i) for i in range(3)], [RUN, RUN, WAIT])
        self.assertEqual(q.offer("b", "b"), RUN)
        self.assertEqual(q.finish("b"), [])
        self.assertEqual(q.finish("a"), [("a", 2)])

    def test_full_and_withdraw(self):
        q = FairQueue(limit=1, perAddress=None, maxWaiting=2)
        q.offer("a", 0)
        self.assertEqual([q.offer("b", 1), q.offer("b", 2), q.offer("c", 3)], [WAIT, WAIT, FULL])
        self.assertTrue(q.full)
        self.assertTrue(q.withdraw("b", 1))
        self.assertFalse(q.withdraw("b", 1))
        self.assertFalse(q.full)
        self.assertEqual(q.finish("a"), [("b", 2)])

    def test_no_bound(self):
        q = FairQueue(limit=None, perAddress=None)
        self.assertEqual({q.offer("a", i) for i in range(500)}, {RUN})


class AdmissionTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.metrics = Metrics(CollectorRegistry(), self.clock)
        self.admission = Admission(self.clock, limit=2, perAddress=None, timeout=30, maxWaiting=3, metrics=self.metrics)

    def admit(self, address="10.0.0.1"):
        results = []
        self.admission.admit(address).addBoth(results.append)
        return results

    def queued(self):
        return self.metrics.queued._value.get()

    def refusals(self):
        return self.metrics.refusals._value.get()

    def test_wait_then_serve(self):
        a, b, c = self.admit(), self.admit(), self.admit()
        self.assertEqual((len(a), len(b), c), (1, 1, []))
        self.assertEqual(self.queued(), 1)
        self.clock.advance(29)
        a[0].release()
        a[0].release()  # (twice does nothing)
        self.assertEqual(len(c), 1)
        self.assertEqual((self.queued(), self.admission.queue.running), (0, 2))
        self.clock.advance(100)
        self.assertEqual(self.refusals(), 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_refused_past_the_timeout(self):
        self.admit(), self.admit()
        c = self.admit()
        self.clock.advance(30)
        self.assertIsInstance(c[0].value, Refused)
        self.assertEqual(c[0].value.retryAfter, 30)
        self.assertIn(b"30 seconds", c[0].value.why)
        self.assertEqual((self.queued(), self.refusals()), (0, 1))

    def test_full_queue_refuses_at_once_and_saturates(self):
        self.admit(), self.admit()
        waiting = [self.admit() for _ in range(3)]
        self.assertEqual(self.admission.saturated(), "annex+http admission queue full (3 requests waiting)")
        d = self.admit()
        self.assertIsInstance(d[0].value, Refused)
        self.assertEqual(self.refusals(), 1)
        self.clock.advance(30)
        self.assertEqual(self.admission.saturated(), "")
        self.assertEqual([type(w[0].value) for w in waiting], [Refused] * 3)

    def test_cancelled_waiter_leaves_the_queue(self):
        a = self.admit()
        self.admit()
        d = self.admission.admit("10.0.0.9")
        d.addErrback(lambda f: f.trap(defer.CancelledError))
        self.assertEqual(self.queued(), 1)
        d.cancel()
        self.assertEqual((self.queued(), self.clock.getDelayedCalls()), (0, []))
        a[0].release()
        self.assertEqual(self.admission.queue.running, 1)

    def test_refuse_all_at_stop(self):
        self.admit(), self.admit()
        waiting = [self.admit("x"), self.admit("y")]
        self.admission.refuseAll()
        self.assertEqual([w[0].value.why for w in waiting], [b"the server is shutting down"] * 2)
        self.assertEqual((self.queued(), self.clock.getDelayedCalls()), (0, []))

    def test_no_queue(self):
        admission = Admission(self.clock, limit=1, timeout=30, maxWaiting=0)
        self.assertEqual(admission.saturated(), "")
        first = []
        admission.admit("a").addCallback(first.append)
        self.assertEqual(admission.saturated(), "annex+http: all 1 request slots busy (no queue)")
        refused = []
        admission.admit("b").addErrback(refused.append)
        self.assertIsInstance(refused[0].value, Refused)
        first[0].release()
        self.assertEqual(admission.saturated(), "")

    def test_fair_between_addresses(self):
        admission = Admission(self.clock, limit=1, perAddress=None, timeout=30, maxWaiting=100)
        served = []
        first = []
        admission.admit("greedy").addCallback(first.append)
        for i in range(5):
            admission.admit("greedy").addCallback(lambda t, i=i: served.append(("greedy", t)))
        admission.admit("modest").addCallback(lambda t: served.append(("modest", t)))
        first[0].release()
        served[-1][1].release()
        self.assertEqual([who for who, _ in served], ["greedy", "modest"])


class ReadyzTests(unittest.TestCase):
    def test_readyz_flips_with_the_queue(self):
        from annexrelay.operator.web import OperatorResource

        class Core:
            stopping = False
            saturation = []

        class Status:
            core = Core()

        clock = Clock()
        admission = Admission(clock, limit=1, timeout=5, maxWaiting=1)
        Core.saturation.append(admission.saturated)
        web = OperatorResource(Status(), CollectorRegistry())
        self.assertEqual(web._readyz()[0], 200)
        admission.admit("a")
        admission.admit("a").addErrback(lambda f: None)
        status, _, body = web._readyz()
        self.assertEqual((status, body), (503, b"not ready: annex+http admission queue full (1 requests waiting)\n"))
        clock.advance(5)
        self.assertEqual(web._readyz()[0], 200)


class LockLimitTests(unittest.TestCase):
    def test_past_the_limit_no_lock(self):
        locks = Locks(Clock(), limit=1)
        self.assertIsNotNone(locks.add(FakeLink(), b"K"))
        self.assertTrue(locks.full)
        self.assertIsNone(locks.add(FakeLink(), b"L"))
        self.assertEqual(len(locks), 1)


class WithinTests(unittest.TestCase):
    def test_answer_in_time(self):
        clock = Clock()
        d = defer.Deferred()
        out = []
        within(clock, 10, d, "CHECKPRESENT").addBoth(out.append)
        d.callback("SUCCESS")
        self.assertEqual((out, clock.getDelayedCalls()), (["SUCCESS"], []))

    def test_stall(self):
        clock = Clock()
        d = defer.Deferred()
        out = []
        within(clock, 10, d, "CHECKPRESENT").addBoth(out.append)
        clock.advance(10)
        self.assertIsInstance(out[0].value, NodeStalled)
        self.assertEqual(str(out[0].value), "no answer from the node to CHECKPRESENT in 10 seconds")
        d.errback(RuntimeError("late"))  # dropped, not unhandled


class OptionsTests(unittest.TestCase):
    def test_flags_to_limits(self):
        from annexrelay.frontdoor.http.limits import Limits
        from annexrelay.tap import Options

        o = Options()
        o.parseOptions(["--repo", "/tmp/x", "--p2phttp", "tcp:0", "--max-requests", "0", "--lockedfiles", "3", "--node-timeout", "5"])
        self.assertEqual(
            Limits.fromOptions(o),
            Limits(maxRequests=None, perClient=16, queueTimeout=60.0, maxQueued=1000, lockedFiles=3,
                   headerTimeout=30.0, bodyTimeout=120.0, nodeTimeout=5.0),
        )
