"""
Who a caller of the annex+http door is, and what they may do: git-annex's
flags and environment users (L{annexrelay.frontdoor.http.users}),
annexrelay's own users and grants (L{annexrelay.frontdoor.http.grants},
kept in a L{annexrelay.frontdoor.http.userstore.UserStore}), and a user
named by a trusted header on the one listener it is trusted on.

Precedence, for one request:

 1. On a listener named by C{--trusted-user-header NAME=ENDPOINT}, a
    non-empty header NAME is the user, with the store's grants (no
    password; an unknown user or one without a grant there is anonymous).
    On every other listener that header is ignored (logged once).
 2. Basic authentication with a name in the store: checked against the
    store only (an environment user of the same name is never
    consulted); accepted over https, and over plain http (a tcp or unix
    listener without TLS) only with C{--authenv-http}.  A right password
    with a grant for the repository (and target): the grant's mode
    decides (403 when it does not allow the request); without a grant,
    or with a wrong password, the caller is anonymous, with no challenge
    (as git-annex treats a wrong password).
 3. Any other name: git-annex's environment users and flags, unchanged.
 4. No credentials: the anonymous flags, unchanged, except that a refusal
    challenges (401) when the store has users who could sign on here.

Failed logins (a wrong password, an unknown name) are counted per client
address by a L{LoginThrottle}: beyond C{free} failures, the next check of
a password from that address waits, longer after each failure (capped),
and a request that would wait longer than the cap is refused without a
check.  A password is checked once: a right one is remembered (keyed by
the stored hash, so a changed or removed user is checked again), and the
scrypt work may run off the reactor thread (L{Access.prepare}).
"""

import collections
import hashlib
import hmac
import os

from twisted.internet import defer, task
from twisted.logger import Logger

from annexrelay.frontdoor.http import grants, users
from annexrelay.frontdoor.http.users import Refused

log = Logger()

class LoginThrottle:
    """
    Failed logins per client address, on a clock (pure given it).

    @param free: failures that cost nothing.
    @param base: the first wait after those, doubled by each failure.
    @param cap: the longest wait; a request that would wait longer (many
        at once from one address) is refused without a check.
    @param forget: an address with no failure for this long starts again.
    @param size: addresses kept (the least recently failed are dropped).
    """

    def __init__(self, clock, free=10, base=0.25, cap=30.0, forget=900.0, size=10000):
        self.clock = clock
        self.free, self.base, self.cap, self.forget, self.size = free, base, cap, forget, size
        self._failures = collections.OrderedDict()  # address -> [count, last, next slot]

    def _entry(self, address):
        e = self._failures.get(address)
        if e is not None and self.clock.seconds() - e[1] > self.forget:
            del self._failures[address]
            return None
        return e

    def delay(self, count):
        if count <= self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (count - self.free - 1))

    def reserve(self, address):
        """
        @return: seconds to wait before checking a password from
            C{address} (0: at once), or None: refuse it unchecked.
        """
        e = self._entry(address)
        if e is None or e[0] <= self.free:
            return 0.0
        now = self.clock.seconds()
        d = self.delay(e[0])
        ready = max(e[1] + d, e[2], now)
        if ready - now > self.cap:
            return None
        e[2] = ready + d
        return ready - now

    def failed(self, address):
        """
        Count one failure; the number so far.
        """
        e = self._entry(address)
        if e is None:
            e = self._failures[address] = [0, 0.0, 0.0]
        self._failures.move_to_end(address)
        e[0] += 1
        e[1] = self.clock.seconds()
        while len(self._failures) > self.size:
            self._failures.popitem(last=False)
        return e[0]

    def succeeded(self, address):
        self._failures.pop(address, None)


def _inline(stored, password):
    return defer.succeed(grants.verify_password(stored, password))


class Access:
    """
    The door's sign-on: L{decide} is the decision (synchronous), the
    door's C{authorize}; L{prepare} checks a password beforehand, off the
    reactor when C{verifier} runs elsewhere, and waits as the throttle says.

    @param policy: git-annex's flags and environment users (L{users.Policy}).
    @param store: the L{UserStore}, or None.
    @param trusted: C{{listener endpoint string: header name}}.
    @param verifier: C{(stored hash, password) -> Deferred(bool)}; default:
        in the reactor thread.
    @param metrics: the daemon's L{annexrelay.operator.metrics.Metrics}, or None.
    """

    def __init__(self, clock, policy, store=None, trusted=None, verifier=None, metrics=None, throttle=None):
        self.clock = clock
        self.policy = policy
        self.store = store
        self.trusted = {k: v.lower().encode("latin-1") for k, v in (trusted or {}).items()}
        self._headerNames = {v.lower().encode("latin-1"): v for v in (trusted or {}).values()}
        self.verifier = verifier or _inline
        self.metrics = metrics
        self.throttle = throttle or LoginThrottle(clock)
        self._key = os.urandom(32)
        self._verified = {}  # name -> (stored hash, hmac of the password)
        self._generation = None
        self._warned = set()
        # What a check against a name nobody has costs too (no timing
        # tells names): made on first use.
        self._dummy = None

    # Helpers

    def _users(self):
        if self.store is None:
            return {}
        known = self.store.users()
        if self.store.generation != self._generation:
            # Re-read: forget the passwords of users removed or changed.
            self._generation = self.store.generation
            self._verified = {
                n: v for n, v in self._verified.items() if n in known and known[n].password == v[0]
            }
        return known

    def _mac(self, password):
        return hmac.new(self._key, password, hashlib.sha256).digest()

    def _known(self, user, password):
        v = self._verified.get(user.name)
        return v is not None and v[0] == user.password and hmac.compare_digest(v[1], self._mac(password))

    @staticmethod
    def _state(request):
        state = getattr(request, "signon", None)
        if state is None:
            state = request.signon = {}
        return state

    @staticmethod
    def address(request):
        p = request.getClientAddress()
        return getattr(p, "host", None) or str(p)

    def _failed(self, request, why):
        state = self._state(request)
        if not state.get("counted"):
            state["counted"] = True
            n = self.throttle.failed(self.address(request))
            if self.metrics is not None:
                self.metrics.loginFailed()
            why += " (failure %d from this address)" % (n,)
            state["why"] = why
        return state["why"]

    def _throttled(self, request, name):
        return "%s: too many failed logins from %s, password not checked" % (name, self.address(request))

    # Before the decision

    async def prepare(self, request, credentials):
        """
        Before L{decide}: wait as the throttle asks when the caller's
        address failed too often, then check a store user's password (a
        name nobody has costs the same check), so that L{decide} only
        looks the result up.
        """
        if credentials is None:
            return
        known = self._users()
        name = credentials[0].decode("utf-8", "surrogateescape")
        user = known.get(name)
        if user is not None and self._known(user, credentials[1]):
            return
        state = self._state(request)
        wait = self.throttle.reserve(self.address(request))
        if wait is None:
            state["throttled"] = True
            return
        if wait:
            await task.deferLater(self.clock, wait, lambda: None)
            gone = getattr(request, "gone", None)
            if gone is not None and gone():
                return
        if not known or not self._accepted(request) or (user is None and credentials[0] in self.policy.users):
            return
        stored = user.password if user is not None else None
        if not stored and self._dummy is None:
            self._dummy = grants.hash_password(os.urandom(16))
        ok = await self.verifier(stored or self._dummy, credentials[1])
        ok = bool(ok and stored)
        if ok:
            self._verified[user.name] = (stored, self._mac(credentials[1]))
        state["checked"] = (credentials, stored, ok)

    def _accepted(self, request):
        return request.isSecure() or self.policy.authenvHttp

    # The decision

    def decide(self, request, actionClass, credentials, scope=(), target=None):
        """
        @param scope: the repository's path segments; None: any repository
            (may the caller make the door look for one).
        @return: the session's L{annexrelay.requests.Mode}, or L{Refused}.
        """
        secure = request.isSecure()
        header = self._headerUser(request)
        known = self._users()
        if header is not None:
            user = known.get(header)
            if user is None:
                return self._anonymous(actionClass, secure, "header user %s is not a user" % (header,))
            self._state(request)["user"] = user.name
            return self._granted(user, actionClass, scope, target, secure)
        if credentials is not None:
            name = credentials[0].decode("utf-8", "surrogateescape")
            user = known.get(name)
            if user is not None:
                return self._storeUser(request, user, credentials, actionClass, scope, target)
            return self._envUser(request, credentials, actionClass, secure, bool(known))
        decided = users.decide(self._policyFor(secure, bool(known)), actionClass, secure, None)
        if isinstance(decided, Refused):
            return decided._replace(why="anonymous")
        return decided

    def signedOn(self, request):
        """
        The name of the user L{decide} let the request's caller in as
        (signed on with a password or named by a trusted header), or None.
        """
        return self._state(request).get("user")

    def _policyFor(self, secure, storeUsers):
        # A refused anonymous caller is challenged when a store user could
        # sign on over this transport.
        if storeUsers and (secure or self.policy.authenvHttp) and not self.policy.authenv:
            return self.policy._replace(authenv=True)
        return self.policy

    def _anonymous(self, actionClass, secure, why):
        decided = users.judge(users.anonymous(self.policy, False), actionClass)
        if isinstance(decided, Refused):
            return decided._replace(why=why)
        return decided

    def _headerUser(self, request):
        listener = getattr(request, "listener", None)
        name = self.trusted.get(listener)
        if name is not None:
            value = (request.getHeader(name) or b"").strip()
            return value.decode("utf-8", "surrogateescape") if value else None
        for other in set(self.trusted.values()):
            if request.getHeader(other) is not None and other not in self._warned:
                self._warned.add(other)
                log.warn(
                    "annex+http: ignoring the {header} header on {listener}: it is trusted only on {trusted}",
                    header=self._headerNames[other], listener=listener,
                    trusted=", ".join(sorted(k for k, v in self.trusted.items() if v == other)),
                )
        return None

    def _storeUser(self, request, user, credentials, actionClass, scope, target):
        secure = request.isSecure()
        if not self._accepted(request):
            return self._anonymous(actionClass, secure, "%s: basic authentication over plain http needs --authenv-http" % (user.name,))
        state = self._state(request)
        if self._known(user, credentials[1]):
            ok = True
        elif state.get("throttled"):
            return self._anonymous(actionClass, secure, self._throttled(request, user.name))
        elif state.get("checked", (None, None))[:2] == (credentials, user.password):
            ok = state["checked"][2]
        else:
            ok = grants.verify_password(user.password, credentials[1])
            if ok:
                self._verified[user.name] = (user.password, self._mac(credentials[1]))
        if not ok:
            why = self._failed(request, "%s: wrong password" % (user.name,) if user.password else "%s: has no password" % (user.name,))
            return self._anonymous(actionClass, secure, why)
        self.throttle.succeeded(self.address(request))
        state["user"] = user.name
        return self._granted(user, actionClass, scope, target, secure)

    def _granted(self, user, actionClass, scope, target, secure):
        mode, why = grants.mode_for(user, scope, target)
        if mode is None:
            # As anonymous; a refusal is 403: signing on again cannot help.
            decided = self._anonymous(actionClass, secure, "%s: %s" % (user.name, why))
            return Refused(403, False, decided.why) if isinstance(decided, Refused) else decided
        if not grants.allows(mode, actionClass):
            return Refused(403, False, "%s: %s (%s) does not allow %s" % (user.name, mode, why, actionClass))
        return grants.session_mode(mode)

    def _envUser(self, request, credentials, actionClass, secure, storeUsers):
        policy = self.policy
        decided = users.decide(policy, actionClass, secure, credentials)
        accepted = (secure and policy.authenv) or (not secure and policy.authenvHttp)
        name = credentials[0].decode("utf-8", "replace")
        if self._state(request).get("throttled"):
            return self._anonymous(actionClass, secure, self._throttled(request, name))
        if not accepted:
            why = "%s: basic authentication not accepted over %s" % (name, "https" if secure else "plain http")
        elif users.check_password(policy.users, credentials[0], credentials[1]) is not None:
            self.throttle.succeeded(self.address(request))
            self._state(request)["user"] = name
            why = "%s: mode too low" % (name,)
        elif credentials[0] in policy.users:
            why = self._failed(request, "%s: wrong password" % (name,))
        else:
            why = self._failed(request, "unknown user %s" % (name,))
        if isinstance(decided, Refused):
            return decided._replace(why=why)
        return decided
