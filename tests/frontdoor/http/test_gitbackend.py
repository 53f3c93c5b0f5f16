"""
The git side's CGI runner over real HTTP on 127.0.0.1, with a stand-in
CGI (a small script in place of C{git-http-backend}, behaving as the
request's C{X-Mode} header says): a large chunked body streamed through
it both ways, early output held until the body is in, C{Status:} and
headers passed, output that is not CGI or no output at all answered 502,
and a client that goes away killing the CGI.
"""

import os
import sys

from twisted.internet import defer, reactor, task
from twisted.internet.protocol import Protocol
from twisted.trial import unittest
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from annexrelay.frontdoor.http.door import HttpFrontDoor
from annexrelay.frontdoor.http.limits import Limits
from annexrelay.frontdoor.http.users import Policy

CGI = r'''#!%(python)s
import os, sys
mode = os.environ.get("HTTP_X_MODE", "echo")
out = sys.stdout.buffer
if mode == "garbage":
    out.write(b"no head here\n\n")
elif mode == "status":
    out.write(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\nX-Extra: 1\r\n\r\nnope")
elif mode == "echo":
    out.write(b"Content-Type: application/octet-stream\r\n\r\n")
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        out.write(data)
elif mode == "early":
    out.write(b"Content-Type: text/plain\r\n\r\n" + b"e" * 100000)
    out.flush()
    n = 0
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        n += len(data)
    out.write(b"read %%d" %% n)
elif mode == "env":
    out.write(b"Content-Type: text/plain\r\n\r\n")
    out.write("\n".join("%%s=%%s" %% kv for kv in sorted(os.environ.items())).encode())
elif mode == "silent":
    while os.read(0, 65536):
        pass
    import time
    time.sleep(60)
elif mode == "forever":
    with open(os.environ["HTTP_X_PIDFILE"], "w") as f:
        f.write(str(os.getpid()))
    out.write(b"Content-Type: text/plain\r\n\r\n")
    while True:
        out.write(b"x" * 65536)
'''


class Repository:
    def __init__(self, path):
        self.path = self.gitDir = path
        self.uuid = b"7685e0b4-cd27-4131-be8d-398f641c7902"


class Core:
    def __init__(self, path):
        self.repository = Repository(path)


@implementer(IBodyProducer)
class Chunked:
    """
    A request body of unknown length (sent chunked), in pieces.
    """

    length = UNKNOWN_LENGTH

    def __init__(self, data, piece=50000):
        self.data = data
        self.piece = piece

    def startProducing(self, consumer):
        for i in range(0, len(self.data), self.piece):
            consumer.write(self.data[i : i + self.piece])
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class BackendTests(unittest.TestCase):
    def setUp(self):
        base = os.path.abspath(self.mktemp())
        os.makedirs(base)
        script = os.path.join(base, "cgi")
        with open(script, "w") as f:
            f.write(CGI % {"python": sys.executable})
        os.chmod(script, 0o755)
        self.base = base
        self.door = HttpFrontDoor(reactor, Core(base), Policy(wideopen=True))
        self.door.git.backend = script
        self.port = reactor.listenTCP(0, self.door.factory(), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.agent = Agent(reactor)

    def url(self, path):
        return b"http://127.0.0.1:%d%s" % (self.port.getHost().port, path)

    async def request(self, mode, method=b"POST", path=b"/git-upload-pack", body=None, headers=None):
        h = Headers({b"X-Mode": [mode]})
        for k, v in (headers or {}).items():
            h.addRawHeader(k, v)
        response = await self.agent.request(method, self.url(path), h, body)
        return response, await readBody(response)

    @defer.inlineCallbacks
    def test_a_large_chunked_body_streams_both_ways(self):
        data = os.urandom(4 << 20)
        response, body = yield defer.ensureDeferred(self.request(b"echo", body=Chunked(data)))
        self.assertEqual(response.code, 200)
        self.assertEqual(body, data)
        self.assertEqual(self.door.live, set())

    @defer.inlineCallbacks
    def test_output_before_the_body_ends_waits(self):
        data = b"b" * (1 << 20)
        response, body = yield defer.ensureDeferred(self.request(b"early", body=Chunked(data)))
        self.assertEqual(body, b"e" * 100000 + b"read %d" % len(data))

    @defer.inlineCallbacks
    def test_status_and_headers(self):
        response, body = yield defer.ensureDeferred(self.request(b"status", method=b"GET", path=b"/info/refs"))
        self.assertEqual((response.code, body), (404, b"nope"))
        self.assertEqual(response.headers.getRawHeaders(b"x-extra"), [b"1"])

    @defer.inlineCallbacks
    def test_not_cgi_and_no_output_are_502(self):
        response, body = yield defer.ensureDeferred(self.request(b"garbage", method=b"GET", path=b"/info/refs"))
        self.assertEqual(response.code, 502)
        self.assertIn(b"not CGI", body)
        response, body = yield defer.ensureDeferred(self.request(b"nothing", method=b"GET", path=b"/info/refs"))
        self.assertEqual((response.code, body), (502, b"git http-backend failed: it ended without a response\n"))

    @defer.inlineCallbacks
    def test_a_silent_cgi_is_killed_504(self):
        self.door.applyLimits(Limits(nodeTimeout=0.5))
        response, body = yield defer.ensureDeferred(self.request(b"silent", body=Chunked(b"x" * 1000)))
        self.assertEqual((response.code, body), (504, b"git http-backend failed: it sent nothing for 0.5 s\n"))
        self.assertEqual(self.door.live, set())

    @defer.inlineCallbacks
    def test_environment(self):
        response, body = yield defer.ensureDeferred(self.request(
            b"env", method=b"GET", path=b"/info/refs?service=git-upload-pack",
            headers={b"Authorization": b"Basic YTpi", b"Git-Protocol": b"version=2"}))
        env = dict(line.split("=", 1) for line in body.decode().splitlines())
        self.assertEqual(env["GIT_PROJECT_ROOT"], self.base)
        self.assertEqual(env["PATH_INFO"], "/info/refs")
        self.assertEqual(env["QUERY_STRING"], "service=git-upload-pack")
        self.assertEqual(env["HTTP_GIT_PROTOCOL"], "version=2")
        self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
        self.assertNotIn("HTTP_AUTHORIZATION", env)
        self.assertNotIn("REMOTE_USER", env)
        config = {env["GIT_CONFIG_KEY_%d" % i]: env["GIT_CONFIG_VALUE_%d" % i] for i in range(int(env["GIT_CONFIG_COUNT"]))}
        self.assertEqual(config["http.receivepack"], "false")

    @defer.inlineCallbacks
    def test_a_client_that_goes_away_kills_it(self):
        pidfile = os.path.join(self.base, "pid")
        got = defer.Deferred()

        class Reader(Protocol):
            def dataReceived(self, data):
                if not got.called:
                    got.callback(None)

        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

        reader = Reader()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port), reader)
        reader.transport.write(
            b"GET /info/refs HTTP/1.1\r\nHost: x\r\nX-Mode: forever\r\nX-Pidfile: %s\r\n\r\n" % pidfile.encode())
        yield got
        with open(pidfile) as f:
            pid = int(f.read())
        reader.transport.abortConnection()
        for _ in range(400):
            if not _alive(pid):
                break
            yield task.deferLater(reactor, 0.025, lambda: None)
        self.assertFalse(_alive(pid), "the CGI is still running")
        for _ in range(400):
            if not self.door.live:
                break
            yield task.deferLater(reactor, 0.025, lambda: None)
        self.assertEqual(self.door.live, set())


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
