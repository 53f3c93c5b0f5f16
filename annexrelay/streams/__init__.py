"""
Moving C{DATA} payloads: the chooser (L{relayPayload}) and the options one
daemon moves them with (L{Streams}).

Three ways, chosen per payload:
 - L{annexrelay.streams.splice.Splice}: one sink, both ends descriptors,
   the payload large enough: moved in the kernel (C{splice(2)});
 - L{annexrelay.streams.fanout.Fanout}: several sinks (a cluster upload):
   C{splice(2)} and C{tee(2)}, paced by the slowest;
 - L{annexrelay.streams.memory.Relay}: anything else, copied through
   memory with producer/consumer backpressure.
Below the three, L{annexrelay.streams.kernel} holds the descriptor
primitives.
"""

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from annexrelay.streams import kernel, pipes
from annexrelay.streams.kernel import NothingSent, ShortData
from annexrelay.streams.fanout import Fanout, available as _canFanOut
from annexrelay.streams.memory import Relay
from annexrelay.streams.splice import Splice

# Below this, setting a splice up costs more than copying.
SPLICE_FROM = 64 * 1024

log = Logger()


def _abort(transport):
    fn = getattr(transport, "abortConnection", None)
    if fn is not None:
        fn()
    else:
        transport.loseConnection()


async def _untilSourceLost(framer, mover):
    """
    Run a L{Splice} or L{Fanout}, which read the source's descriptor
    behind its framer's back: if the source's input ends meanwhile without
    the mover seeing it (its connection is lost, or the reactor saw a hang-up
    with nothing left to read and told the transport, not the mover), the
    mover is told at once, so the payload ends (L{ShortData}) instead of
    waiting for reads that will never come.
    """
    lost = framer.whenLost()
    lost.addCallbacks(lambda _: mover.sourceLost(), lambda f: f.trap(defer.CancelledError))
    try:
        return await mover.start()
    finally:
        lost.cancel()


async def relayPayload(framer, n, sinks, stallTimeout=None, clock=None, onDrop=None, splice=True):
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

    @param splice: False copies every payload through memory.
    @return: C{n}; fails with L{ShortData} if the source ends early.
    """

    def dropped(transport, why):
        _abort(transport)
        if onDrop is not None:
            onDrop(transport, why)
        elif framer.transport is not transport:
            # The only sink broke: the payload has nowhere to go.
            framer.abandonPayload(Failure(ConnectionError(why)))

    worth = splice and n - framer.buffered() >= SPLICE_FROM and framer.canSplice()
    if worth and onDrop is None and len(sinks) == 1 and sinks[0][1] == 0 and kernel.spliceable(framer.transport, sinks[0][0]):
        dst = sinks[0][0]
        buffered = framer.takeBuffered(n)
        if buffered:
            kernel.write(dst, buffered)
        rest = n - len(buffered)
        if rest:
            framer.mover = Splice(framer.transport, dst, rest)
            try:
                await _untilSourceLost(framer, framer.mover)
            except ShortData as e:
                raise ShortData(n, len(buffered) + e.received)
            finally:
                framer.mover = None
            if rest >= pipes.CHUNK:
                log.debug("spliced {n} bytes", n=rest)
        return n
    if (
        worth
        and _canFanOut
        and (len(sinks) > 1 or onDrop is not None)
        and all(kernel.spliceable(framer.transport, t) for t, _ in sinks)
    ):
        buffered = framer.takeBuffered(n)
        rest = []
        for t, skip in sinks:
            if skip < len(buffered):
                kernel.write(t, buffered[skip:])
            rest.append((t, max(0, skip - len(buffered))))
        if n > len(buffered):
            framer.mover = f = Fanout(framer.transport, rest, n - len(buffered), stallTimeout, clock, dropped)
            try:
                await _untilSourceLost(framer, f)
            except ShortData as e:
                raise ShortData(n, len(buffered) + e.received)
            finally:
                framer.mover = None
            if n >= pipes.CHUNK:
                log.debug("spliced {n} bytes to {k} sinks", n=n, k=len(sinks))
        return n
    if n >= pipes.CHUNK:
        log.debug("relaying {n} bytes through memory", n=n)
    relay = Relay(framer.transport, sinks, stallTimeout, clock, dropped)
    try:
        await framer.readData(n, relay.write)
    finally:
        relay.finish()
    return n


class Streams:
    """
    How one daemon moves payloads between framers (a client session, node
    connections).  Targets hold one; the wiring sets its options.

    @param splice: whether payloads may be moved in the kernel
        (C{--no-splice} sets it False).
    """

    def __init__(self, splice=True):
        self.splice = splice

    async def forward(self, src, dst, header, n, withVerdict):
        """
        Pass C{header} (C{DATA n}) and the C{n} payload bytes that follow it
        on framer C{src} to framer C{dst}: in one write when they are all
        there already, streamed (spliced or relayed, with backpressure)
        otherwise.

        @return: the C{VALID}/C{INVALID} passed on with the payload, or None
            if it is still to be read.
        @raise ShortData: C{src} ended early (L{NothingSent} when nothing
            of the payload had been passed on).
        @raise OSError: C{dst} broke while a payload was spliced to it.
        """
        whole = src.takePayload(n, withVerdict)
        if whole is None and n < SPLICE_FROM:
            # A small payload that has not all arrived (peers often write
            # the DATA line on its own): gathered first, so the receiver
            # gets header, payload and verdict in one write and wakes up
            # once, not three times.  At most one read's worth is held.
            chunks = []
            try:
                await src.readData(n, chunks.append)
            except ShortData as e:
                raise NothingSent(n, e.received)
            whole = b"".join(chunks), (src.takeVerdict() if withVerdict else None)
        if whole is not None:
            payload, verdict = whole
            dst.sendPayload(payload, verdict)
            return verdict
        dst.sendMessage(header)
        dst.source = src
        try:
            await self.payload(src, n, [(dst, 0)])
        finally:
            dst.source = None
        return None

    async def payload(self, src, n, sinks, stallTimeout=None, clock=None, onDrop=None):
        """
        L{relayPayload} between framers: C{sinks} is C{[(framer, skip)]},
        and C{onDrop} is told the framer that was dropped.
        """
        byTransport = {f.transport: f for f, _ in sinks}

        def drop(transport, why):
            onDrop(byTransport[transport], why)

        return await relayPayload(
            src, n, [(f.transport, skip) for f, skip in sinks], stallTimeout, clock, drop if onDrop else None, self.splice
        )
