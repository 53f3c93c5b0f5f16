"""
What each p2phttp action is in P2P messages, on the request's session
(L{annexrelay.frontdoor.http.link.P2PLink}), as git-annex's server does it:

 - C{checkpresent}, C{remove}, C{remove-before}, C{gettimestamp}: one
   request, one reply;
 - C{putoffset}: C{PUT}, then C{DATA 0} and C{INVALID} after the node's
   C{PUT-FROM}: its offset is the answer;
 - C{put}: C{PUT}; after C{PUT-FROM o} the body is streamed as
   C{DATA}, from where the node wants it (bytes before C{o} skipped),
   its last byte held back until the body has ended; a body shorter or
   longer than announced ends the session in the middle of C{DATA}, as a
   client cut off does: nothing is recorded and the
   node keeps what it got, so C{putoffset} resumes from there (git-annex's
   server does the same; padding to the announced length so as to send
   C{INVALID} would mean the relay sending up to the announced length of
   zeros, and a node that gets C{INVALID} drops what it had);
 - C{lockcontent}: C{LOCKCONTENT}; the session is then held by the door's
   L{annexrelay.frontdoor.http.locks.Locks} until C{keeplocked} ends (when
   it already holds C{--lockedfiles} locks: C{{"locked":false}}, as
   git-annex);
 - C{keeplocked}: reads the body's lines (C{{"unlock":false}} ...
   C{{"unlock":true}}) and releases the lock at the first true one, at the
   body's end, or when the client goes away.
"""

import json

from annexrelay.frontdoor.http import replies
from annexrelay.frontdoor.http.limits import NodeStalled
from annexrelay.p2p import messages
from annexrelay.p2p.messages import Message, is_reply

MAX_UNLOCK_LINE = 4096


class ClientGone(Exception):
    """
    The HTTP client went away in the middle of its request.
    """


async def simple(exchange, link, route):
    """
    The actions that are one request and one reply.

    @return: an L{replies.Answer}.
    """
    conn = link.conn
    p = route.params
    v = route.version
    action = route.action
    if action == "checkpresent":
        return replies.checkpresent(await conn.request(Message("CHECKPRESENT", (p["key"],))))
    if action == "remove":
        return replies.remove(await conn.request(Message("REMOVE", (p["key"],))), v)
    if action == "remove-before":
        return replies.remove(await conn.request(Message("REMOVE-BEFORE", (p["timestamp"], p["key"]))), v)
    if action == "gettimestamp":
        return replies.timestamp(await conn.request(Message("GETTIMESTAMP")))
    if action == "putoffset":
        reply = await conn.request(Message("PUT", (b"", p["key"])))
        if is_reply(reply, "PUT-FROM"):
            conn.sendMessage(messages.data(0))
            conn.sendMessage(messages.INVALID)
            await conn.nextMessage()
        return replies.putoffset(reply, v)
    raise AssertionError(action)  # pragma: no cover


async def put(exchange, link, route):
    """
    Store the request's body through C{link}.

    @return: an L{replies.Answer}.
    @raise ClientGone: the client went away; the session was ended.
    """
    conn = link.conn
    p = route.params
    v = route.version
    body = exchange.request.body
    n = p["datalength"]
    want = p.get("offset", 0)
    if n < 0 or want < 0:
        body.discard()
        return replies.not_stored(v)
    reply = await conn.request(Message("PUT", (p.get("associatedfile", b""), p["key"])))
    if not is_reply(reply, "PUT-FROM"):
        body.discard()
        if replies.unreachable(reply) or replies.over_quota(reply):
            return replies.failure(reply)
        return replies.stored(reply, v)
    if p.get("data-present"):
        body.discard()
        conn.sendMessage(Message("DATA-PRESENT"))
        return replies.stored(await conn.nextMessage(), v)
    have = reply.args[0]
    skip = max(0, have - want)
    state = {"skip": skip, "left": max(0, n - skip), "extra": False}
    conn.sendMessage(messages.data(state["left"]))
    transport = conn.transport

    def sink(data):
        if state["skip"]:
            cut = min(state["skip"], len(data))
            data = data[cut:]
            state["skip"] -= cut
        if len(data) > state["left"]:
            state["extra"] = True
            data = data[: state["left"]]
        state["left"] -= len(data)
        if state["left"] == 0 and data:
            # The last byte waits for the end of the body: a body longer
            # than announced must not complete the DATA.
            data, state["last"] = data[:-1], data[-1:]
        if data:
            transport.write(data)

    stalled = []
    door = getattr(exchange, "door", None)
    if door is not None and door.limits.nodeTimeout is not None:
        timeout = door.limits.nodeTimeout

        def stop():
            # The node took nothing for that long: end its session; the
            # rest of the body is dropped as it comes, then 504.
            stalled.append(NodeStalled("the node took no data for %g seconds" % (timeout,)))
            link.abort()

        body.watchConsumer(door.clock, timeout, stop)
    transport.registerProducer(body, True)
    body.attach(sink)
    try:
        await body.whenEnded()
    except Exception:
        # What arrived goes to the node first, so a retry resumes.
        link.close()
        raise ClientGone()
    finally:
        body.watchConsumer(None, None, None)
        if transport.connected:
            transport.unregisterProducer()
    if stalled:
        raise stalled[0]
    if state["left"] > 0 or state["extra"]:
        link.close()
        exchange.log(
            "put of {key}: the body was {how} than its announced length",
            key=p["key"],
            how="longer" if state["extra"] else "%d byte(s) shorter" % (state["left"],),
        )
        return replies.not_stored(v)
    transport.write(state.get("last", b""))
    if conn.version >= 1:
        conn.sendMessage(messages.INVALID if have < want else messages.VALID)
    return replies.stored(await conn.nextMessage(), v)


async def lockcontent(exchange, link, route, locks):
    """
    Lock the key; on success the lock (and C{link}) belong to C{locks}.

    @return: C{(answer, kept)}.
    """
    key = route.params["key"]
    if locks.full:
        exchange.log("lockcontent of {key} refused: {n} locks held (--lockedfiles)", key=key, n=len(locks))
        return replies.locked(None), False
    reply = await link.conn.request(Message("LOCKCONTENT", (key,)))
    if is_reply(reply, "SUCCESS"):
        lockid = locks.add(link, key)
        if lockid is None:
            link.conn.sendMessage(messages.UNLOCKCONTENT)
            return replies.locked(None), False
        return replies.locked(lockid), True
    if replies.unreachable(reply):
        return replies.failure(reply), False
    return replies.locked(None), False


async def keeplocked(exchange, route, locks):
    """
    Keep a lock while the request's body lasts.

    @return: an L{replies.Answer}.
    """
    lockid = route.params["lockid"]
    body = exchange.request.body
    if not locks.keep(lockid):
        body.discard()
        return replies.locked(None)
    pending = [b""]

    def sink(data):
        lines = (pending[0] + data).split(b"\n")
        pending[0] = lines.pop()[-MAX_UNLOCK_LINE:]
        for line in lines:
            if _unlock(line):
                locks.release(lockid, "the client unlocked")

    body.attach(sink)
    try:
        await body.whenEnded()
    except Exception:
        locks.release(lockid, "the client went away")
        raise ClientGone()
    if _unlock(pending[0]):
        locks.release(lockid, "the client unlocked")
    locks.release(lockid, "keeplocked ended")
    return replies.locked(None)


def _unlock(line):
    try:
        value = json.loads(line.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("unlock") is True
