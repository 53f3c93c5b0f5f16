"""
The proxy repository itself, as a Tor client reaches it on its own onion
address.

 - Key requests (C{CHECKPRESENT}, C{GET}, C{PUT}, ...) go to the
   repository's own C{git-annex-shell p2pstdio}, pooled like any node (the
   real git-annex-shell records its own location log).
 - C{CONNECT git-upload-pack|git-receive-pack} runs that git command on the
   repository and carries its stream in C{DATA} frames both ways, then
   C{CONNECTDONE <exit code>}: C{git fetch}/C{git push} through
   git-remote-tor-annex.  The session ends after it, as with git-annex.
 - C{NOTIFYCHANGE} answers C{CHANGED <values>} when refs change (the first
   one at once), so a client's remotedaemon pulls promptly.
"""

from zope.interface import implementer
from twisted.internet import defer, error
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

from annexrelay.interfaces import ITarget
from annexrelay.p2p import messages
from annexrelay.p2p.messages import Message
from annexrelay.paths import real_git_annex_shell
from annexrelay.repo import Node
from annexrelay.streams import relayPayload
from annexrelay.targets.proxied import ProxiedRemote

EXPECTED_DATA_OR_DONE = messages.error("expected DATA or CONNECTDONE")


class _NoRecords:
    """
    The repository's own git-annex-shell writes its location log itself.
    """

    def record(self, key, uuid, present):
        return True


def ownNode(repository):
    """
    The repository as a node: its own C{git-annex-shell p2pstdio}.
    """
    return Node("(this repository)", repository.uuid, repository.path, real_git_annex_shell() or "git-annex-shell")


class _Git(ProcessProtocol):
    """
    One C{git upload-pack}/C{receive-pack}: its output goes to the client
    as C{DATA} frames (the process is paused while the client's transport
    is full); its exit code ends the relay.
    """

    def __init__(self, session):
        self.session = session
        self.ended = defer.Deferred()
        self.stderr = b""

    def connectionMade(self):
        self.session.transport.registerProducer(self.transport, True)

    def childDataReceived(self, fd, data):
        if fd == 1:
            self.session.sendPayload(data)
        else:
            self.stderr = (self.stderr + data)[-4096:]

    def processEnded(self, reason):
        try:
            self.session.transport.unregisterProducer()
        except Exception:
            pass
        code = reason.value.exitCode if isinstance(reason.value, (error.ProcessDone, error.ProcessTerminated)) else 1
        self.ended.callback(code if code is not None else 1)


@implementer(ITarget)
class OwnRepository:
    """
    One session's view of the proxy repository.

    @param refs: the L{annexrelay.branch.refs.RefsWatcher} of the repository.
    @param git: the L{annexrelay.connectors.process.GitServices} that runs
        C{git upload-pack}/C{receive-pack} for C{CONNECT}.
    @param local: the repository as a L{annexrelay.localnode.objects.LocalNode}
        (C{--local-store}), or None.
    """

    log = Logger()

    def __init__(self, repository, pool, streams, refs, git, sizes=None, local=None):
        self.repository = repository
        self.uuid = repository.uuid
        self.git = git
        self.streams = streams
        self.refs = refs
        self.inner = ProxiedRemote(ownNode(repository), pool, _NoRecords(), streams, sizes, local)
        self._known = None
        self._waiting = None
        self._git = None

    def negotiate(self, session, version):
        return self.inner.negotiate(session, version)

    def handle(self, session, msg):
        if msg.name == "CONNECT":
            return defer.ensureDeferred(self._connect(session, msg.args[0].decode("ascii")))
        if msg.name == "NOTIFYCHANGE":
            return defer.ensureDeferred(self._notify(session))
        return self.inner.handle(session, msg)

    def close(self):
        self.inner.close()
        if self._waiting is not None:
            self._waiting.cancel()
        if self._git is not None:
            try:
                self._git.transport.signalProcess("TERM")
            except Exception:
                pass

    def summary(self):
        return self.inner.summary()

    async def _notify(self, session):
        self._waiting = self.refs.changedSince(self._known)
        lost = session.whenLost()
        lost.addCallbacks(
            lambda _: self._waiting.cancel() if self._waiting is not None else None,
            lambda f: f.trap(defer.CancelledError),
        )
        try:
            values, self._known = await self._waiting
        except defer.CancelledError:
            return
        except OSError as e:
            session.sendMessage(messages.error(str(e)))
            return
        finally:
            self._waiting = None
            lost.cancel()
        if not values:
            values = sorted(set(self._known.values()))
        session.sendMessage(Message("CHANGED", (tuple(values),)))

    async def _connect(self, session, service):
        git = _Git(session)
        self._git = git
        stdin = self.git.run(service, self.repository.path, git)
        git.ended.addCallback(lambda code: session.sendMessage(Message("CONNECTDONE", (code,))) or code)
        self.log.info("{peer}: {service} on {repo}", peer=session.peer, service=service, repo=self.repository.path)
        try:
            while True:
                msg = await session.nextMessage()
                if isinstance(msg, Message) and msg.name == "DATA" and msg.args[0] >= 0:
                    await relayPayload(session, msg.args[0], [(stdin, 0)], splice=self.streams.splice)
                    continue
                if isinstance(msg, Message) and msg.name == "CONNECTDONE":
                    break
                session.sendMessage(EXPECTED_DATA_OR_DONE)
                break
        finally:
            if not git.ended.called:
                stdin.closeInput()
            self._git = None
        code = await git.ended
        session.endAfterRequest("%s done (exit %d)" % (service, code))
