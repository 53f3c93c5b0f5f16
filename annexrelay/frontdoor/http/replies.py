"""
The p2phttp replies, as pure functions: a P2P reply in, an L{Answer}
(status, body) out, worded as git-annex 10.20261026 words them.

JSON bodies have their keys sorted and no spaces (C{{"plusuuids":[],
"stored":true}}), as git-annex's aeson emits them; versions 0 and 1 have
no C{plusuuids}.  A node the core could not reach is 502 with the reason,
as git-annex answers when it cannot connect to a proxied remote; other
protocol failures are 500 with the text.
"""

import json
from typing import NamedTuple

from annexrelay.p2p.messages import Message, is_reply, plus_uuids

JSON_TYPE = b"application/json;charset=utf-8"
UNREACHABLE = b"cannot reach node"
OVER_QUOTA = b"over quota"


class Answer(NamedTuple):
    status: int
    body: bytes
    json: bool = True
    # The status line's reason phrase, when not the usual one: what the
    # git-annex client shows of a failed request ("507 over quota: ...").
    reason: bytes = None


def dumps(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def ok(obj) -> Answer:
    return Answer(200, dumps(obj))


def _uuids(values):
    return [u.decode("utf-8", "replace") for u in values]


def failure(reply) -> Answer:
    """
    A reply that is no answer to the request: an C{ERROR}, an unparsable
    line, or None when the session ended.
    """
    if isinstance(reply, Message) and reply.name == "ERROR":
        text = reply.args[0]
        if text.startswith(OVER_QUOTA):
            # 507 Insufficient Storage, as WebDAV answers a quota; the
            # client shows the status line, so it says why.
            return Answer(507, text + b"\n", json=False, reason=text.replace(b"\r", b" ")[:400])
        status = 502 if text.startswith(UNREACHABLE) else 500
        return Answer(status, text, json=False)
    if reply is None:
        return Answer(500, b"the P2P session ended", json=False)
    return Answer(500, b"unexpected reply: %s" % (repr(reply).encode(),), json=False)


def unreachable(reply) -> bool:
    return isinstance(reply, Message) and reply.name == "ERROR" and reply.args[0].startswith(UNREACHABLE)


def over_quota(reply) -> bool:
    return isinstance(reply, Message) and reply.name == "ERROR" and reply.args[0].startswith(OVER_QUOTA)


def checkpresent(reply) -> Answer:
    if is_reply(reply, "SUCCESS", "FAILURE"):
        return ok({"present": reply.name == "SUCCESS"})
    return failure(reply)


def with_plus(field, value, uuids, version) -> Answer:
    """
    C{{field: value}}, with C{plusuuids} from version 2 on.
    """
    body = {field: value}
    if version >= 2:
        body["plusuuids"] = _uuids(uuids)
    return ok(body)


def remove(reply, version) -> Answer:
    if is_reply(reply, "SUCCESS", "SUCCESS-PLUS", "FAILURE", "FAILURE-PLUS"):
        return with_plus("removed", reply.name.startswith("SUCCESS"), plus_uuids(reply), version)
    return failure(reply)


def stored(reply, version) -> Answer:
    """
    The node's last word on a put (C{SUCCESS}, C{FAILURE}, their C{-PLUS}
    forms; C{ALREADY-HAVE} counts as stored).
    """
    if unreachable(reply):
        return failure(reply)
    done = is_reply(reply, "SUCCESS", "SUCCESS-PLUS", "ALREADY-HAVE", "ALREADY-HAVE-PLUS")
    return with_plus("stored", done, plus_uuids(reply) if done else [], version)


def not_stored(version) -> Answer:
    return with_plus("stored", False, [], version)


def putoffset(reply, version) -> Answer:
    """
    The answer to C{PUT}: C{PUT-FROM o}, or C{ALREADY-HAVE(-PLUS)}.
    """
    if is_reply(reply, "PUT-FROM"):
        return ok({"offset": reply.args[0]})
    if is_reply(reply, "ALREADY-HAVE", "ALREADY-HAVE-PLUS"):
        return with_plus("alreadyhave", True, plus_uuids(reply), version)
    return failure(reply)


def timestamp(reply) -> Answer:
    if is_reply(reply, "TIMESTAMP"):
        return ok({"timestamp": reply.args[0]})
    return failure(reply)


def locked(lockid) -> Answer:
    """
    C{{"locked":true,"lockid":...}} or C{{"locked":false}}.
    """
    if lockid is None:
        return ok({"locked": False})
    return ok({"locked": True, "lockid": lockid.decode("ascii")})
