"""
Faster I/O on Twisted descriptors: writing without waiting for the next
reactor turn, and reading pipes 64 KiB at a time.

Writing.
Twisted's transports queue every write and send it when the reactor next
finds the descriptor writable: one more trip round the event loop per
message, which a relay pays on every hop of every request.  When nothing
is queued, L{write} sends at once and queues only what the kernel did not
take, so ordering and backpressure (the queue, C{bufferSize}, producer
pausing) stay Twisted's own.
"""

import errno
import os

from twisted.internet.abstract import FileDescriptor
from twisted.internet.main import CONNECTION_DONE, CONNECTION_LOST


def _descriptor(transport):
    # StandardIO (and our DescriptorTransport) write through a ProcessWriter.
    inner = getattr(transport, "_writer", transport)
    if isinstance(inner, FileDescriptor):
        return inner
    return None


def write(transport, data):
    fd = _descriptor(transport)
    if (
        fd is not None
        and fd.connected
        and not fd.disconnecting
        and not fd.dataBuffer
        and not fd._tempDataBuffer
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
    takes 8 KiB); install with C{reader.doRead = functools.partial(readWide,
    reader)} or from a subclass.
    """
    try:
        output = os.read(reader.fd, 65536)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EINTR):
            return None
        return CONNECTION_LOST
    if not output:
        return CONNECTION_DONE
    reader.dataReceived(output)
    return None
