"""
Who runs next, as pure bookkeeping (no clock, no I/O): the annex+http
door's admission policy, driven by L{annexrelay.frontdoor.http.admission}.

 - at most C{limit} requests run at once (None: no bound), and at most
   C{perAddress} from one client address;
 - a request that may not run yet waits, unless C{maxWaiting} already
   wait (the queue is full: it is refused at once);
 - waiters are FIFO within an address and served round-robin between
   addresses, so one client with a hundred requests queued does not starve
   another with one;
 - a new request never overtakes a waiter of its own address.
"""

import collections

RUN, WAIT, FULL = "run", "wait", "full"


class FairQueue:
    """
    @ivar running: the number of running requests.
    @ivar waiting: the number of waiting requests.
    """

    def __init__(self, limit=None, perAddress=None, maxWaiting=1000):
        self.limit = limit
        self.perAddress = perAddress
        self.maxWaiting = maxWaiting
        self.running = 0
        self.waiting = 0
        self._runningBy = collections.Counter()
        # address -> FIFO of tokens; the dict's order is the round-robin
        # order (the address served last goes to the end).
        self._queues = collections.OrderedDict()

    @property
    def full(self):
        return self.waiting >= self.maxWaiting

    def _mayRun(self, address):
        if self.limit is not None and self.running >= self.limit:
            return False
        return self.perAddress is None or self._runningBy[address] < self.perAddress

    def _start(self, address):
        self.running += 1
        self._runningBy[address] += 1

    def offer(self, address, token):
        """
        A request from C{address} arrives.

        @return: L{RUN} (it counts as running now), L{WAIT} (C{token} is
            queued) or L{FULL} (refused).
        """
        if address not in self._queues and self._mayRun(address):
            self._start(address)
            return RUN
        if self.full:
            return FULL
        self._queues.setdefault(address, collections.deque()).append(token)
        self.waiting += 1
        return WAIT

    def withdraw(self, address, token):
        """
        A waiter gives up (timed out, or its client went away).

        @return: whether it was waiting.
        """
        q = self._queues.get(address)
        if q is None or token not in q:
            return False
        q.remove(token)
        self.waiting -= 1
        if not q:
            del self._queues[address]
        return True

    def clear(self):
        """
        Empty the queue.

        @return: the C{(address, token)}s that were waiting.
        """
        out = [(a, t) for a, q in self._queues.items() for t in q]
        self._queues.clear()
        self.waiting = 0
        return out

    def finish(self, address):
        """
        A running request from C{address} ended.

        @return: the C{(address, token)}s that run now, in order.
        """
        self.running -= 1
        self._runningBy[address] -= 1
        if self._runningBy[address] <= 0:
            del self._runningBy[address]
        return self._dispatch()

    def _dispatch(self):
        started = []
        progress = True
        while progress and self._queues:
            progress = False
            for address in list(self._queues):
                if not self._mayRun(address):
                    continue
                q = self._queues[address]
                started.append((address, q.popleft()))
                self.waiting -= 1
                self._start(address)
                if q:
                    self._queues.move_to_end(address)
                else:
                    del self._queues[address]
                progress = True
                break
        return started
