"""
Moving a C{DATA} payload from one transport to another inside the kernel
(Linux C{splice(2)}), so its bytes never enter the relay's memory.

A L{Splice} borrows the source transport's descriptor: while it runs, the
reactor's "readable" events on it move up to 1 MiB straight to the
destination's descriptor (directly when either is a pipe, through a private
pipe otherwise).  When the destination is full the source is not read until
Twisted finds the destination writable again, so backpressure is the same
as with L{annexrelay.streams.Relay}.  When the payload is complete the
source transport gets its own reading back, and the protocol goes on with
the next line.
"""

import os
import stat

from zope.interface import implementer
from twisted.internet import defer, main
from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure

from annexrelay.p2p.framing import ShortData

_HAVE_SPLICE = hasattr(os, "splice")
_FLAGS = getattr(os, "SPLICE_F_NONBLOCK", 0) | getattr(os, "SPLICE_F_MOVE", 0)
CHUNK = 1 << 20
# Wake-up coalescing: when a wake-up found little to move and much is still
# to come, let the (1 MiB) pipe fill for a moment before reading again.  A
# relay that woke for every 32 KiB the sender writes spends its CPU in the
# event loop, not on the bytes.
COALESCE_BELOW = 256 * 1024
COALESCE_DELAY = 0.002


def readDescriptor(transport):
    inner = getattr(transport, "_reader", transport)
    return inner if isinstance(inner, FileDescriptor) else None


def writeDescriptor(transport):
    inner = getattr(transport, "_writer", transport)
    return inner if isinstance(inner, FileDescriptor) else None


def _is_pipe(fd):
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


def _widen(fd):
    """
    Let a pipe hold up to 1 MiB, so a transfer takes a few large moves
    rather than many 64 KiB ones.
    """
    if _is_pipe(fd):
        try:
            import fcntl

            if fcntl.fcntl(fd, getattr(fcntl, "F_GETPIPE_SZ", 1032)) < CHUNK:
                fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
        except OSError:
            pass


def usable(src, dst):
    """
    Whether a payload can be spliced from transport C{src} to C{dst}.
    """
    if not _HAVE_SPLICE:
        return False
    r, w = readDescriptor(src), writeDescriptor(dst)
    if r is None or w is None or getattr(r, "TLS", False) or getattr(w, "TLS", False):
        return False
    if not (r.connected and w.connected) or r.disconnecting or w.disconnecting or w.producer is not None:
        return False
    try:
        r.fileno(), w.fileno()
    except Exception:
        return False
    return True


@implementer(IPushProducer)
class Splice:
    """
    Move C{n} bytes from transport C{src} to transport C{dst}.

    @ivar done: fires with C{n} when all are moved; fails with L{ShortData}
        if the source ends first, or with the error if the destination
        breaks.
    """

    def __init__(self, src, dst, n):
        self.src = readDescriptor(src)
        self.dst = writeDescriptor(dst)
        self.total = n
        self.remaining = n
        self.done = defer.Deferred()
        self._finished = False
        self._inPipe = 0
        self._timer = None
        self._waitingForDestination = False
        self._srcFd = self.src.fileno()
        self._dstFd = self.dst.fileno()
        self._pipe = None
        for fd in (self._srcFd, self._dstFd):
            _widen(fd)
        if not (_is_pipe(self._srcFd) or _is_pipe(self._dstFd)):
            self._pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                import fcntl

                fcntl.fcntl(self._pipe[1], getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
            except OSError:
                pass

    def start(self):
        self.dst.registerProducer(self, True)
        self._savedRead = self.src.__dict__.get("doRead")
        self.src.doRead = self._doRead
        if self.dst.dataBuffer or self.dst._tempDataBuffer:
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
                    k = os.splice(self._srcFd, self._dstFd, want, flags=_FLAGS)
                else:
                    k = os.splice(self._srcFd, self._pipe[1], want, flags=_FLAGS)
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
                k = os.splice(self._pipe[0], self._dstFd, self._inPipe, flags=_FLAGS)
            except BlockingIOError:
                return False
            self._inPipe -= k
        return True

    def _pauseBriefly(self):
        self.src.stopReading()
        self._timer = self.src.reactor.callLater(COALESCE_DELAY, self._readAgain)

    def _readAgain(self):
        self._timer = None
        if not self._finished and not self._waitingForDestination:
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

    def _finish(self, failure):
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._savedRead is not None:
            self.src.doRead = self._savedRead
        else:
            try:
                del self.src.doRead
            except AttributeError:
                pass
        if self.dst.producer is self:
            self.dst.unregisterProducer()
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
        if failure is None:
            if self.src.connected and not self.src.disconnecting:
                self.src.startReading()
            self.done.callback(self.total)
        else:
            self.done.errback(failure)


enabled = True
# Below this, setting a splice up costs more than copying.
SPLICE_FROM = 64 * 1024
log = Logger()


def _abort(transport):
    abort = getattr(transport, "abortConnection", None)
    if abort is not None:
        abort()
    else:
        transport.loseConnection()


async def relayPayload(framer, n, sinks, stallTimeout=None, clock=None, onDrop=None):
    """
    Pass the next C{n} payload bytes arriving on C{framer} to C{sinks}
    (C{[(transport, skip)]}).  To a single sink, whatever the framer has
    already read is written and the rest spliced when the kernel can; in
    every other case the bytes go through a L{Relay} with backpressure.

    With C{onDrop}, the sinks are nodes that may be left behind: one that
    breaks, or takes nothing for C{stallTimeout} seconds (if given) while
    the others wait for it, is closed and reported at once as
    C{onDrop(transport, why)}, and the others go on.  Without it, a broken
    single sink fails the relay.

    @return: C{n}; fails with L{ShortData} if the source ends early.
    """
    from annexrelay import fanout
    from annexrelay.fastwrite import write
    from annexrelay.streams import Relay

    def dropped(transport, why):
        _abort(transport)
        if onDrop is not None:
            onDrop(transport, why)

    if (
        enabled
        and onDrop is None
        and n - framer.buffered() >= SPLICE_FROM
        and len(sinks) == 1
        and sinks[0][1] == 0
        and framer.canSplice()
        and usable(framer.transport, sinks[0][0])
    ):
        dst = sinks[0][0]
        buffered = framer.takeBuffered(n)
        if buffered:
            write(dst, buffered)
        rest = n - len(buffered)
        if rest:
            try:
                await Splice(framer.transport, dst, rest).start()
            except ShortData as e:
                raise ShortData(n, len(buffered) + e.received)
            if rest >= CHUNK:
                log.debug("spliced {n} bytes", n=rest)
        return n
    if (
        enabled
        and fanout.available
        and n - framer.buffered() >= SPLICE_FROM
        and (len(sinks) > 1 or onDrop is not None)
        and framer.canSplice()
        and all(usable(framer.transport, t) for t, _ in sinks)
    ):
        buffered = framer.takeBuffered(n)
        rest = []
        for t, skip in sinks:
            if skip < len(buffered):
                write(t, buffered[skip:])
            rest.append((t, max(0, skip - len(buffered))))
        if n > len(buffered):
            f = fanout.Fanout(framer.transport, rest, n - len(buffered), stallTimeout, clock, dropped)
            try:
                await f.start()
            except ShortData as e:
                raise ShortData(n, len(buffered) + e.received)
            if n >= CHUNK:
                log.debug("spliced {n} bytes to {k} sinks", n=n, k=len(sinks))
        return n
    if n >= CHUNK:
        log.debug("relaying {n} bytes through memory", n=n)
    relay = Relay(framer.transport, sinks, stallTimeout, clock, dropped)
    try:
        await framer.readData(n, relay.write)
    finally:
        relay.finish()
    return n
