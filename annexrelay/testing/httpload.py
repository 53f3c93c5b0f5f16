"""
Load for an annex+http server (annexrelay's door or C{git annex
p2phttp}), from inside the reactor: seeded objects whose content is made
as it is sent (never held whole), raw p2phttp requests through
L{twisted.web.client.Agent} (put, putoffset, the key GET), some cut off
at a seeded random byte, and the real git-annex client as a process.
Outside the reactor (blocking sockets): one big object put and got, made
and hashed as it goes.

Used by C{tests/interop/test_http_sidebyside.py},
C{tests/interop/test_http_load.py} and C{bench/http_big_bench.py}.
"""

import hashlib
import json
import random
import socket

from zope.interface import implementer
from twisted.internet import defer, task
from twisted.internet.protocol import Protocol, ProcessProtocol
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer

BLOCK = 65536
CU = "33333333-4444-5555-6666-777777777777"


class Blob:
    """
    An object of C{size} bytes made from C{seed}, block by block.
    """

    def __init__(self, seed, size):
        self.seed = seed
        self.size = size
        h = hashlib.sha256()
        for chunk in self.chunks():
            h.update(chunk)
        self.digest = h.hexdigest()
        self.key = "SHA256E-s%d--%s" % (size, self.digest)

    def chunks(self, offset=0):
        j = offset // BLOCK
        skip = offset - j * BLOCK
        while j * BLOCK < self.size:
            block = random.Random(self.seed * 1000003 + j).randbytes(min(BLOCK, self.size - j * BLOCK))
            yield block[skip:]
            skip = 0
            j += 1


@implementer(IBodyProducer)
class _Body:
    """
    C{blob} from C{offset}; with C{cutAt}, only that many bytes, then the
    body stalls until the request is cancelled (the client is cut off).
    """

    def __init__(self, blob, offset, cutAt, onCut):
        self.blob = blob
        self.offset = offset
        self.length = blob.size - offset
        self.cutAt = cutAt
        self.onCut = onCut
        self._task = None

    def _produce(self, consumer):
        sent = 0
        for chunk in self.blob.chunks(self.offset):
            if self.cutAt is not None and sent + len(chunk) >= self.cutAt:
                consumer.write(chunk[: self.cutAt - sent])
                self.onCut()
                yield defer.Deferred()  # never fires: the request is cancelled
            consumer.write(chunk)
            sent += len(chunk)
            yield None

    def startProducing(self, consumer):
        self._task = task.cooperate(self._produce(consumer))
        return self._task.whenDone().addErrback(lambda f: f.trap(task.TaskStopped))

    def pauseProducing(self):
        self._task.pause()

    def resumeProducing(self):
        self._task.resume()

    def stopProducing(self):
        try:
            self._task.stop()
        except (task.TaskDone, task.TaskStopped, task.TaskFailed):
            pass


class _Digest(Protocol):
    """
    A response body into a SHA-256; with C{cutAt}, the connection is cut
    after that many bytes.
    """

    def __init__(self, cutAt=None):
        self.h = hashlib.sha256()
        self.count = 0
        self.cutAt = cutAt
        self.done = defer.Deferred()

    def dataReceived(self, data):
        if self.cutAt is not None and self.count + len(data) >= self.cutAt:
            self.h.update(data[: self.cutAt - self.count])
            self.count = self.cutAt
            self.cutAt = None
            self.transport.stopProducing()
            return
        self.h.update(data)
        self.count += len(data)

    def connectionLost(self, reason):
        self.done.callback((self.count, self.h.hexdigest()))


class Client:
    """
    p2phttp requests to one server, one connection each.
    """

    def __init__(self, reactor, port):
        self.reactor = reactor
        self.base = "http://127.0.0.1:%d/git-annex/" % (port,)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.agent = Agent(reactor, pool=self.pool)

    def _url(self, uuid, rest):
        return (self.base + uuid + "/" + rest).encode()

    async def put(self, uuid, blob, offset=0, cutAt=None):
        """
        @return: the JSON reply, or None when cut.
        """
        holder = []
        body = _Body(blob, offset, cutAt, lambda: self.reactor.callLater(0, holder[0].cancel))
        headers = Headers({b"X-git-annex-data-length": [b"%d" % (blob.size - offset,)]})
        url = self._url(uuid, "v4/put?key=%s&clientuuid=%s&offset=%d" % (blob.key, CU, offset))
        d = self.agent.request(b"POST", url, headers, body)
        holder.append(d)
        try:
            response = await d
        except Exception:
            if cutAt is not None:
                return None
            raise
        text = await readBody(response)
        if response.code != 200:
            raise RuntimeError("put: %d %r" % (response.code, text[:200]))
        return json.loads(text)

    async def putoffset(self, uuid, blob):
        url = self._url(uuid, "v4/putoffset?key=%s&clientuuid=%s" % (blob.key, CU))
        response = await self.agent.request(b"POST", url)
        text = await readBody(response)
        if response.code != 200:
            raise RuntimeError("putoffset: %d %r" % (response.code, text[:200]))
        return json.loads(text)

    async def get(self, uuid, blob, cutAt=None):
        """
        @return: C{(bytes read, SHA-256 hex digest)}.
        """
        url = self._url(uuid, "v4/key/%s?clientuuid=%s" % (blob.key, CU))
        response = await self.agent.request(b"GET", url)
        if response.code != 200:
            raise RuntimeError("get: %d" % (response.code,))
        reader = _Digest(cutAt)
        response.deliverBody(reader)
        return await reader.done

    def close(self):
        return self.pool.closeCachedConnections()


async def exercise(client, uuid, blob, rng):
    """
    One client's life: put (maybe cut off, then resumed from putoffset),
    get (maybe cut off, then again) and check the content.

    @return: C{"ok"} or what went wrong.
    """
    offset = 0
    if rng.random() < 0.15:
        await client.put(uuid, blob, cutAt=rng.randrange(1, blob.size))
        reply = await client.putoffset(uuid, blob)
        offset = 0 if reply.get("alreadyhave") else reply.get("offset", 0)
    reply = await client.put(uuid, blob, offset)
    if not reply.get("stored"):
        return "not stored: %r" % (reply,)
    if rng.random() < 0.15:
        await client.get(uuid, blob, cutAt=rng.randrange(1, blob.size))
    count, digest = await client.get(uuid, blob)
    if (count, digest) != (blob.size, blob.digest):
        return "corrupt: got %d bytes" % (count,)
    return "ok"


class Run(ProcessProtocol):
    """
    A process (the real git-annex client): its output and exit code.
    """

    def __init__(self):
        self.output = bytearray()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.output += data[-65536:]

    errReceived = outReceived

    def processEnded(self, reason):
        self.ended.callback(reason.value.exitCode)

    def kill(self):
        try:
            self.transport.signalProcess("KILL")
        except Exception:
            pass


# Blocking, for a benchmark or a test outside the reactor: one big object
# through raw sockets, made and checked as it goes.


def big_chunks(size, seed=0, block=1 << 20):
    """
    C{size} bytes, one C{block} at a time: a random block with its index
    in the first bytes (cheap to make, no two blocks alike).
    """
    base = random.Random(seed).randbytes(block)
    i = 0
    while i * block < size:
        n = min(block, size - i * block)
        yield (b"%016d" % (i,) + base[16:])[:n]
        i += 1


def worm_key(size, name="big.bin"):
    """
    A WORM key: the node stores it without hashing it (no checksum).
    """
    return "WORM-s%d-m1700000000--%s" % (size, name)


def stream_put(port, uuid, key, size, chunks):
    """
    A put of C{chunks} (C{size} bytes) on a fresh connection.

    @return: C{(status, reply body, SHA-256 hex digest of what was sent)}.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    try:
        path = "/git-annex/%s/v4/put?key=%s&clientuuid=%s" % (uuid, key, CU)
        head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-git-annex-data-length: %d\r\nContent-Length: %d\r\n\r\n" % (path, size, size)
        sock.sendall(head.encode())
        h = hashlib.sha256()
        for chunk in chunks:
            h.update(chunk)
            sock.sendall(chunk)
        f = sock.makefile("rb")
        status, headers = _head(f)
        return status, _body(f, headers), h.hexdigest()
    finally:
        sock.close()


def stream_get(port, uuid, key, pause=None):
    """
    The key GET on a fresh connection, hashed as it is read.  With
    C{pause=(n, f)}: after C{n} bytes, C{f()} runs before reading on (a
    reader that stops).

    @return: C{(status, bytes read, SHA-256 hex digest)}.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    try:
        sock.sendall(("GET /git-annex/%s/v4/key/%s?clientuuid=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (uuid, key, CU)).encode())
        f = sock.makefile("rb")
        status, headers = _head(f)
        left = int(headers.get("content-length", "0"))
        h = hashlib.sha256()
        count = 0
        while left:
            data = f.read1(min(left, 1 << 20))
            if not data:
                break
            if pause is not None and count + len(data) >= pause[0]:
                pause[1]()
                pause = None
            h.update(data)
            count += len(data)
            left -= len(data)
        return status, count, h.hexdigest()
    finally:
        sock.close()


def _head(f):
    status = int(f.readline().split()[1])
    headers = {}
    while True:
        line = f.readline().decode("latin-1").strip()
        if not line:
            return status, headers
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()


def _body(f, headers):
    if "content-length" in headers:
        return f.read(int(headers["content-length"]))
    out = b""
    while True:
        n = int(f.readline().strip(), 16)
        out += f.read(n + 2)[:n]
        if n == 0:
            return out
