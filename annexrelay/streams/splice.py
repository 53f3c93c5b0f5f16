"""
Moving a C{DATA} payload from one transport to another inside the kernel
(Linux C{splice(2)}), so its bytes never enter the relay's memory.

A L{Splice} borrows the source transport's descriptor: while it runs, the
reactor's "readable" events on it move up to 1 MiB straight to the
destination's descriptor (directly when either is a pipe, through a private
pipe otherwise).  When the destination is full the source is not read until
Twisted finds the destination writable again, so backpressure is the same
as with L{annexrelay.streams.memory.Relay}.  When the payload is complete
the source transport gets its own reading back, and the protocol goes on
with the next line.
"""

import os

from zope.interface import implementer
from twisted.internet import defer, main
from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure

from annexrelay.streams import kernel, pipes
from annexrelay.streams.kernel import ShortData
from annexrelay.streams.pipes import CHUNK

# Wake-up coalescing: when a wake-up found little to move and much is still
# to come, let the (1 MiB) pipe fill for a moment before reading again.  A
# relay that woke for every 32 KiB the sender writes spends its CPU in the
# event loop, not on the bytes.
COALESCE_BELOW = 256 * 1024
COALESCE_DELAY = 0.002


class KernelMover:
    """
    What a payload moved in the kernel (L{Splice}, and
    L{annexrelay.streams.fanout.Fanout}) does with its source: it borrows
    the source descriptor's reads for the payload, pauses them briefly to
    coalesce wake-ups, ends with L{ShortData} if the source is lost, and at
    the end gives the reads back (reading on after a complete payload).

    Subclasses provide C{_doRead}, C{_readAgain} (the coalescing pause is
    over) and C{_release} (their own descriptors and producers).
    """

    def __init__(self, src, n):
        self.src = kernel.readDescriptor(src)
        self.total = n
        self.remaining = n
        self.done = defer.Deferred()
        self._finished = False
        self._timer = None
        self._savedRead = None

    def _borrowReads(self):
        self._savedRead = kernel.borrowReads(self.src, self._doRead)

    def _pauseBriefly(self):
        self.src.stopReading()
        self._timer = self.src.reactor.callLater(COALESCE_DELAY, self._readAgain)

    def sourceLost(self):
        """
        The source's connection is gone (the client or node went away, or
        its descriptor was closed under us): end with L{ShortData} now
        rather than wait for reads that will never come.
        """
        self._finish(Failure(ShortData(self.total, self.total - self.remaining)))

    def _finish(self, failure):
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        kernel.giveBackReads(self.src, self._savedRead)
        self._release()
        if failure is None:
            if self.src.connected and not self.src.disconnecting:
                self.src.startReading()
            self.done.callback(self.total)
        else:
            if self.src.connected:
                self.src.stopReading()
            self.done.errback(failure)


@implementer(IPushProducer)
class Splice(KernelMover):
    """
    Move C{n} bytes from transport C{src} to transport C{dst}.

    @ivar done: fires with C{n} when all are moved; fails with L{ShortData}
        if the source ends first, or with the error if the destination
        breaks.
    """

    def __init__(self, src, dst, n):
        KernelMover.__init__(self, src, n)
        self.dst = kernel.writeDescriptor(dst)
        self._inPipe = 0
        self._waitingForDestination = False
        self._srcFd = self.src.fileno()
        self._dstFd = self.dst.fileno()
        self._pipe = None
        for fd in (self._srcFd, self._dstFd):
            pipes.widen(fd)
        if not (pipes.isPipe(self._srcFd) or pipes.isPipe(self._dstFd)):
            self._pipe = pipes.privatePipe()

    def start(self):
        self.dst.registerProducer(self, True)
        self._borrowReads()
        if kernel.hasQueuedOutput(self.dst):
            self._waitForDestination()
        else:
            self.src.startReading()
        return self.done

    # The source's reads

    def _doRead(self):
        # Move as much as is there now: one wake-up, several moves.
        moved = 0
        for _ in range(16):
            want = min(self.remaining, CHUNK)
            try:
                if self._pipe is None:
                    k = pipes.splice(self._srcFd, self._dstFd, want)
                else:
                    k = pipes.splice(self._srcFd, self._pipe[1], want)
            except BlockingIOError:
                # Nothing more to read now, or the destination is full: if
                # the latter, wait until Twisted finds it writable.
                if self._pipe is None and moved == 0:
                    self._waitForDestination()
                elif moved < COALESCE_BELOW and self.remaining > CHUNK:
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
            if self._pipe is not None:
                self._inPipe += k
                try:
                    drained = self._drain()
                except OSError as e:
                    self._finish(Failure(e))
                    return None
                if not drained:
                    self._waitForDestination()
                    return None
            if self.remaining == 0:
                self._finish(None)
                return None
        return None

    def _drain(self):
        while self._inPipe:
            try:
                k = pipes.splice(self._pipe[0], self._dstFd, self._inPipe)
            except BlockingIOError:
                return False
            self._inPipe -= k
        return True

    def _readAgain(self):
        self._timer = None
        if not self._finished and not self._waitingForDestination and self.src.connected:
            self.src.startReading()

    def _waitForDestination(self):
        self._waitingForDestination = True
        self.src.stopReading()
        self.dst.producerPaused = True
        self.dst.startWriting()

    # IPushProducer, towards the destination

    def pauseProducing(self):
        if not self._finished:
            self.src.stopReading()

    def resumeProducing(self):
        self._waitingForDestination = False
        if self._finished:
            return
        try:
            drained = self._drain()
        except OSError as e:
            self._finish(Failure(e))
            return
        if not drained:
            self._waitForDestination()
            return
        if self.remaining == 0:
            self._finish(None)
            return
        if self._timer is None:
            self.src.startReading()

    def stopProducing(self):
        self._finish(Failure(ConnectionError("the destination went away")))

    def _release(self):
        if self.dst.producer is self:
            self.dst.unregisterProducer()
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
