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
from twisted.internet import defer
from twisted.logger import Logger

from annexrelay.interfaces import IAuthenticator
from annexrelay.p2p import messages
from annexrelay.p2p.messages import Message


class Grant(NamedTuple):
    """
    What an authenticated client may reach.

    @ivar target: the L{annexrelay.interfaces.ITarget} of the session.
    @ivar mode: its L{annexrelay.clientside.Mode}.
    """

    target: object
    mode: object


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


@implementer(IAuthenticator)
class TokenAuthenticator:
    """
    The client opens with C{AUTH <its uuid> <token>}.

    @param check: called as C{check(clientUuid, token)}; returns (or a
        L{Deferred} fires with) a L{Grant}, or None to refuse.
    """

    log = Logger()

    def __init__(self, check):
        self.check = check

    def greet(self, session):
        return defer.ensureDeferred(self._greet(session))

    async def _greet(self, session):
        first = await session.nextMessage()
        grant = None
        if isinstance(first, Message) and first.name == "AUTH":
            grant = await defer.maybeDeferred(self.check, first.args[0], first.args[1])
        if grant is None:
            self.log.info("refused {peer}: no valid AUTH", peer=session.peer)
            session.sendMessage(messages.Message("AUTH-FAILURE"))
            return None
        return _greet(session, grant)
