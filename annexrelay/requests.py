"""
What a client may ask, as pure functions: the session modes, which
messages are requests for a target, and the checks every request passes
before any node sees it (the mode's refusals in git-annex's words, a key
no location log could hold, a negative offset).  Every front door's
sessions go through the same checks (L{annexrelay.clientside}).
"""

import enum
from typing import NamedTuple, Optional

from annexrelay.branch import locationlog
from annexrelay.p2p import messages
from annexrelay.p2p.messages import Message


class Mode(enum.Enum):
    """
    Server modes, as selected by C{GIT_ANNEX_SHELL_READONLY} and
    C{GIT_ANNEX_SHELL_APPENDONLY} (or a token's, or a user's, mode).
    """

    READ_WRITE = "read-write"
    APPEND_ONLY = "append-only"
    READ_ONLY = "read-only"

    @classmethod
    def fromEnvironment(cls, env):
        if env.get("GIT_ANNEX_SHELL_READONLY"):
            return cls.READ_ONLY
        if env.get("GIT_ANNEX_SHELL_APPENDONLY"):
            return cls.APPEND_ONLY
        return cls.READ_WRITE


# Requests a target serves; everything else at top level is the session's.
REQUESTS = frozenset(
    ["CHECKPRESENT", "LOCKCONTENT", "REMOVE", "REMOVE-BEFORE", "GETTIMESTAMP", "GET", "PUT", "CONNECT", "NOTIFYCHANGE"]
)
# Requests naming a key (its last argument).
KEYED = frozenset(["CHECKPRESENT", "LOCKCONTENT", "REMOVE", "REMOVE-BEFORE", "GET", "PUT"])
WRITES = frozenset(["PUT"])
REMOVALS = frozenset(["REMOVE", "REMOVE-BEFORE"])


class Refusal(NamedTuple):
    """
    A request turned away before any node sees it.

    @ivar reply: the C{ERROR} the client gets.
    @ivar why: what the log says.
    @ivar byMode: whether the session's mode refused it.
    """

    reply: Message
    why: str
    byMode: bool


def mode_refusal(mode: Mode, msg: Message) -> Optional[Message]:
    """
    git-annex's refusal of C{msg} in C{mode}, or None when it is allowed.
    """
    name = msg.name
    if name == "CONNECT" and msg.args[0] == b"git-receive-pack" and mode is not Mode.READ_WRITE:
        return messages.READ_ONLY
    if mode is Mode.READ_ONLY and (name in WRITES or name in REMOVALS):
        return messages.READ_ONLY
    if mode is Mode.APPEND_ONLY and name in REMOVALS:
        return messages.APPEND_ONLY
    return None


def screen(mode: Mode, msg: Message) -> Optional[Refusal]:
    """
    Whether request C{msg} may go to the target in C{mode}.
    """
    refused = mode_refusal(mode, msg)
    if refused is not None:
        return Refusal(refused, "%s session" % (mode.value,), True)
    if msg.name == "GET" and msg.args[0] < 0:
        return Refusal(messages.error("invalid offset %d" % msg.args[0]), "invalid offset", False)
    if msg.name in KEYED:
        bad = locationlog.unrecordable(msg.args[-1])
        if bad is not None:
            return Refusal(messages.error("invalid key: " + bad), bad, False)
    return None
