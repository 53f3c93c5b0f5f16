"""
One client upload to several nodes inside the kernel: Linux C{splice(2)}
and C{tee(2)}, so the payload never enters the relay's memory however many
nodes get it.

A L{Fanout} moves the payload in rounds of up to 1 MiB.  Each round is
spliced from the source into a private pipe, duplicated (C{tee}, page
references, no copy) into one private pipe per node, and each of those is
spliced on to its node.  The next round starts only when every node took
the previous one, so the upload is paced by the slowest node and at most
one round per node is in flight.  A node that starts later in the stream
(its resume offset) has its first bytes discarded from its own pipe.  A
node that breaks, or (given a stall timeout) takes no bytes for that long
while it holds the others up, is dropped and the others go on; the source
is read to the end of the payload regardless.
"""

import os

from zope.interface import implementer
from twisted.internet import main
from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure

from annexrelay.streams import kernel, pipes
from annexrelay.streams.kernel import ShortData
from annexrelay.streams.pipes import CHUNK
from annexrelay.streams.memory import StallWatch
from annexrelay.streams.splice import COALESCE_BELOW, COALESCE_DELAY, KernelMover

available = pipes.HAVE_TEE


@implementer(IPushProducer)
class _Sink:
    """
    One node's side of a fan-out: the Twisted writer of its transport tells
    it when the node can take more.
    """

    def __init__(self, fanout, index, transport, skip):
        self.fanout = fanout
        self.index = index
        self.transport = transport
        self.writer = kernel.writeDescriptor(transport)
        self.fd = self.writer.fileno()
        self.skip = skip
        self.pending = 0  # bytes of this round in our pipe, not yet sent
        self.waiting = False  # for Twisted to find the node writable
        self.dead = False
        self.timer = None  # a pending retry (see Fanout._sinkWritable)
        # Armed while we wait for the node to drain.
        self.stall = StallWatch(fanout.clock, fanout.stallTimeout, lambda why: fanout._drop(self, why))
        pipes.widen(self.fd)
        self.pipe = pipes.privatePipe()

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        self.fanout._sinkWritable(self)

    def stopProducing(self):
        self.fanout._drop(self, "the node went away")


class Fanout(KernelMover):
    """
    Move C{n} payload bytes from transport C{src} to C{sinks}
    (C{[(transport, skip)]}).

    @param stallTimeout: seconds a node may take nothing while the fan-out
        waits for it before it is dropped; None waits for ever.
    @param clock: the L{IReactorTime} for the stall timeout (the source's
        reactor if not given).
    @param onDrop: if not None, called as C{onDrop(transport, why)} when a
        sink is dropped.

    @ivar dropped: C{[(transport, why)]}, the sinks that broke (or stalled)
        on the way.
    """

    def __init__(self, src, sinks, n, stallTimeout=None, clock=None, onDrop=None):
        KernelMover.__init__(self, src, n)
        self.onDrop = onDrop
        self.stallTimeout = stallTimeout
        self.clock = clock or self.src.reactor
        self.dropped = []
        self._inRound = False
        self._srcFd = self.src.fileno()
        pipes.widen(self._srcFd)
        self._round = pipes.privatePipe()
        self._null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        self._sinks = [_Sink(self, i, t, skip) for i, (t, skip) in enumerate(sinks)]

    def start(self):
        self._borrowReads()
        for s in self._sinks:
            s.writer.registerProducer(s, True)
            if kernel.hasQueuedOutput(s.writer):
                # What Twisted still holds for this node goes first.
                self._waitFor(s)
        if not any(s.waiting for s in self._sinks):
            self.src.startReading()
        return self.done

    def _alive(self):
        return [s for s in self._sinks if not s.dead]

    # Rounds

    def _doRead(self):
        moved = 0
        for _ in range(16):
            try:
                k = pipes.splice(self._srcFd, self._round[1], min(self.remaining, CHUNK))
            except BlockingIOError:
                if moved < COALESCE_BELOW and self.remaining > CHUNK:
                    self._pauseBriefly()
                return None
            except OSError as e:
                self._finish(Failure(e))
                return None
            if k == 0:
                self._finish(Failure(ShortData(self.total, self.total - self.remaining)))
                return main.CONNECTION_DONE
            moved += k
            self.remaining -= k
            self._inRound = True
            try:
                self._spread(k)
            except OSError as e:
                self._finish(Failure(e))
                return None
            finally:
                self._inRound = False
            if any(s.pending or s.waiting for s in self._alive()):
                self.src.stopReading()
                return None
            if self.remaining == 0:
                self._finish(None)
                return None
        return None

    def _spread(self, k):
        """
        Give the C{k} bytes now in the round pipe to every live node.
        """
        for s in self._alive():
            try:
                got = pipes.tee(self._round[0], s.pipe[1], k)
            except OSError as e:
                self._drop(s, "tee: %s" % (e,))
                continue
            if got != k:
                # Cannot happen with empty pipes of equal size; be safe.
                self._drop(s, "tee moved %d of %d bytes" % (got, k))
                continue
            s.pending = k
            if s.skip:
                cut = min(s.skip, k)
                pipes.discard(s.pipe[0], cut)
                s.skip -= cut
                s.pending -= cut
        left = k
        while left:
            left -= os.splice(self._round[0], self._null, left)
        for s in self._alive():
            self._send(s)

    def _send(self, s):
        """
        Splice what is in C{s}'s pipe on to its node; wait for the node to
        be writable if it is full.
        """
        while s.pending:
            try:
                s.pending -= pipes.splice(s.pipe[0], s.fd, s.pending)
            except BlockingIOError:
                self._waitFor(s)
                return
            except OSError as e:
                self._drop(s, str(e))
                return

    def _waitFor(self, s):
        s.waiting = True
        s.stall.arm()
        s.writer.producerPaused = True
        s.writer.startWriting()

    def _sinkWritable(self, s):
        """
        Twisted found the node's pipe writable: some room, maybe very little.
        While more than half of it is still queued, let the node read on for
        a moment rather than wake for every page it frees.
        """
        if self._finished or s.dead:
            return
        if pipes.queued(s.fd) > CHUNK // 2:
            if s.timer is None:
                s.timer = self.src.reactor.callLater(COALESCE_DELAY, self._retry, s)
            return
        s.waiting = False
        s.stall.disarm()
        self._send(s)
        self._maybeNextRound()

    def _retry(self, s):
        s.timer = None
        if self._finished or s.dead:
            return
        s.waiting = False
        s.stall.disarm()
        self._send(s)
        self._maybeNextRound()

    def _maybeNextRound(self):
        if self._finished or self._inRound or any(s.pending or s.waiting for s in self._alive()):
            return
        if self.remaining == 0:
            self._finish(None)
        elif self._timer is None:
            self.src.startReading()

    def _drop(self, s, why):
        if s.dead:
            return
        s.dead = True
        s.pending = 0
        if s.timer is not None:
            s.timer.cancel()
            s.timer = None
        s.stall.disarm()
        self.dropped.append((s.transport, why))
        if s.writer.producer is s:
            s.writer.unregisterProducer()
        for fd in s.pipe:
            os.close(fd)
        if self.onDrop is not None:
            self.onDrop(s.transport, why)
        if not self._finished:
            self._maybeNextRound()

    def _readAgain(self):
        self._timer = None
        self._maybeNextRound()

    def _release(self):
        for s in self._sinks:
            if s.timer is not None:
                s.timer.cancel()
                s.timer = None
            s.stall.disarm()
            if not s.dead:
                if s.writer.producer is s:
                    s.writer.unregisterProducer()
                for fd in s.pipe:
                    os.close(fd)
        for fd in self._round + (self._null,):
            os.close(fd)
