"""
The annex+http door's bounds on load and time, their command-line options
(joined to C{twistd annexrelay}'s in L{annexrelay.tap}) and L{within}, the
one way the door gives up waiting for a node.

 - C{--max-requests}, C{--max-requests-per-client}, C{--queue-timeout},
   C{--max-queued}: admission (L{annexrelay.frontdoor.http.admission});
 - C{--lockedfiles}: content locks held at once, as C{git annex p2phttp
   --lockedfiles} (default 100; past it C{lockcontent} answers
   C{{"locked":false}}, as git-annex does);
 - C{--header-timeout}: seconds a request's headers may take to arrive,
   counted from its first byte, before any authentication (slowloris);
 - C{--body-timeout}: seconds a request body may stop arriving while the
   door is ready for it (never for C{keeplocked}, whose body lasts as long
   as the client's drop); the request ends as if the client went away, so a
   put's node keeps what it got and C{putoffset} resumes it.  Likewise a
   client that reads nothing of a GET's response for that long;
 - C{--node-timeout}: seconds a node may take to answer a request (its
   handshake, C{CHECKPRESENT}, C{PUT}, C{GET}, ...) before the request ends
   with 504 and its session is aborted; likewise a node that sends
   nothing of a GET's payload (the response, already started, is cut
   short) or takes nothing of a put's for that long.  The default is above the cluster
   gateway's own 120 s reply timeout, so a cluster answers first with the
   nodes that did answer.
"""

from typing import NamedTuple, Optional

from twisted.internet import defer
from twisted.python.failure import Failure

OPTIONS = [
    ["max-requests", None, 100, "annex+http: requests served at once (0: no bound); more wait in a queue.", int],
    ["max-requests-per-client", None, 16, "annex+http: requests served at once for one client address (0: no bound).", int],
    ["queue-timeout", None, 60.0, "annex+http: seconds a request may wait for a slot before it gets 503 with Retry-After.", float],
    ["max-queued", None, 1000, "annex+http: requests that may wait; past it, 503 at once (and /readyz answers 503).", int],
    ["lockedfiles", None, 100, "annex+http: content locks held at once (as git annex p2phttp).", int],
    ["header-timeout", None, 30.0, "annex+http: seconds a request's headers may take to arrive.", float],
    ["body-timeout", None, 120.0, "annex+http: seconds a client may stop sending a request body, or reading a response, before its request ends.", float],
    ["node-timeout", None, 130.0, "annex+http: seconds a node may take to answer before the request ends with 504.", float],
]


def _bound(n):
    return n if n and n > 0 else None


class Limits(NamedTuple):
    maxRequests: Optional[int] = None
    perClient: Optional[int] = None
    queueTimeout: float = 60.0
    maxQueued: int = 1000
    lockedFiles: int = 100
    headerTimeout: Optional[float] = 30.0
    bodyTimeout: Optional[float] = 120.0
    nodeTimeout: Optional[float] = 130.0

    @classmethod
    def fromOptions(cls, options):
        return cls(
            maxRequests=_bound(options["max-requests"]),
            perClient=_bound(options["max-requests-per-client"]),
            queueTimeout=options["queue-timeout"],
            maxQueued=max(0, options["max-queued"]),
            lockedFiles=max(0, options["lockedfiles"]),
            headerTimeout=_bound(options["header-timeout"]),
            bodyTimeout=_bound(options["body-timeout"]),
            nodeTimeout=_bound(options["node-timeout"]),
        )


class NodeStalled(Exception):
    """
    A node did not answer in time.
    """


def within(clock, seconds, d, what):
    """
    C{d}'s result, or L{NodeStalled} after C{seconds} (None: no bound).
    C{d} itself is left alone (whoever owns the session aborts it), and
    whatever it fires with later is dropped.
    """
    if seconds is None:
        return d
    out = defer.Deferred()

    def late():
        out.errback(NodeStalled("no answer from the node to %s in %g seconds" % (what, seconds)))

    timer = clock.callLater(seconds, late)

    def done(result):
        if timer.active():
            timer.cancel()
        if not out.called:
            if isinstance(result, Failure):
                out.errback(result)
            else:
                out.callback(result)
        return None

    d.addBoth(done)
    return out
