"""
A Twisted protocol that frames the P2P protocol: lines in, messages out, and
exactly C{n} raw bytes after C{DATA n}.

The framer is pull-driven: its owner asks for the next message with
L{P2PFramer.nextMessage} and, after a C{DATA n} message, for the payload with
L{P2PFramer.readData}.  Nothing is read ahead of what the owner asked for
beyond one transport read: while nobody is waiting, the transport is paused,
so a client that pipelines requests cannot make the relay buffer without
bound.
"""

from twisted.internet import defer, error
from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from annexrelay.p2p import messages
from annexrelay.streams import kernel
from annexrelay.streams.kernel import ShortData  # noqa: F401 (raised by readData)

MAX_LINE = 32768
_BUFFER_LIMIT = 65536


class LineTooLong(Exception):
    """
    The peer sent a line longer than the protocol allows.
    """


class P2PFramer(Protocol):
    """
    Lines to L{messages.Message}s, and raw mode for C{DATA} payloads.

    @ivar closed: a L{Deferred} that fires with the reason (an exception)
        when the connection is lost.
    """

    log = Logger()

    def __init__(self):
        self._buffer = b""
        self._waiter = None
        self._raw = None  # [remaining, sink, deferred, announced]
        self._pausedByMe = False
        self._lost = None
        self._lostWatchers = []
        self.closed = defer.Deferred()
        # While a payload is moved: what moves the part not read here (a
        # splice, with total and remaining), and on a framer the payload is
        # going to, the framer it comes from.
        self.mover = None
        self.source = None

    def payloadProgress(self):
        """
        C{(bytes moved, total)} of the payload arriving on this framer, or
        on the framer feeding it one, or None when no payload is moving.
        """
        if self.source is not None and self.source is not self:
            return self.source.payloadProgress()
        if self.mover is not None:
            return self.mover.total - self.mover.remaining, self.mover.total
        if self._raw is not None:
            return self._raw[3] - self._raw[0], self._raw[3]
        return None

    # Sending

    def makeConnection(self, transport):
        # The protocol is request and reply in small lines: over TCP (the
        # onion front door, tor nodes) a reply must not wait for the peer's
        # delayed ACK (Nagle), about 40 ms a file otherwise.
        noDelay = getattr(transport, "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)
        Protocol.makeConnection(self, transport)

    def sendMessage(self, msg):
        kernel.write(self.transport, messages.format(msg))

    def sendPayload(self, payload, verdict=None):
        """
        Send C{DATA len(payload)}, the payload and, if given, the
        C{VALID}/C{INVALID} that follows it, in one write: the fast path
        for small objects, one system call instead of three.
        """
        out = messages.format(messages.data(len(payload))) + payload
        if verdict is not None:
            out += messages.format(verdict)
        kernel.write(self.transport, out)

    # Receiving, pull side

    def nextMessage(self):
        """
        @return: a L{Deferred} firing with the next L{messages.Message} or
            L{messages.Unparsable}; it fails with the reason the connection
            was lost if it ends first.
        """
        assert self._waiter is None and self._raw is None, "one reader at a time"
        d = defer.Deferred()
        if self._lost is not None and b"\n" not in self._buffer:
            d.errback(self._lost)
            return d
        self._waiter = d
        self._resume()
        self._pump()
        return d

    def readData(self, n, sink):
        """
        Pass the next C{n} payload bytes to C{sink} (a callable taking bytes)
        as they arrive; C{sink=None} discards them.

        @return: a L{Deferred} firing with C{n} when all have been passed on,
            or failing with L{ShortData} if the connection ends first.
        """
        assert self._waiter is None and self._raw is None, "one reader at a time"
        d = defer.Deferred()
        if n == 0:
            d.callback(0)
            return d
        self._raw = [n, sink, d, n]
        if self._buffer:
            data, self._buffer = self._buffer, b""
            rest, done = self._feedRaw(data)
            self._buffer = rest
            if done is not None and not done.called:
                done.callback(n)
                return d
        if self._lost is not None:
            self._failRaw()
            return d
        self._resume()
        return d

    def abandonPayload(self, reason):
        """
        Give up on the payload being read (its destination broke): the
        pending L{readData} fails with C{reason} now.  What is left of the
        payload is not read; the caller ends the connection.
        """
        if self._raw is not None:
            d = self._raw[2]
            self._raw = None
            d.errback(reason)

    def canSplice(self):
        """
        Whether the payload about to be read may bypass this framer.
        """
        return self._lost is None and self._raw is None and self._waiter is None

    def buffered(self):
        """
        How many bytes this framer has read but not used yet.
        """
        return len(self._buffer)

    def takeVerdict(self):
        """
        If the next buffered line is C{VALID} or C{INVALID}, consume and
        return it; otherwise None (and nothing is consumed).
        """
        for msg in (messages.VALID, messages.INVALID):
            line = messages.format(msg)
            if self._buffer.startswith(line):
                self._buffer = self._buffer[len(line) :]
                return msg
        return None

    def takePayload(self, n, withVerdict):
        """
        When this framer already holds a whole payload of C{n} bytes (small
        objects usually come in one read), take it, and its
        C{VALID}/C{INVALID} too if C{withVerdict} and it is there.

        @return: C{(payload, verdict or None)}, or None when the payload is
            not all there (nothing is consumed then).
        """
        if self.buffered() < n:
            return None
        payload = self.takeBuffered(n)
        verdict = self.takeVerdict() if withVerdict else None
        return payload, verdict

    def takeBuffered(self, n):
        """
        Remove and return up to C{n} bytes this framer has read but not
        used: the start of a payload whose rest is passed on without it.
        """
        data = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self._resume()
        return data

    # Protocol

    def dataReceived(self, data):
        if self._raw is not None:
            data, done = self._feedRaw(data)
            if data:
                self._buffer += data
            if done is not None and not done.called:
                done.callback(self._lastAnnounced)
            if not data:
                return
        else:
            self._buffer += data
        self._pump()

    def inputEnded(self, reason):
        """
        No more bytes will come (the peer closed its side, or the
        connection is gone): fail whoever waits for more than is buffered.
        """
        if self._lost is not None:
            return
        self._lost = reason
        if self._raw is not None:
            self._failRaw()
        elif self._waiter is not None and b"\n" not in self._buffer:
            d, self._waiter = self._waiter, None
            d.errback(reason)
        watchers, self._lostWatchers = self._lostWatchers, []
        for d in watchers:
            d.callback(reason.value)

    def connectionLost(self, reason):
        self.inputEnded(reason)
        if not self.closed.called:
            self.closed.callback(reason.value)

    def whenLost(self):
        """
        @return: a new L{Deferred} that fires with the reason when no more
            input will come: the connection is lost, or the peer closed its
            side (at once if that happened already).
        """
        if self._lost is not None:
            return defer.succeed(self._lost.value)
        d = defer.Deferred(lambda d: self._lostWatchers.remove(d) if d in self._lostWatchers else None)
        self._lostWatchers.append(d)
        return d

    # Internals

    def _feedRaw(self, data):
        raw = self._raw
        remaining = raw[0]
        sink = raw[1]
        if len(data) < remaining:
            raw[0] = remaining - len(data)
            if sink is not None:
                sink(data)
            return b"", None
        if sink is not None:
            sink(data[:remaining] if len(data) > remaining else data)
        self._raw = None
        self._lastAnnounced = raw[3]
        return data[remaining:], raw[2]

    def _failRaw(self):
        remaining, _, d, announced = self._raw
        self._raw = None
        d.errback(ShortData(announced, announced - remaining))

    def _pump(self):
        while self._waiter is not None and self._raw is None:
            i = self._buffer.find(b"\n")
            if i < 0:
                if len(self._buffer) > MAX_LINE:
                    d, self._waiter = self._waiter, None
                    self._buffer = b""
                    d.errback(LineTooLong())
                elif self._lost is not None:
                    d, self._waiter = self._waiter, None
                    d.errback(self._lost)
                return
            if i > MAX_LINE:
                d, self._waiter = self._waiter, None
                self._buffer = b""
                d.errback(LineTooLong())
                return
            line = self._buffer[:i]
            self._buffer = self._buffer[i + 1 :]
            d, self._waiter = self._waiter, None
            d.callback(messages.parse(line))
        if self._waiter is None and self._raw is None and len(self._buffer) > _BUFFER_LIMIT:
            # Nobody asked for this much (a pipelining client, or a payload
            # not yet claimed): read no more until asked.
            self._pause()

    def _pause(self):
        if not self._pausedByMe and self.transport is not None and self._lost is None:
            self._pausedByMe = True
            self.transport.pauseProducing()

    def _resume(self):
        if self._pausedByMe and self._lost is None:
            self._pausedByMe = False
            self.transport.resumeProducing()

    def abort(self):
        """
        Drop the connection now, without waiting for buffered output.
        """
        if self.transport is not None and self._lost is None:
            abort = getattr(self.transport, "abortConnection", None)
            if abort is not None:
                abort()
            else:
                self.transport.loseConnection()


def isConnectionDone(failure):
    """
    True if C{failure} is a clean end of the connection.
    """
    return failure.check(error.ConnectionDone) is not None
