"""
The requests annexrelay answers for a node it writes itself, in the P2P
protocol as git-annex's server answers them (C{P2P.Protocol}
C{serverHandler}): C{CHECKPRESENT} and C{PUT}.  Everything else (C{GET},
C{REMOVE}, C{LOCKCONTENT}, ...) still goes to the node's git-annex-shell,
which takes git-annex's content locks.

A C{PUT}:
 0. the node's repository is gone (moved away, its disk not mounted): an
    C{ERROR} saying so, as for a node its git-annex-shell cannot reach
    (to C{CHECKPRESENT} too: a C{FAILURE} would have C{fsck --from} record
    the content lost);
 1. the node has the object: C{ALREADY-HAVE};
 2. the transfer locks and the free space (L{objects.LocalNode.receiving});
    either failing is an C{ERROR} saying so;
 3. C{PUT-FROM <size of the partial object>}, then the client's C{DATA n},
    its payload written as it arrives, and (version 1 and up) its
    C{VALID}/C{INVALID}; C{DATA-PRESENT} (version 4) is answered by whether
    the object is there;
 4. C{SUCCESS} once the object is checked and in place, else C{FAILURE}.
"""

from twisted.logger import Logger

from annexrelay.interfaces import SessionAborted
from annexrelay.localnode.objects import Busy
from annexrelay.p2p import messages
from annexrelay.p2p.framing import ShortData
from annexrelay.p2p.messages import is_reply
from annexrelay.targets.relaying import clientVerdict

# Requests a local node answers itself.
SERVED = frozenset(["CHECKPRESENT", "PUT"])

log = Logger()


def serves(local, msg):
    """
    Whether C{msg} is answered by annexrelay for C{local} (a
    L{annexrelay.localnode.objects.LocalNode}, or None).
    """
    if local is None or msg.name not in SERVED:
        return False
    return msg.name == "CHECKPRESENT" or local.takes(msg.args[-1])


def ask(local, key):
    """
    C{PUT} of C{key} asked of C{local}, for a payload the caller already
    holds (a cluster's small upload).

    @return: C{(reply, receiving)}: C{PUT-FROM} with a
        L{annexrelay.localnode.objects.Receiving} to L{storeWhole} with and
        close, or C{ALREADY-HAVE}/an C{ERROR} with None.
    """
    if local.present(key):
        return messages.ALREADY_HAVE, None
    try:
        receiving = local.receiving(key)
    except Busy as e:
        log.info("node {node}: {key}: {why}", node=local.name, key=key.decode("utf-8", "replace"), why=str(e))
        return messages.error(str(e)), None
    except OSError as e:
        log.warn("node {node}: cannot receive {key}: {error}", node=local.name, key=key.decode("utf-8", "replace"), error=e)
        return messages.error("node %s cannot receive it: %s" % (local.name, e.strerror or e)), None
    return messages.Message("PUT-FROM", (receiving.offset(),)), receiving


async def storeWhole(receiving, payload, offset, verdict):
    """
    Store C{payload} (the whole object) from C{offset}, as after a
    client's C{DATA} and C{verdict} (None below version 1).

    @return: C{SUCCESS} or C{FAILURE}.
    """
    offset = min(offset, len(payload))
    try:
        await receiving.start(offset)
    except OSError as e:
        log.warn("node {node}: cannot receive {key}: {error}", node=receiving.node.name, key=receiving.key.decode("utf-8", "replace"), error=e)
        return messages.FAILURE
    receiving.write(payload[offset:])
    bad = not payload and is_reply(verdict, "INVALID")
    return messages.SUCCESS if await receiving.finish(len(payload), verdictKnownBad=bad) else messages.FAILURE


def _gone(local):
    why = local.gone()
    if why is not None:
        log.warn("{why}", why=why)
        return messages.error(why)
    return None


def checkPresent(local, msg):
    """
    @return: C{SUCCESS}, C{FAILURE}, or an C{ERROR} when the node is gone.
    """
    gone = _gone(local)
    if gone is not None:
        return gone
    return messages.SUCCESS if local.present(msg.args[-1]) else messages.FAILURE


async def put(local, session, msg, transfers):
    """
    Serve the client's C{PUT}.

    @param transfers: the target's L{annexrelay.targets.relaying.Transfers}.
    @return: the reply that ends the PUT, for the caller to record and send
        (C{SUCCESS}, C{FAILURE}, C{ALREADY-HAVE}, an C{ERROR}), or None
        when the client gave up and expects none.
    """
    key = msg.args[1]
    gone = _gone(local)
    if gone is not None:
        return gone
    first, receiving = ask(local, key)
    if receiving is None:
        return first
    try:
        offset = first.args[0]
        try:
            await receiving.start(offset)
        except OSError as e:
            log.warn("node {node}: cannot receive {key}: {error}", node=local.name, key=key.decode("utf-8", "replace"), error=e)
            return messages.error("node %s cannot receive it: %s" % (local.name, e.strerror or e))
        session.sendMessage(first)
        nxt = await session.nextMessage()
        if is_reply(nxt, "DATA"):
            n = nxt.args[0]
            if n < 0:
                raise SessionAborted("client announced DATA %d" % (n,))
            transfers.note("PUT", key, offset, n)
            size = receiving.check.size
            # More than the key's size cannot be its content: it is read and
            # dropped, so that it cannot fill the node's disk past
            # annex.diskreserve, and the PUT fails.
            tooMuch = size is not None and offset + n > size
            if tooMuch:
                log.warn(
                    "node {node}: {key}: the client sent {n} bytes from offset {offset}, more than the key's size; dropped",
                    node=local.name, key=key.decode("utf-8", "replace"), n=n, offset=offset,
                )
            try:
                await session.readData(n, None if tooMuch else receiving.write)
            except ShortData as e:
                # What arrived stays in annex/tmp, for the client to resume.
                raise SessionAborted("client stopped sending in the middle of PUT data: %s" % (e,))
            verdict = await clientVerdict(session) if session.version >= 1 else None
            if tooMuch:
                return messages.FAILURE
            bad = n == 0 and is_reply(verdict, "INVALID")
            ok = await receiving.finish(offset + n, verdictKnownBad=bad)
            return messages.SUCCESS if ok else messages.FAILURE
        if is_reply(nxt, "DATA-PRESENT") and session.version >= 4:
            return messages.SUCCESS if local.present(key) else messages.FAILURE
        if is_reply(nxt, "ERROR"):
            return None
        return messages.EXPECTED_DATA
    finally:
        receiving.close()
