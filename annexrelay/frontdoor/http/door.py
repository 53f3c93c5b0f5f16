"""
The annex+http front door: a drop-in for C{git annex p2phttp} on the
shared core.

One request: its route and parameters (L{annexrelay.frontdoor.http.routes},
refused as git-annex refuses them) → the target for its UUID from the core
(404 when the repository serves no such UUID) → the caller's mode from the
flags and users (L{annexrelay.frontdoor.http.users}: 401/403) → a P2P
session on that target in that mode (L{annexrelay.frontdoor.http.link}) →
the action's P2P messages (L{annexrelay.frontdoor.http.actions},
L{annexrelay.frontdoor.http.download}) → the JSON reply git-annex gives
(L{annexrelay.frontdoor.http.replies}).  One log line per request.

Each request is owned by its L{Exchange}: when the request ends, however
it ends, its session is closed (or aborted, when the client went away
mid-way); only a granted lock outlives it, owned by the door's
L{annexrelay.frontdoor.http.locks.Locks}.
"""

import time

from twisted.application import service
from twisted.internet import defer, error
from twisted.logger import Logger

from annexrelay.core import TargetUnknown
from annexrelay.frontdoor.http import actions, download, replies, routes, users
from annexrelay.frontdoor.http.admission import Admission, Refused
from annexrelay.frontdoor.http.git import GitSide
from annexrelay.frontdoor.http.gitroutes import GitRoute
from annexrelay.frontdoor.http.limits import Limits, NodeStalled
from annexrelay.frontdoor.http.link import openLink
from annexrelay.frontdoor.http.linkpool import LinkPool
from annexrelay.frontdoor.http.locks import Locks
from annexrelay.frontdoor.http.request import StreamingFactory
from annexrelay.frontdoor.http.routes import Refusal, Route
from annexrelay.frontdoor.http.signon import Access
from annexrelay.p2p.framing import ShortData

log = Logger()


class Exchange:
    """
    One HTTP request and what it opened.
    """

    def __init__(self, door, request):
        self.door = door
        self.request = request
        self.link = None
        self.cut = False
        self.status = None
        self.waiting = None
        self.ticket = None
        self.bytes = 0
        self.target = b""
        self.why = ""
        self.started = door.clock.seconds()

    def whenBodyComplete(self):
        return self.request.bodyComplete

    async def respond(self, answer, headers=()):
        """
        Write C{answer} once the body has arrived (a body nobody reads is
        dropped as it comes).
        """
        request = self.request
        if not request.body.ended:
            if not request.body.claimed:
                request.body.discard()
            await self.whenBodyComplete()
        if request.gone():
            return
        self.status = answer.status
        request.setResponseCode(answer.status, answer.reason)
        if answer.json:
            request.setHeader(b"Content-Type", replies.JSON_TYPE)
        for name, value in headers:
            request.setHeader(name, value)
        request.write(answer.body)
        request.finish()

    def log(self, fmt, **kw):
        log.info("{peer}: " + fmt, peer=self.peer(), **kw)

    def peer(self):
        p = self.request.getClientAddress()
        return "http %s:%s" % (getattr(p, "host", "?"), getattr(p, "port", "?"))


class HttpFrontDoor(service.Service):
    """
    @param policy: the L{users.Policy} (flags and users).
    @param clock: the reactor (time, C{callLater}).
    @param cores: with C{--directory}, the
        L{annexrelay.directory.cores.Directory} requests are resolved in
        (paths are then scoped: C{/PATH/git-annex/...}); else C{core}.
    @param access: the L{Access} that decides (annexrelay's users, trusted
        headers, the login throttle); default: C{policy} alone.
    """

    def __init__(self, reactor, core, policy, monotonic=None, cores=None, access=None):
        self.reactor = reactor
        self.clock = reactor
        self.core = core
        self.cores = cores
        self.scoped = cores is not None
        self.policy = policy
        owner = cores if cores is not None else core
        self.access = access or Access(reactor, policy, metrics=getattr(owner, "metrics", None))
        self.monotonic = monotonic or time.monotonic
        self.live = set()
        self.git = GitSide(self)
        self.links = LinkPool(reactor)
        self.stopping = False
        self.applyLimits(Limits())

    def applyLimits(self, limits):
        """
        Bound the door's load and waits (L{annexrelay.frontdoor.http.limits});
        before it starts.  The core's C{saturation} list gets the
        admission's L{Admission.saturated}, for C{/readyz}.
        """
        self.limits = limits
        self.locks = Locks(self.reactor, limit=limits.lockedFiles)
        old = getattr(self, "admission", None)
        # One core, or with --directory the directory of them (it keeps
        # the metrics and the saturation list for all).
        owner = self.cores if self.cores is not None else self.core
        saturation = getattr(owner, "saturation", None)
        if old is not None and saturation is not None and old.saturated in saturation:
            saturation.remove(old.saturated)
        self.admission = Admission(
            self.clock, limits.maxRequests, limits.perClient, limits.queueTimeout, limits.maxQueued,
            getattr(owner, "metrics", None),
        )
        if saturation is not None:
            saturation.append(self.admission.saturated)

    def factory(self, listener=None):
        """
        The HTTP factory of one listener (C{listener}: its endpoint
        string, which its requests carry as C{request.listener}).
        """
        return StreamingFactory(self, self.reactor, listener)

    def stopService(self):
        service.Service.stopService(self)
        self.stopping = True
        self.admission.refuseAll()
        self.locks.releaseAll()
        self.links.closeAll()
        for exchange in list(self.live):
            if exchange.link is not None:
                exchange.link.abort()

    # One request

    def begin(self, request):
        exchange = Exchange(self, request)
        self.live.add(exchange)
        request.notifyFinish().addErrback(lambda f: self._gone(exchange))
        handler = self.git.handle if isinstance(request.route, GitRoute) else self._handle
        d = defer.ensureDeferred(handler(exchange))
        d.addErrback(self._crashed, exchange)
        d.addBoth(self._done, exchange)

    async def _handle(self, exchange):
        request = exchange.request
        route = request.route
        if isinstance(route, Refusal):
            await exchange.respond(replies.Answer(route.status, route.body, json=False))
            return
        exchange.target = route.uuid
        credentials = routes.authorization(request.getHeader(b"authorization"))
        if isinstance(credentials, Refusal):
            await exchange.respond(replies.Answer(credentials.status, credentials.body, json=False))
            return
        await self.access.prepare(request, credentials)
        if request.gone():
            # (Gone while its login waited.)
            return
        scope = getattr(request, "scope", ())
        # May the caller make the door look for the repository?  For an
        # unscoped request with --directory: if they may reach any.
        asked = scope if scope or not self.scoped else None
        allowed = lambda: not isinstance(  # noqa: E731
            self.authorize(request, route.actionClass, credentials, asked, route.uuid), users.Refused
        )
        try:
            core, target = await self._resolve(request, route, allowed)
        except TargetUnknown:
            await exchange.respond(replies.Answer(404, b"", json=False))
            return
        # Decided on the repository the request reached (an unscoped
        # request's is found by its UUID).
        if self.scoped and core is not None:
            scope = self.cores.scopeOf(core)
        mode = self.authorize(request, route.actionClass, credentials, scope, route.uuid)
        if isinstance(mode, users.Refused):
            exchange.why = mode.why
            target.close()
            headers = [(b"WWW-Authenticate", users.CHALLENGE)] if mode.challenge else []
            await exchange.respond(replies.Answer(mode.status, b"", json=False), headers)
            return
        if route.action == "keeplocked":
            target.close()
            await exchange.respond(await actions.keeplocked(exchange, route, self.locks))
            return
        if not await self.admit(exchange, target):
            return
        version = route.version
        bypass = route.params.get("bypass", ())
        poolKey = self.links.key(core, target, mode, version, bypass)
        exchange.link = self.links.take(poolKey, exchange.peer())
        if exchange.link is not None:
            target.close()
        else:
            try:
                exchange.link = await openLink(
                    self.reactor, core, target, mode, version, bypass, exchange.peer(), self.limits.nodeTimeout
                )
            except NodeStalled as e:
                await self._stalled(exchange, e)
                return
        if request.gone():
            # Gone while the session was being opened: nobody else will
            # end it (its _gone found no link yet).
            exchange.link.abort()
            raise actions.ClientGone()
        kept = clean = False
        try:
            if route.action == "key":
                sent = await download.get(exchange, exchange.link, route)
                if sent is not None:
                    exchange.status = 200
                    exchange.bytes = sent
                    clean = not exchange.cut
                    self._endResponse(exchange)
                return
            if route.action == "put":
                answer = await actions.put(exchange, exchange.link, route)
                exchange.bytes = request.body.received
            elif route.action == "lockcontent":
                answer, kept = await actions.lockcontent(exchange, exchange.link, route, self.locks)
            else:
                answer = await actions.simple(exchange, exchange.link, route)
            clean = route.action != "lockcontent"
            await exchange.respond(answer)
        except NodeStalled as e:
            await self._stalled(exchange, e)
        finally:
            if not kept and clean and not exchange.cut and not request.gone() and not self.stopping:
                # Between requests, as an ssh session is: the next request
                # for the same target takes it (L{LinkPool}).
                self.links.give(poolKey, exchange.link)
            elif not kept:
                exchange.link.close()

    def authorize(self, request, actionClass, credentials, scope=(), target=None):
        """
        The one place a caller's mode is decided, for every request the
        door serves.

        @param actionClass: C{read}, C{write}, C{remove} or C{lock}.
        @param credentials: None or C{(user, password)} from the request.
        @param scope: the repository's path under C{--directory} (a tuple
            of path segments; empty for the single repository; None: any
            repository, for whether a caller may make the door scan).
        @param target: the UUID (bytes) the request is for, or None for
            a request for the repository as a whole.
        @return: the session's L{annexrelay.requests.Mode}, or
            L{users.Refused} (its C{why} for the log).

        A store user's password is checked here if L{Access.prepare} did
        not check it for this request already; awaiting
        C{self.access.prepare(request, credentials)} first keeps that
        (slow) check off the reactor thread and applies the login
        throttle's wait.
        """
        return self.access.decide(request, actionClass, credentials, scope, target)

    async def admit(self, exchange, target):
        """
        Wait for the request's turn (L{Admission}); answer 503 when it is
        refused.

        @return: whether the request may go on.
        """
        p = exchange.request.getClientAddress()
        exchange.waiting = self.admission.admit(getattr(p, "host", None) or str(p))
        try:
            exchange.ticket = await exchange.waiting
        except Refused as refused:
            target.close()
            exchange.log("refused for load: {why}", why=refused.why.decode())
            answer = replies.Answer(503, refused.why + b"\n", json=False)
            await exchange.respond(answer, [(b"Retry-After", b"%d" % (refused.retryAfter,))])
            return False
        except BaseException:
            target.close()
            raise
        finally:
            exchange.waiting = None
        return True

    async def _stalled(self, exchange, e):
        """
        The node did not answer in time: abort the session, answer 504.
        """
        log.warn("p2phttp request from {peer}: {why}", peer=exchange.peer(), why=str(e))
        if exchange.link is not None:
            exchange.link.abort()
        if exchange.request.startedWriting:
            exchange.request.channel.transport.loseConnection()
            return
        await exchange.respond(replies.Answer(504, str(e).encode() + b"\n", json=False))

    def _endResponse(self, exchange):
        request = exchange.request
        if request.gone():
            return
        if exchange.cut:
            request.channel.transport.loseConnection()
            return
        request.finish()

    async def _resolve(self, request, route, allowed):
        """
        The core and target of a request: the core's, or with
        C{--directory} the L{annexrelay.directory.cores.Directory}'s (a
        miss there scans only when C{allowed()}).
        """
        if not self.scoped:
            return self.core, self.core.targetFor(route.uuid, own=True)
        return await self.cores.resolve(request.scope, route.uuid, allowed)

    def _gone(self, exchange):
        """
        The client went away before its response was finished: end its
        session (what it sent is delivered first, so a cut upload resumes;
        a lock it was granted is ended with it).
        """
        exchange.cut = True
        if exchange.waiting is not None:
            exchange.waiting.cancel()
        if exchange.link is not None:
            exchange.link.close()
        return None

    def _crashed(self, failure, exchange):
        if failure.check(actions.ClientGone) or exchange.cut or exchange.request.gone():
            return None
        if failure.check(ShortData, error.ConnectionDone, error.ConnectionLost):
            # The session ended under the request (its node went away).
            log.warn("p2phttp request from {peer} cut short: {why}", peer=exchange.peer(), why=str(failure.value))
        else:
            log.failure("p2phttp request from {peer} failed", failure, peer=exchange.peer())
        if exchange.link is not None:
            exchange.link.abort()
        request = exchange.request
        if not request.startedWriting and request.bodyComplete.called:
            exchange.status = 500
            request.setResponseCode(500)
            request.write(str(failure.value).encode("utf-8", "replace"))
            request.finish()
        elif not request.gone():
            request.channel.transport.loseConnection()
        return None

    def _done(self, _, exchange):
        self.live.discard(exchange)
        if exchange.ticket is not None:
            exchange.ticket.release()
        request = exchange.request
        route = request.route
        key = b""
        if isinstance(route, Route):
            key = route.params.get("key", route.params.get("lockid", b""))
            what = "%s v%d" % (route.action, route.version) if not route.generic else "key"
        elif isinstance(route, GitRoute):
            what = route.name
        else:
            what = "refused"
        log.info(
            "{method} {route} {target} {key} -> {status} {bytes} bytes {seconds:.3f} s ({peer}){why}",
            method=request.verb,
            route=what,
            target=exchange.target.decode("utf-8", "replace") or "-",
            key=key.decode("utf-8", "replace") or "-",
            status=exchange.status if exchange.status is not None else "gone",
            bytes=exchange.bytes,
            seconds=self.clock.seconds() - exchange.started,
            peer=exchange.peer(),
            why=" refused: " + exchange.why if exchange.why else "",
        )
