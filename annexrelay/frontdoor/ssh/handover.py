"""
The daemon's front door: sessions handed over by C{annexrelay-shell}.

The shell connects to a listener (by default the unix socket inside the
repository), sends one JSON header line naming the command, the client UUID,
the target UUID and the server mode, and, over a unix socket, its stdin and
stdout descriptors (SCM_RIGHTS).  The daemon answers one line:

 - C{OK}: the session is served; the relay reads and writes the handed-over
   descriptors directly (or, when none came, this very connection carries
   the P2P session).  When the session ends the daemon sends C{EXIT n}.
 - C{SELF}: the target is the repository itself; the shell runs the real
   git-annex-shell.
 - C{FAIL text}: the shell prints the text and exits 1.

sshd authenticated the client already, so the session is
L{annexrelay.frontdoor.auth.Preauthenticated} with the header's target and
mode.
"""

import json
import os

from zope.interface import implementer
from twisted.internet.interfaces import IFileDescriptorReceiver, IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from annexrelay.requests import Mode
from annexrelay.core import TargetUnknown
from annexrelay.frontdoor.auth import Preauthenticated
from annexrelay.paths import find_repository
from annexrelay.streams.kernel import DescriptorTransport

log = Logger()

_MAX_HEADER = 65536


@implementer(IFileDescriptorReceiver, IHalfCloseableProtocol)
class HandoverProtocol(Protocol):
    """
    One shell's hand-over of one session.
    """

    def __init__(self, core):
        self.core = core
        self._fds = []
        self._buffer = b""
        self._session = None
        self._inband = False

    def fileDescriptorReceived(self, descriptor):
        self._fds.append(descriptor)

    def dataReceived(self, data):
        if self._inband:
            self._session.dataReceived(data)
            return
        if self._session is not None:
            return  # nothing more is expected from the shell
        self._buffer += data
        if b"\n" not in self._buffer:
            if len(self._buffer) > _MAX_HEADER:
                self._fail("header too long")
            return
        line, _, rest = self._buffer.partition(b"\n")
        self._buffer = b""
        self._start(line, rest)

    def _fail(self, why):
        log.warn("refused a session: {why}", why=why)
        self.transport.write(b"FAIL " + why.encode("utf-8", "replace") + b"\n")
        self._closeFds()
        self.transport.loseConnection()

    def _closeFds(self):
        fds, self._fds = self._fds, []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def _start(self, line, rest):
        try:
            header = json.loads(line)
            command = header["command"]
            if command == "status":
                self._status()
                return
            target = header["target"].encode("ascii")
            mode = Mode(header.get("mode", "read-write"))
            directory = header.get("directory")
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError) as e:
            self._fail("bad hand-over header: %s" % (e,))
            return
        if command != "p2pstdio":
            self._fail("cannot serve %s" % (command,))
            return
        repo = self.core.repository
        if directory and os.path.realpath(find_repository(directory)[0]) != os.path.realpath(repo.path):
            self._fail("this daemon serves %s, not %s" % (repo.path, directory))
            return
        try:
            t = self.core.targetFor(target)
        except TargetUnknown as e:
            self._fail(str(e))
            return
        except Exception as e:
            log.failure("reading the repository configuration failed")
            self._fail("cannot read the repository configuration: %s" % (e,))
            return
        if t is None:
            self._closeFds()
            self.transport.write(b"SELF\n")
            self.transport.loseConnection()
            return
        peer = "client %s" % (header.get("client", "?"),)
        session = self.core.session(Preauthenticated(t, mode), peer)
        self._session = session
        session.done.addCallback(self._sessionDone)
        self.transport.write(b"OK\n")
        if len(self._fds) >= 2:
            session.say = self._say
            stdin, stdout = self._fds[0], self._fds[1]
            for extra in self._fds[2:]:
                os.close(extra)
            self._fds = []
            DescriptorTransport(session, stdin, stdout, self.core.reactor)
        else:
            self._closeFds()
            self._inband = True
            session.makeConnection(self.transport)
            if rest:
                session.dataReceived(rest)

    def _status(self):
        """
        C{annexrelay status}: the daemon's snapshot as one JSON line.
        """
        self._closeFds()
        status = self.core.status
        if status is None:
            self._fail("this daemon keeps no status")
            return
        self.transport.write(b"STATUS " + json.dumps(status.snapshot()).encode() + b"\n")
        self.transport.loseConnection()

    def _say(self, text):
        """
        Have the shell write C{text} to the ssh session's stderr.
        """
        if self.transport is not None and self.transport.connected:
            line = text.replace("\n", " ").replace("\r", " ")[:1000]
            self.transport.write(b"SAY " + line.encode("utf-8", "replace") + b"\n")

    def _sessionDone(self, reason):
        if not self._inband and self.transport is not None:
            self.transport.write(b"EXIT 0\n")
            self.transport.loseConnection()
        return reason

    def readConnectionLost(self):
        if self._inband and self._session is not None:
            self._session.readConnectionLost()
        elif self._session is None or self._session.state == "closed":
            self.transport.loseConnection()
        # A shell that handed over descriptors and closed its side is gone:
        # its session goes on; the EXIT line is then simply not read.

    def writeConnectionLost(self):
        if self._inband and self._session is not None:
            self._session.writeConnectionLost()

    def connectionLost(self, reason):
        self._closeFds()
        if self._session is not None:
            if self._inband:
                self._session.connectionLost(reason)
            elif self._session.state != "closed":
                log.info("the shell of {peer} went away; ending its session", peer=self._session.peer)
                self._session.abort()


class HandoverFactory(Factory):
    def __init__(self, core):
        self.core = core

    def buildProtocol(self, addr):
        return HandoverProtocol(self.core)
