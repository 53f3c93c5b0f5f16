"""
Moving C{DATA} payloads between transports with backpressure.

A L{Relay} takes the bytes one source transport delivers and writes them to
one or more sink transports.  It registers itself as a streaming producer
with every sink, and pauses the source while I{any} sink has a full write
buffer, so a fan-out is paced by its slowest sink and the relay's memory
stays bounded by the transports' buffers whatever the size of the object.

Each sink may skip a prefix of the stream (its resume offset), which is how
one client upload feeds nodes that resume from different offsets.  A sink
that breaks, or (given a stall timeout) stays full that long, is dropped and
the others go on.
"""

from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from annexrelay.streams.kernel import write as _write


class StallWatch:
    """
    Reports a sink that takes no data for C{timeout} seconds: armed while
    the relay waits for the sink to drain, disarmed when it does.  With a
    C{timeout} of None it never fires.
    """

    def __init__(self, clock, timeout, expired):
        self._clock = clock
        self._timeout = timeout
        self._expired = expired
        self._call = None

    def arm(self):
        if self._timeout is not None and self._call is None:
            self._call = self._clock.callLater(self._timeout, self._fire)

    def disarm(self):
        if self._call is not None:
            self._call.cancel()
            self._call = None

    def _fire(self):
        self._call = None
        self._expired("it took no data for %g seconds" % (self._timeout,))


@implementer(IPushProducer)
class _SinkProducer:
    """
    What one sink sees as its producer: pause/resume requests are counted by
    the L{Relay}.
    """

    def __init__(self, relay, sink):
        self._relay = relay
        self._sink = sink
        self.paused = False
        self.stall = StallWatch(relay.clock, relay.stallTimeout, lambda why: relay.dropSink(sink, why))

    def pauseProducing(self):
        if not self.paused:
            self.paused = True
            self._relay._sinkPaused(self)

    def resumeProducing(self):
        if self.paused:
            self.paused = False
            self._relay._sinkResumed(self)

    def stopProducing(self):
        self._relay.dropSink(self._sink, "the destination went away")


class Relay:
    """
    One source, N sinks.

    @ivar source: the transport the bytes come from (an L{IPushProducer}).
    @ivar sinks: the transports the bytes go to, each with the number of
        leading bytes it should not get.
    @ivar stallTimeout: seconds a sink may stay full before it is dropped
        (None: for ever), timed on C{clock}.
    @ivar dropped: C{[(transport, why)]}, the sinks dropped on the way.
    @ivar onDrop: if not None, called as C{onDrop(transport, why)} when a
        sink is dropped.
    """

    def __init__(self, source, sinks, stallTimeout=None, clock=None, onDrop=None):
        self.source = source
        self.stallTimeout = stallTimeout
        self.clock = clock
        self.onDrop = onDrop
        self.dropped = []
        self._skip = {}
        self._producers = {}
        self._pausedSinks = 0
        self._sourcePaused = False
        self.written = 0
        for sink, skip in sinks:
            self._skip[sink] = skip
            producer = _SinkProducer(self, sink)
            self._producers[sink] = producer
            sink.registerProducer(producer, True)

    @property
    def sinks(self):
        return list(self._skip)

    def write(self, data):
        """
        Pass one chunk from the source to every sink (minus what each skips).
        """
        self.written += len(data)
        for sink, skip in self._skip.items():
            if skip == 0:
                _write(sink, data)
            elif skip >= len(data):
                self._skip[sink] = skip - len(data)
            else:
                self._skip[sink] = 0
                _write(sink, data[skip:])

    def dropSink(self, sink, why="dropped"):
        """
        Stop writing to C{sink} (it failed); the others go on.
        """
        producer = self._producers.pop(sink, None)
        if producer is None:
            return
        self.dropped.append((sink, why))
        del self._skip[sink]
        if self._letGo(sink, producer):
            self._sinkResumed(producer)
        if self.onDrop is not None:
            self.onDrop(sink, why)

    def finish(self):
        """
        The payload is complete: unregister from every sink and let the
        source read again.
        """
        for sink in list(self._producers):
            self._letGo(sink, self._producers.pop(sink))
        self._skip.clear()
        self._pausedSinks = 0
        self._resumeSource()

    @staticmethod
    def _letGo(sink, producer):
        """
        Stop being C{sink}'s producer.

        @return: whether the sink had paused us.
        """
        producer.stall.disarm()
        try:
            sink.unregisterProducer()
        except Exception:
            pass
        paused, producer.paused = producer.paused, False
        return paused

    # Pacing

    def _sinkPaused(self, producer):
        self._pausedSinks += 1
        producer.stall.arm()
        if not self._sourcePaused:
            self._sourcePaused = True
            self.source.pauseProducing()

    def _sinkResumed(self, producer):
        producer.stall.disarm()
        self._pausedSinks -= 1
        if self._pausedSinks == 0:
            self._resumeSource()

    def _resumeSource(self):
        if self._sourcePaused:
            self._sourcePaused = False
            self.source.resumeProducing()
