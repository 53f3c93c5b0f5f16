"""
Authenticators: the start of a client session, up to C{AUTH-SUCCESS}.

 - L{Preauthenticated}: the front door already knows who the client is and
   what it may reach (ssh: sshd authenticated the key, and the shell's
   command line named the target and the mode); the greeting is sent at
   once, as git-annex-shell does.
 - L{TokenAuthenticator}: the client must open with C{AUTH <uuid> <token>}
   (a tor-annex peer); a callable decides what the token grants.
"""

from typing import NamedTuple

from zope.interface import implementer
from twisted.internet import defer, task
from twisted.logger import Logger

from annexrelay.interfaces import IAuthenticator
from annexrelay.p2p import messages
from annexrelay.p2p.messages import Message


class Grant(NamedTuple):
    """
    What an authenticated client may reach.

    @ivar target: the L{annexrelay.interfaces.ITarget} of the session.
    @ivar mode: its L{annexrelay.clientside.Mode}.
    @ivar token: the id of the token that let the client in, if any (a
        revoked token's sessions are closed).
    """

    target: object
    mode: object
    token: object = None


def _greet(session, grant):
    session.sendMessage(Message("AUTH-SUCCESS", (grant.target.uuid,)))
    return grant


@implementer(IAuthenticator)
class Preauthenticated:
    """
    The client is known already: greet it at once.
    """

    def __init__(self, target, mode):
        self.grant = Grant(target, mode)

    def greet(self, session):
        return defer.succeed(_greet(session, self.grant))


class FailureLimiter:
    """
    How long to hold back the answer to a failed C{AUTH} (a token bucket,
    pure given the clock): C{burst} failures are answered at once, later
    ones at C{rate} per second, whichever connection they come on.  A
    guesser gains nothing from many connections; a user who mistyped is
    not locked out.
    """

    def __init__(self, clock, rate=1.0, burst=10):
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self._allowance = float(burst)
        self._at = clock.seconds()

    def failed(self):
        """
        Count one failure.

        @return: seconds to wait before answering it.
        """
        now = self.clock.seconds()
        self._allowance = min(self.burst, self._allowance + (now - self._at) * self.rate)
        self._at = now
        self._allowance -= 1
        if self._allowance >= 0:
            return 0.0
        return -self._allowance / self.rate


@implementer(IAuthenticator)
class TokenAuthenticator:
    """
    The client opens with C{AUTH <its uuid> <token>}, as a tor-annex peer
    does.  As git-annex's tor server: a wrong token gets C{AUTH-FAILURE} and
    the client may try again; any other message before C{AUTH-SUCCESS} gets
    C{ERROR unexpected command} (C{ERROR unknown command} if it does not
    parse).  Unlike it, the connection is closed after C{attempts} failures,
    and failures are answered no faster than C{limiter} allows.

    @param check: called as C{check(clientUuid, token)}; returns (or a
        L{Deferred} fires with) a L{Grant}, or None to refuse.
    @param limiter: a L{FailureLimiter} shared by the front door, or None.
    """

    log = Logger()

    def __init__(self, check, limiter=None, attempts=3, clock=None):
        self.check = check
        self.limiter = limiter
        self.attempts = attempts
        self.clock = clock

    def greet(self, session):
        return defer.ensureDeferred(self._greet(session))

    async def _greet(self, session):
        failures = 0
        while failures < self.attempts:
            first = await session.nextMessage()
            if not isinstance(first, Message):
                session.sendMessage(messages.UNKNOWN_COMMAND)
                continue
            if first.name != "AUTH":
                if first.name == "ERROR":
                    return None
                session.sendMessage(messages.UNEXPECTED_COMMAND)
                continue
            grant = await defer.maybeDeferred(self.check, first.args[0], first.args[1])
            if grant is not None:
                return _greet(session, grant)
            failures += 1
            wait = self.limiter.failed() if self.limiter is not None else 0
            self.log.info(
                "refused {peer}: wrong token (attempt {n}){held}",
                peer=session.peer,
                n=failures,
                held=" (answer held back %.1f s)" % (wait,) if wait else "",
            )
            if wait:
                await task.deferLater(self.clock, wait, lambda: None)
            session.sendMessage(messages.Message("AUTH-FAILURE"))
        self.log.warn("closing the connection of {peer} after {n} wrong tokens", peer=session.peer, n=failures)
        return None
