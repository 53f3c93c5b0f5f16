"""
The onion front door: every target the relay serves over Tor (the proxy
repository itself, a proxied remote, a cluster) is an onion service of its
own (L{annexrelay.frontdoor.tor.keys} says why), whose clients open with
C{AUTH <uuid> <token>} (L{annexrelay.frontdoor.auth.TokenAuthenticator}
against L{annexrelay.frontdoor.tor.tokens.TokenStore}).

Each onion service forwards to a listener of the daemon on 127.0.0.1 (an
ephemeral port; every tor, whoever runs it, can reach loopback).  The
listeners are written to C{.git/annex/annexrelay/onion-listeners}
(C{<onion> <virtual port> 127.0.0.1:<port> <target uuid>}) for tools and a
tor set up by hand.  A L{Publisher} (txtorcon, L{annexrelay.frontdoor.tor.publish})
publishes them; without one (C{--onion-local-only}) they are only listened
on.

The key and token files are looked at every C{pollInterval} seconds: a
target issued an address after start-up is published, and the sessions of a
revoked token are closed, without a restart.
"""

import os

from twisted.application import service
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from annexrelay.requests import Mode
from annexrelay.core import TargetUnknown
from annexrelay.frontdoor.auth import FailureLimiter, Grant, TokenAuthenticator
from annexrelay.frontdoor.tor.keys import OnionKeys
from annexrelay.frontdoor.tor.tokens import TokenStore
from annexrelay.paths import private_dir, write_private

LISTENERS = "onion-listeners"

log = Logger()


class _OnionSessions(Factory):
    """
    The sessions of one target's onion service.
    """

    def __init__(self, door, key):
        self.door = door
        self.key = key
        # Guessing at one onion does not slow the others down.
        self.limiter = FailureLimiter(door.reactor)

    def buildProtocol(self, addr):
        door = self.door
        key = self.key
        authenticator = TokenAuthenticator(
            lambda client, token: door.grant(key.target, client, token), self.limiter, clock=door.reactor
        )
        session = door.core.session(authenticator, "tor client of %s" % (key.onion[:12],), door="tor")
        door.live.add(session)
        session.done.addBoth(lambda r: (door.live.discard(session), r)[1])
        return session


class OnionFrontDoor(service.Service):
    """
    @param publisher: publishes a listener as an onion service
        (L{annexrelay.frontdoor.tor.Publisher}), or None.
    """

    pollInterval = 1.0

    def __init__(self, reactor, core, publisher=None):
        self.reactor = reactor
        self.core = core
        self.publisher = publisher
        gitDir = core.repository.gitDir
        self.keys = OnionKeys(gitDir)
        self.tokens = TokenStore(gitDir)
        self.statusPath = os.path.join(private_dir(gitDir), LISTENERS)
        self.live = set()
        # onion -> (key, listening port), the port None while it opens.
        self.served = {}
        self._keysStamp = self._tokensStamp = None
        self._poll = None

    # Clients

    def grant(self, target, client, token):
        """
        What C{token} (bytes) lets C{client} reach on C{target}'s onion.
        """
        entry = self.tokens.check(target, token.decode("ascii", "replace"))
        if entry is None:
            return None
        try:
            t = self.core.targetFor(target, own=True)
        except TargetUnknown as e:
            log.warn("token {id} names a target this repository no longer serves: {why}", id=entry.id, why=str(e))
            return None
        log.info("client {client} let in by token {id} ({mode})", client=client.decode(), id=entry.id, mode=entry.mode)
        return Grant(t, Mode(entry.mode), entry.id)

    def _dropRevoked(self):
        valid = {e.id for e in self.tokens.entries()}
        for session in list(self.live):
            grant = session.grant
            if grant is not None and grant.token is not None and grant.token not in valid:
                log.info("token {id} was revoked: closing the session of {peer}", id=grant.token, peer=session.peer)
                session.abort()

    # Listeners

    def startService(self):
        service.Service.startService(self)
        self._poll = task.LoopingCall(self._check)
        self._poll.clock = self.reactor
        d = self._poll.start(self.pollInterval, now=True)
        d.addErrback(lambda f: log.failure("watching the onion keys failed", f))

    def _check(self):
        stamp = self.keys.stamp()
        if stamp != self._keysStamp:
            self._keysStamp = stamp
            for key in self.keys.load().values():
                if key.onion not in self.served:
                    self.served[key.onion] = (key, None)
                    defer.ensureDeferred(self._open(key)).addErrback(
                        lambda f, key=key: log.failure("cannot serve onion {onion}", f, onion=key.onion)
                    )
        stamp = self.tokens.stamp()
        if stamp != self._tokensStamp:
            self._tokensStamp = stamp
            self._dropRevoked()

    async def _open(self, key):
        endpoint = TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1")
        port = await endpoint.listen(_OnionSessions(self, key))
        self.served[key.onion] = (key, port)
        local = port.getHost().port
        self._writeStatus()
        log.info(
            "onion service {onion}:{port} of {target} listens on 127.0.0.1:{local}",
            onion=key.onion,
            port=key.port,
            target=key.target.decode(),
            local=local,
        )
        if self.publisher is not None:
            self.publisher.publish(key, local)

    def _writeStatus(self):
        lines = [
            "%s %d 127.0.0.1:%d %s\n" % (onion, key.port, port.getHost().port, key.target.decode())
            for onion, (key, port) in sorted(self.served.items())
            if port is not None
        ]
        write_private(self.statusPath, "".join(lines))

    def stopService(self):
        service.Service.stopService(self)
        if self._poll is not None and self._poll.running:
            self._poll.stop()
        ds = []
        if self.publisher is not None:
            ds.append(self.publisher.close())
        for _, port in self.served.values():
            if port is not None:
                ds.append(defer.maybeDeferred(port.stopListening))
        self.served = {}
        try:
            os.unlink(self.statusPath)
        except OSError:
            pass
        return defer.gatherResults(ds, consumeErrors=True)
