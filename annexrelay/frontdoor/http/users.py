"""
Who may do what over annex+http, exactly as C{git annex p2phttp}'s flags
and users decide it (pure: the flags, the users and the request in, a
L{annexrelay.clientside.Mode} or a refusal out).

 - C{--wideopen}: anonymous callers read and write;
   C{--unauth-appendonly}: read and append; C{--unauth-readonly}: read
   (and lock, unless C{--unauth-nolocking}); none of these: nothing.
 - C{--authenv} (basic authentication over https only) and
   C{--authenv-http} (over plain http too) let users in from the
   environment: C{GIT_ANNEX_P2PHTTP_PASSWORD_<user>} (read-write) and
   C{GIT_ANNEX_P2PHTTP_PERMISSIONS_<user>} (C{readonly}, C{appendonly}).
   A wrong password (or one given over plain http to C{--authenv}) counts
   as no password, except that the refusal is then 403, never a
   challenge.
 - A refused caller gets 401 with git-annex's challenge when signing on
   could help, else 403.

Passwords are compared in constant time.
"""

import hmac
from typing import NamedTuple, Optional

from annexrelay.clientside import Mode

CHALLENGE = b'Basic realm="git-annex", charset="UTF-8"'
PASSWORD = "GIT_ANNEX_P2PHTTP_PASSWORD_"
PERMISSIONS = "GIT_ANNEX_P2PHTTP_PERMISSIONS_"
_PERMISSION = {"readonly": Mode.READ_ONLY, "appendonly": Mode.APPEND_ONLY}
FLAGS = ("wideopen", "unauth-readonly", "unauth-appendonly", "unauth-nolocking", "authenv", "authenv-http")


class Policy(NamedTuple):
    """
    The server's auth flags (as C{git annex p2phttp} takes them) and its
    users: C{{user: (password, Mode)}}, both bytes.
    """

    wideopen: bool = False
    unauthReadOnly: bool = False
    unauthAppendOnly: bool = False
    unauthNoLocking: bool = False
    authenv: bool = False
    authenvHttp: bool = False
    users: dict = {}

    @classmethod
    def fromOptions(cls, options, environ):
        return cls(
            wideopen=bool(options["wideopen"]),
            unauthReadOnly=bool(options["unauth-readonly"]),
            unauthAppendOnly=bool(options["unauth-appendonly"]),
            unauthNoLocking=bool(options["unauth-nolocking"]),
            authenv=bool(options["authenv"]),
            authenvHttp=bool(options["authenv-http"]),
            users=users_from(environ),
        )


class ServerMode(NamedTuple):
    """
    What a caller gets before the request's class is looked at
    (git-annex's C{ServerMode}); C{mode} None: nothing at all.
    """

    mode: Optional[Mode]
    lockingAllowed: bool = False
    canAuthenticate: bool = False


class Refused(NamedTuple):
    """
    @ivar why: for the log (never a password).
    """

    status: int
    challenge: bool
    why: str = ""


def users_from(environ) -> dict:
    """
    git-annex's users from an environment: C{{user: (password, Mode)}}.
    """
    users = {}
    for name, value in environ.items():
        if name.startswith(PASSWORD):
            user = name[len(PASSWORD) :]
            mode = _PERMISSION.get(environ.get(PERMISSIONS + user, ""), Mode.READ_WRITE)
            users[user.encode("utf-8", "surrogateescape")] = (value.encode("utf-8", "surrogateescape"), mode)
    return users


def check_password(users, user: bytes, password: bytes) -> Optional[Mode]:
    """
    The user's mode if C{password} is theirs, compared in constant time
    (an unknown user costs the same comparison).
    """
    stored, mode = users.get(user, (b"\0" * 32, None))
    good = hmac.compare_digest(stored, password)
    return mode if good and mode is not None else None


def anonymous(policy, canAuth):
    if policy.wideopen:
        return ServerMode(Mode.READ_WRITE)
    if policy.unauthAppendOnly:
        return ServerMode(Mode.APPEND_ONLY, False, canAuth)
    if policy.unauthReadOnly:
        return ServerMode(Mode.READ_ONLY, not policy.unauthNoLocking, canAuth)
    return ServerMode(None)


def server_mode(policy: Policy, secure: bool, credentials) -> ServerMode:
    """
    What the caller gets: C{credentials} is None or C{(user, password)}.
    """
    if credentials is None:
        return anonymous(policy, policy.authenv or policy.authenvHttp)
    if (secure and policy.authenv) or (not secure and policy.authenvHttp):
        mode = check_password(policy.users, credentials[0], credentials[1])
        if mode is not None:
            return ServerMode(mode)
    # Credentials that did not let the caller in (wrong, or not accepted
    # over this transport): anonymous, and no challenge, as git-annex.
    return anonymous(policy, False)


def decide(policy: Policy, actionClass: str, secure: bool, credentials):
    """
    @param actionClass: C{read}, C{write}, C{remove} or C{lock}.
    @return: the session's L{Mode}, or L{Refused}.
    """
    return judge(server_mode(policy, secure, credentials), actionClass)


def judge(sm: ServerMode, actionClass: str):
    """
    What a caller who gets C{sm} may do for a request of C{actionClass}.
    """
    refused = Refused(401, True) if sm.canAuthenticate else Refused(403, False)
    if sm.mode is None:
        return Refused(401, True)
    if sm.mode is Mode.READ_WRITE:
        return Mode.READ_WRITE
    if sm.lockingAllowed and actionClass == "lock":
        return Mode.READ_ONLY
    if sm.mode is Mode.APPEND_ONLY:
        return refused if actionClass == "remove" else Mode.APPEND_ONLY
    if actionClass == "read":
        return Mode.READ_ONLY
    return refused
