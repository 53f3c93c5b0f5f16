"""
Descriptors under the streams: the descriptors behind Twisted transports,
writing without waiting for the next reactor turn, wide pipe reads, and
transports over raw descriptors and process pipes.  (Pipes, C{splice(2)}
and C{tee(2)} are in L{annexrelay.streams.pipes}.)

Every use of Twisted's private internals in annexrelay is in this module
(C{_posixstdio.StandardIO}, the C{_reader}/C{_writer} halves of a stdio
transport, a descriptor's C{_tempDataBuffer}, borrowing a descriptor's
C{doRead}), so a Twisted upgrade that moves them breaks one file.

Writing: Twisted's transports queue every write and send it when the
reactor next finds the descriptor writable, one more trip round the event
loop per message.  When nothing is queued, L{write} sends at once and
queues only what the kernel did not take, so ordering and backpressure stay
Twisted's own.
"""

import errno
import functools
import os
import socket

from zope.interface import implementer
from twisted.internet import error, process
from twisted.internet._posixstdio import StandardIO
from twisted.internet.abstract import FileDescriptor
from twisted.internet.error import ConnectionAborted
from twisted.internet.interfaces import IConsumer, IPushProducer, ITransport
from twisted.internet.main import CONNECTION_DONE, CONNECTION_LOST
from twisted.python.failure import Failure

from annexrelay.streams import pipes

READ_SIZE = 65536


class ShortData(Exception):
    """
    The connection ended before all the bytes announced by C{DATA n} came.
    """

    def __init__(self, announced, received):
        Exception.__init__(self, "connection ended after %d of %d bytes" % (received, announced))
        self.announced = announced
        self.received = received


class NothingSent(ShortData):
    """
    L{ShortData} for a payload of which nothing had been passed on yet (a
    small one is gathered before it is sent): the receiver is not in the
    middle of a payload.
    """


# Descriptors behind transports


def readDescriptor(transport):
    """
    The L{FileDescriptor} a transport reads from, or None.
    """
    inner = getattr(transport, "_reader", transport)
    return inner if isinstance(inner, FileDescriptor) else None


def writeDescriptor(transport):
    """
    The L{FileDescriptor} a transport writes to, or None.
    """
    inner = getattr(transport, "_writer", transport)
    return inner if isinstance(inner, FileDescriptor) else None


def hasQueuedOutput(descriptor):
    """
    Whether Twisted still holds bytes to send on C{descriptor}.
    """
    return bool(descriptor.dataBuffer or descriptor._tempDataBuffer)


def borrowReads(descriptor, doRead):
    """
    Make the reactor's "readable" events on C{descriptor} call C{doRead}
    instead of its own reading.

    @return: what L{giveBackReads} needs to undo it.
    """
    saved = descriptor.__dict__.get("doRead")
    descriptor.doRead = doRead
    return saved


def giveBackReads(descriptor, saved):
    if saved is not None:
        descriptor.doRead = saved
    else:
        try:
            del descriptor.doRead
        except AttributeError:
            pass


def write(transport, data):
    """
    Write C{data} to C{transport}, at once when nothing is queued.
    """
    fd = writeDescriptor(transport)
    if (
        fd is not None
        and fd.connected
        and not fd.disconnecting
        and not hasQueuedOutput(fd)
        and not getattr(fd, "TLS", False)
    ):
        try:
            n = fd.writeSomeData(data)
        except Exception:
            n = 0
        if isinstance(n, int) and n > 0:
            if n == len(data):
                return
            data = data[n:]
    transport.write(data)


def readWide(reader):
    """
    A pipe reader's C{doRead} taking up to 64 KiB at a time (Twisted's own
    takes 8 KiB).
    """
    try:
        output = os.read(reader.fd, READ_SIZE)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EINTR):
            return None
        return CONNECTION_LOST
    if not output:
        return CONNECTION_DONE
    reader.dataReceived(output)
    return None


def widenReads(reader):
    """
    Make a Twisted pipe reader use L{readWide}.
    """
    reader.doRead = functools.partial(readWide, reader)


def spliceable(src, dst):
    """
    Whether bytes can be spliced from transport C{src} to C{dst}.
    """
    if not pipes.HAVE_SPLICE:
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


# Transports over raw descriptors


class _Closable:
    """
    A half of a L{DescriptorTransport}: once the transport closed its
    descriptor, a late C{connectionLost} (the reactor disconnecting
    everything at shutdown) has nothing left to do.
    """

    closed = False

    def connectionLost(self, reason):
        if not self.closed:
            super().connectionLost(reason)


class _WideReader(_Closable, process.ProcessReader):
    doRead = readWide


class _Writer(_Closable, process.ProcessWriter):
    pass


class DescriptorTransport(StandardIO):
    """
    A transport over two descriptors handed to this process (an ssh
    session's stdin and stdout), read 64 KiB at a time.
    """

    def __init__(self, proto, stdin, stdout, reactor):
        self._fds = (stdin, stdout)
        self.protocol = proto
        self._writer = _Writer(reactor, self, "write", stdout)
        self._reader = _WideReader(reactor, self, "read", stdin)
        self._reader.startReading()
        self._halves = (self._reader, self._writer)
        self.protocol.makeConnection(self)

    def connectionLost(self, reason):
        """
        Unlike the process's own stdio, the descriptors are ours to close:
        the client sees the end of the session only when they are.
        """
        StandardIO.connectionLost(self, reason)
        for half in self._halves:
            half.closed = True
        fds, self._fds = self._fds, ()
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def abortConnection(self):
        """
        End the session now, dropping unsent output.
        """
        if self.disconnected:
            return
        for half in (self._reader, self._writer):
            if half is not None:
                half.stopReading()
                half.stopWriting()
        self.connectionLost(Failure(ConnectionAborted()))


@implementer(ITransport, IPushProducer, IConsumer)
class ProcessTransport:
    """
    A child process's stdin and stdout seen as one stream transport, whose
    halves are the pipe descriptors (so payloads can be spliced).
    """

    disconnecting = False

    def __init__(self, process, clock=None, grace=10.0):
        self.process = process
        self.clock = clock
        self.grace = grace
        self._killer = None

    @property
    def _reader(self):
        return self.process.pipes.get(1)

    @property
    def _writer(self):
        return self.process.pipes.get(0)

    def write(self, data):
        self.process.write(data)

    def writeSequence(self, seq):
        self.process.writeSequence(seq)

    def closeInput(self):
        """
        Close only the process's stdin: it sees the end of its input and
        its output goes on until it exits.
        """
        self.process.closeStdin()

    def loseConnection(self):
        """
        Close the process's stdin (it reads what was sent, then sees the
        end) and our end of its stdout (a process still sending gets
        EPIPE instead of blocking for ever); if it has not exited after
        C{grace} seconds, kill it.
        """
        if self.disconnecting:
            return
        self.disconnecting = True
        self.process.closeStdin()
        if self.clock is None:
            self._closeOutput()
        else:
            # After the current reactor turn: a read that just found the
            # end of the output must be allowed to finish closing it first.
            self.clock.callLater(0, self._closeOutput)
            if self.process.pid is not None:
                self._killer = self.clock.callLater(self.grace, self.abortConnection)

    def _closeOutput(self):
        reader = self.process.pipes.get(1)
        if reader is not None and reader.connected and not reader.disconnecting:
            self.process.closeChildFD(1)

    def processEnded(self):
        """
        The process exited: nothing left to kill.
        """
        if self._killer is not None and self._killer.active():
            self._killer.cancel()
        self._killer = None

    def abortConnection(self):
        """
        Close every pipe to the process and kill it, so nothing it started
        keeps the session alive.
        """
        self.disconnecting = True
        for fd in (0, 1, 2):
            self.process.closeChildFD(fd)
        try:
            self.process.signalProcess("KILL")
        except (error.ProcessExitedAlready, OSError):
            pass

    def getPeer(self):
        return self.process.getPeer()

    def getHost(self):
        return self.process.getHost()

    def pauseProducing(self):
        if self._reader is not None:
            self._reader.pauseProducing()

    def resumeProducing(self):
        if self._reader is not None:
            self._reader.resumeProducing()

    def stopProducing(self):
        self.loseConnection()

    def registerProducer(self, producer, streaming):
        self.process.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self.process.unregisterProducer()


def noDelay(transport):
    """
    C{TCP_NODELAY} on a transport that has it (not all do: TLS, unix).
    """
    set_ = getattr(transport, "setTcpNoDelay", None)
    if set_ is not None:
        try:
            set_(True)
        except (OSError, AttributeError):
            pass


def quickAck(transport):
    """
    Have the kernel ACK what a TCP transport received at once, not after
    the delayed-ACK timer: a peer writing less than a segment at a time
    with Nagle on (git-annex's client sending a put body) otherwise waits
    for each ACK, up to 40 ms.  Linux leaves quick-ACK mode by itself, so
    it is asked for again after each read.  Not TCP: nothing.
    """
    sock = getattr(transport, "socket", None)
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, "TCP_QUICKACK", 12), 1)
    except OSError:
        pass
