"""
Admission of annex+http requests: a bound on the requests the door serves
at once (C{--max-requests}, C{--max-requests-per-client}), a queue in
front of it (L{annexrelay.frontdoor.http.fairqueue}: FIFO, fair between
client addresses), and a bound on the wait (C{--queue-timeout}).

git-annex's client has no response timeout and takes a 503 as a failed
key unless C{annex.retry} is set, so a request over the bound waits
rather than failing at once; only past the queue timeout, or when the
queue itself is full, is it refused: 503 with C{Retry-After} and a
sentence saying why.

The door asks admission only for requests that open a P2P session (the
refused ones, 400 to 404, never wait), and never for C{keeplocked}: it
holds no session of its own (the lock's is held by the door's
L{annexrelay.frontdoor.http.locks.Locks}, bounded by C{--lockedfiles}) and
lasts as long as the client's drop, so it must never wait behind, or take
the place of, the requests that drop makes.  A waiting request holds
nothing but its HTTP connection (its body is not read: the client is
paused by TCP).
"""

import math

from twisted.internet import defer

from annexrelay.frontdoor.http.fairqueue import FULL, RUN, FairQueue


class Refused(Exception):
    """
    The request is refused for load: 503.

    @ivar why: the sentence for the client (bytes).
    @ivar retryAfter: seconds, for C{Retry-After}.
    """

    def __init__(self, why, retryAfter):
        Exception.__init__(self, why)
        self.why = why
        self.retryAfter = retryAfter


class Ticket:
    """
    A running request's place; L{release} it when the request ends (once;
    again does nothing).
    """

    def __init__(self, admission, address):
        self._admission = admission
        self.address = address
        self.released = False

    def release(self):
        if not self.released:
            self.released = True
            self._admission._finished(self.address)


class _Waiter:
    def __init__(self, address):
        self.address = address
        self.deferred = None
        self.timer = None


class Admission:
    """
    @param clock: an C{IReactorTime} (the queue timeout).
    @param limit: requests served at once (None: no bound).
    @param perAddress: requests served at once for one client address
        (None: no bound).
    @param timeout: seconds a request may wait.
    @param maxWaiting: requests that may wait; past it, 503 at once.
    @param metrics: the daemon's L{annexrelay.operator.metrics.Metrics}
        (its C{queued} gauge and C{refusals} counter), or None.
    """

    def __init__(self, clock, limit=None, perAddress=None, timeout=30.0, maxWaiting=1000, metrics=None):
        self.clock = clock
        self.timeout = timeout
        self.metrics = metrics
        self.queue = FairQueue(limit, perAddress, maxWaiting)
        self.retryAfter = max(1, int(math.ceil(min(timeout, 60))))

    def admit(self, address):
        """
        @return: a L{Deferred} firing with a L{Ticket} once the request may
            run, failing with L{Refused} past the timeout or at once when
            the queue is full; cancel it when the client goes away.
        """
        waiter = _Waiter(address)
        outcome = self.queue.offer(address, waiter)
        if outcome == RUN:
            return defer.succeed(Ticket(self, address))
        if outcome == FULL:
            return defer.fail(self._refuse(b"too many requests are waiting (%d); retry later" % (self.queue.waiting,)))
        waiter.deferred = defer.Deferred(lambda d: self._withdraw(waiter))
        waiter.timer = self.clock.callLater(self.timeout, self._expire, waiter)
        self._gauge()
        return waiter.deferred

    def saturated(self):
        """
        Why new requests are being refused now (the queue is full), or
        C{""}: what C{/readyz} asks.
        """
        q = self.queue
        if q.maxWaiting > 0 and q.full:
            return "annex+http admission queue full (%d requests waiting)" % (q.waiting,)
        if q.maxWaiting == 0 and q.limit is not None and q.running >= q.limit:
            return "annex+http: all %d request slots busy (no queue)" % (q.limit,)
        return ""

    def refuseAll(self, why=b"the server is shutting down"):
        """
        Refuse every waiting request now (the door stops).
        """
        waiters = self.queue.clear()
        self._gauge()
        for _, waiter in waiters:
            if waiter.timer.active():
                waiter.timer.cancel()
        for _, waiter in waiters:
            waiter.deferred.errback(self._refuse(why))

    def _refuse(self, why):
        if self.metrics is not None:
            self.metrics.refusals.inc()
        return Refused(why, self.retryAfter)

    def _withdraw(self, waiter):
        if self.queue.withdraw(waiter.address, waiter):
            if waiter.timer.active():
                waiter.timer.cancel()
            self._gauge()

    def _expire(self, waiter):
        if self.queue.withdraw(waiter.address, waiter):
            self._gauge()
            waiter.deferred.errback(
                self._refuse(b"the server is busy: no request slot came free in %g seconds; retry later" % (self.timeout,))
            )

    def _finished(self, address):
        started = self.queue.finish(address)
        self._gauge()
        for address, waiter in started:
            if waiter.timer.active():
                waiter.timer.cancel()
        for address, waiter in started:
            waiter.deferred.callback(Ticket(self, address))

    def _gauge(self):
        if self.metrics is not None:
            self.metrics.queued.set(self.queue.waiting)
