"""
The door's sign-on with annexrelay's own users, in memory on a L{Clock}:
HTTP bytes in through the door's channel (L{tests.frontdoor.http.test_load}),
the session's mode out.  Each mode × repository × target × request class
with C{--directory}; the one repository of C{--repo}; an unscoped request
judged by the repository it reaches; the user file re-read for the next
request (revocation, removal, a new password); the precedence over
git-annex's environment users; plain http and C{--authenv-http}; the
trusted header on its listener only; failed logins slowed and counted.
"""

import base64
import os

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from annexrelay.clientside import Mode
from annexrelay.frontdoor.http import grants
from annexrelay.frontdoor.http.door import HttpFrontDoor
from annexrelay.frontdoor.http.linkpool import LinkPool
from annexrelay.frontdoor.http.signon import Access, LoginThrottle
from annexrelay.frontdoor.http.users import Policy, users_from
from annexrelay.frontdoor.http.userstore import UserStore
from annexrelay.operator.metrics import Metrics
from twisted.internet.address import IPv4Address

from tests.frontdoor.http.test_load import CU, K, Session, U, connect

N1 = b"aaaaaaaa-0000-4000-8000-000000000001"
C1 = b"cccccccc-0000-4000-8000-000000000001"
PATHS = {
    "read": b"checkpresent?key=%s&clientuuid=%s" % (K, CU),
    "write": b"putoffset?key=%s&clientuuid=%s" % (K, CU),
    "remove": b"remove?key=%s&clientuuid=%s" % (K, CU),
    "lock": b"lockcontent?key=%s&clientuuid=%s" % (K, CU),
}
FAST = dict(n=2 ** 4)
RO, AO, RW = Mode.READ_ONLY, Mode.APPEND_ONLY, Mode.READ_WRITE


def basic(user, password):
    return b"Authorization: Basic " + base64.b64encode(user + b":" + password) + b"\r\n"


class Target:
    def __init__(self, uuid):
        self.uuid = uuid

    def close(self):
        pass


class TargetSession(Session):
    def __init__(self, uuid):
        Session.__init__(self)
        self.uuid = uuid

    def connectionMade(self):
        self.transport.write(b"AUTH-SUCCESS " + self.uuid + b"\n")


class RecordingCore:
    def __init__(self, scope, metrics, log):
        self.scope = scope
        self.metrics = metrics
        self.saturation = []
        self.log = log

    def targetFor(self, uuid, own=False):
        return Target(uuid)

    def session(self, authenticator, peer, door):
        self.log.append((self.scope, authenticator.grant.target.uuid, authenticator.grant.mode))
        return TargetSession(authenticator.grant.target.uuid)


class Cores:
    """
    A directory of repositories lab/a, lab/b, lab/c; an unscoped request
    reaches lab/b for N1, else lab/a.
    """

    def __init__(self, metrics, log):
        self.metrics = metrics
        self.saturation = []
        self.log = log
        self.scans = 0

    async def resolve(self, scope, uuid, mayScan):
        if not scope:
            if not mayScan():
                return None, Target(b"")
            self.scans += 1
            scope = (b"lab", b"b") if uuid == N1 else (b"lab", b"a")
        return RecordingCore(scope, self.metrics, self.log), Target(uuid)

    def scopeOf(self, core):
        return core.scope


class SignOnCase(unittest.TestCase):
    policy = Policy(authenvHttp=True)
    scoped = True
    trusted = {}

    def setUp(self):
        self.path = os.path.join(self.mktemp())
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.store = UserStore(self.path)
        self.writer = UserStore(self.path)
        self.opened = []
        self.verified = []
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.makeDoor()

    def verifier(self, stored, password):
        self.verified.append(password)
        return defer.succeed(grants.verify_password(stored, password))

    def makeDoor(self, throttle=None):
        self.clock = Clock()
        self.metrics = Metrics(CollectorRegistry(), self.clock)
        self.cores = Cores(self.metrics, self.opened)
        core = RecordingCore((), self.metrics, self.opened)
        self.access = Access(
            self.clock, self.policy, self.store, trusted=self.trusted, verifier=self.verifier,
            metrics=self.metrics, throttle=throttle,
        )
        self.doorObj = HttpFrontDoor(
            self.clock, core, self.policy, cores=self.cores if self.scoped else None, access=self.access
        )
        # Every request opens a session of its own here (none is kept
        # between requests): a new session is how the tests see the mode.
        self.doorObj.links = LinkPool(self.clock, idleTimeout=0)
        self.factories = {}

    def factoryFor(self, listener):
        if listener not in self.factories:
            f = self.factories[listener] = self.doorObj.factory(listener)
            f.reactor = self.clock
        return self.factories[listener]

    def connect(self, host):
        return connect(self.factory, self.clock, host)

    def settle(self):
        for _ in range(10):
            self.clock.advance(0)

    def change(self, f):
        self.writer.update(f)

    def addUser(self, name, password=b"pw", *grant_list):
        def add(users):
            users = grants.add_user(users, name, grants.hash_password(password, **FAST) if password else None)
            for repo, mode, targets in grant_list:
                users = grants.grant(users, name, repo, mode, [(t.decode(), "") for t in targets])
            return users

        self.change(add)

    def ask(self, actionClass, scope=b"lab/a/", uuid=U, headers=b"", listener="tcp:9417", host="10.0.0.1"):
        """
        @return: the session's mode, or the response's status.
        """
        self.factory = self.factoryFor(listener)
        before = len(self.opened)
        proto, t = self.connect(host)
        prefix = b"/" + scope if self.scoped and scope else b"/"
        head = b"POST %sgit-annex/%s/v4/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n%s\r\n" % (
            prefix, uuid, PATHS[actionClass], headers)
        proto.dataReceived(head)
        self.settle()
        self.response = t.value()
        if len(self.opened) > before:
            return self.opened[-1][2]
        status = t.value().split(b" ", 2)[1:2]
        return int(status[0]) if status else None

    def why(self):
        lines = [e for e in self.events if "why" in e and e.get("why")]
        return lines[-1]["why"] if lines else ""


class ModeMatrixTests(SignOnCase):
    def setUp(self):
        SignOnCase.setUp(self)
        self.addUser("alice", b"pw", ("lab/a", "read-write", ()), ("lab/a", "read-only", (C1,)),
                     ("lab/b", "read-only", ()), ("lab/b", "append-only", (N1,)))
        self.alice = basic(b"alice", b"pw")

    def test_matrix(self):
        every = ("read", "write", "remove", "lock")
        expected = {
            # (repository, target): what each class gets
            (b"lab/a/", U): dict(read=RW, write=RW, remove=RW, lock=RW),
            (b"lab/a/", N1): dict(read=RW, write=RW, remove=RW, lock=RW),
            (b"lab/a/", C1): dict(read=RO, write=403, remove=403, lock=403),  # narrowed
            (b"lab/b/", U): dict(read=RO, write=403, remove=403, lock=403),
            (b"lab/b/", N1): dict(read=AO, write=AO, remove=403, lock=AO),  # widened
            (b"lab/c/", U): dict.fromkeys(every, 403),  # no grant there
        }
        got = {k: {c: self.ask(c, k[0], k[1], self.alice) for c in every} for k in expected}
        self.assertEqual(got, expected)
        self.assertIn("alice: no grant for repository lab/c", self.why())

    def test_refusal_reasons_are_logged_without_password(self):
        self.assertEqual(self.ask("remove", b"lab/b/", U, self.alice), 403)
        self.assertIn("alice: read-only (grant for repository lab/b) does not allow remove", self.why())
        self.assertEqual(self.ask("read", b"lab/a/", U, basic(b"alice", b"guess-me")), 401)
        self.assertIn("alice: wrong password", self.why())
        self.assertEqual(self.ask("read", b"lab/a/", U, basic(b"zed", b"x")), 401)
        self.assertIn("unknown user zed", self.why())
        self.assertFalse([e for e in self.events if "guess-me" in repr(e)])

    def test_anonymous_is_challenged(self):
        self.assertEqual(self.ask("read", b"lab/a/"), 401)
        self.assertIn(b"WWW-Authenticate: Basic", self.response)

    def test_unscoped_request_judged_by_the_repository_it_reaches(self):
        self.assertEqual(self.ask("write", b"", N1, self.alice), AO)  # lab/b's grant for N1
        self.assertEqual(self.opened[-1][0], (b"lab", b"b"))
        self.assertEqual(self.ask("remove", b"", U, self.alice), RW)  # lab/a
        # A user with a grant on lab/c only may look, and is refused where it leads.
        self.addUser("carol", b"pw", ("lab/c", "read-write", ()))
        self.assertEqual(self.ask("read", b"", N1, basic(b"carol", b"pw")), 403)

    def test_password_checked_once(self):
        for _ in range(3):
            self.assertEqual(self.ask("read", b"lab/a/", U, self.alice), RW)
        self.assertEqual(self.verified, [b"pw"])


class ReloadTests(SignOnCase):
    def setUp(self):
        SignOnCase.setUp(self)
        self.addUser("alice", b"pw", ("lab/a", "read-write", ()))
        self.alice = basic(b"alice", b"pw")

    def test_revocation_applies_to_the_next_request(self):
        self.assertEqual(self.ask("remove", headers=self.alice), RW)
        self.change(lambda users: grants.grant(users, "alice", "lab/a", "read-only"))
        self.assertEqual(self.ask("remove", headers=self.alice), 403)
        self.assertEqual(self.ask("read", headers=self.alice), RO)
        self.change(lambda users: grants.revoke(users, "alice", "lab/a"))
        self.assertEqual(self.ask("read", headers=self.alice), 403)

    def test_removal_and_new_password(self):
        self.assertEqual(self.ask("read", headers=self.alice), RW)
        self.change(lambda users: grants.remove_user(users, "alice"))
        self.assertEqual(self.ask("read", headers=self.alice), 401)
        self.assertIn("unknown user alice", self.why())
        self.addUser("alice", b"new", ("lab/a", "read-write", ()))
        self.assertEqual(self.ask("read", headers=self.alice), 401)  # the old password is not remembered
        self.assertEqual(self.ask("read", headers=basic(b"alice", b"new")), RW)
        self.assertEqual(list(self.access._verified), ["alice"])
        self.change(lambda users: grants.remove_user(users, "alice"))
        self.assertEqual(self.ask("read", headers=basic(b"alice", b"new")), 401)
        self.assertEqual(self.access._verified, {})


class SingleRepositoryTests(SignOnCase):
    scoped = False

    def test_dot_is_the_repository(self):
        self.addUser("alice", b"pw", (".", "append-only", ()))
        self.assertEqual(self.ask("write", headers=basic(b"alice", b"pw")), AO)
        self.assertEqual(self.ask("remove", headers=basic(b"alice", b"pw")), 403)


class PrecedenceTests(SignOnCase):
    policy = Policy(authenvHttp=True, unauthReadOnly=True, users=users_from({
        "GIT_ANNEX_P2PHTTP_PASSWORD_alice": "envpw",
        "GIT_ANNEX_P2PHTTP_PASSWORD_erin": "erinpw",
    }))

    def test_store_name_checked_against_the_store_only(self):
        self.addUser("alice", b"pw", ("lab/a", "append-only", ()))
        self.assertEqual(self.ask("write", headers=basic(b"alice", b"pw")), AO)
        self.assertEqual(self.ask("write", headers=basic(b"alice", b"envpw")), 403)
        self.assertEqual(self.ask("read", headers=basic(b"alice", b"envpw")), RO)  # as anonymous
        # Other names: git-annex's environment users, in every repository.
        self.assertEqual(self.ask("remove", b"lab/c/", headers=basic(b"erin", b"erinpw")), RW)

    def test_no_grant_is_anonymous(self):
        self.addUser("alice", b"pw", ("lab/a", "append-only", ()))
        self.assertEqual(self.ask("read", b"lab/b/", headers=basic(b"alice", b"pw")), RO)
        self.assertEqual(self.ask("write", b"lab/b/", headers=basic(b"alice", b"pw")), 403)


class PlainHttpTests(SignOnCase):
    policy = Policy(authenv=True, unauthReadOnly=True)

    def test_store_users_need_authenv_http_over_plain_http(self):
        self.addUser("alice", b"pw", ("lab/a", "read-write", ()))
        self.assertEqual(self.ask("remove", headers=basic(b"alice", b"pw")), 403)
        self.assertIn("basic authentication over plain http needs --authenv-http", self.why())
        self.assertEqual(self.verified, [])


class TrustedHeaderTests(SignOnCase):
    policy = Policy(authenvHttp=True)
    trusted = {"unix:/run/forge.sock": "X-Forge-User"}

    def setUp(self):
        SignOnCase.setUp(self)
        self.addUser("dora", None, ("lab/a", "read-write", ()))

    def test_honoured_on_its_listener_only(self):
        h = b"X-Forge-User: dora\r\n"
        self.assertEqual(self.ask("remove", headers=h, listener="unix:/run/forge.sock"), RW)
        self.assertEqual(self.ask("remove", b"lab/b/", headers=h, listener="unix:/run/forge.sock"), 403)
        self.assertEqual(self.ask("remove", headers=h, listener="tcp:9417"), 401)
        self.assertEqual(self.ask("read", headers=h, listener="tcp:9417"), 401)
        ignored = [e for e in self.events if "ignoring the" in e.get("log_format", "")]
        self.assertEqual(len(ignored), 1)
        self.assertEqual(self.ask("read", headers=b"X-Forge-User: nobody\r\n", listener="unix:/run/forge.sock"), 401)
        self.assertIn("header user nobody is not a user", self.why())

    def test_no_password_user_cannot_use_basic_auth(self):
        self.assertEqual(self.ask("read", headers=basic(b"dora", b""), listener="tcp:9417"), 401)
        self.assertIn("dora: has no password", self.why())


class ThrottleTests(SignOnCase):
    def setUp(self):
        SignOnCase.setUp(self)
        self.addUser("alice", b"pw", ("lab/a", "read-write", ()))
        self.access.throttle = LoginThrottle(self.clock, free=2, base=5.0, cap=20.0)

    def failures(self):
        return self.metrics.loginFailures._value.get()

    def test_failed_logins_are_slowed_and_counted(self):
        wrong = basic(b"alice", b"nope")
        self.assertEqual([self.ask("read", headers=wrong) for _ in range(3)], [401, 401, 401])
        self.assertEqual(self.failures(), 3)
        # The fourth waits 5 s before its password is checked.
        self.assertIsNone(self.ask("read", headers=wrong))
        self.clock.advance(5)
        self.assertEqual(self.failures(), 4)
        # Another address is not slowed; the right password after the wait works.
        self.assertEqual(self.ask("read", headers=wrong, host="10.0.0.2"), 401)
        self.assertIsNone(self.ask("read", headers=basic(b"alice", b"pw")))
        self.clock.advance(10)
        self.assertEqual(self.opened[-1][2], RW)
        self.assertEqual(self.ask("read", headers=basic(b"alice", b"nope")), 401)  # forgiven after a success

    def test_too_many_waiting_are_refused_unchecked(self):
        for _ in range(5):
            self.access.throttle.failed("10.0.0.1")
        checked = len(self.verified)
        self.assertEqual(self.ask("read", headers=basic(b"alice", b"pw")), None)  # waits 20 s
        self.assertEqual(self.ask("read", headers=basic(b"alice", b"pw")), 401)  # would wait 60 s
        self.assertIn("too many failed logins from 10.0.0.1", self.why())
        self.assertEqual(len(self.verified), checked)


class FakeRequest:
    """
    What authorize() reads of a request (as a git request of the same
    listener would offer it).
    """

    def __init__(self, headers=None, listener="tcp:9417", secure=False):
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.listener = listener
        self.secure = secure

    def isSecure(self):
        return self.secure

    def getHeader(self, name):
        return self.headers.get(name.lower())

    def getClientAddress(self):
        return IPv4Address("TCP", "10.0.0.9", 1)


class GitRequestTests(SignOnCase):
    """
    Requests for the repository as a whole (target None), as git's are:
    the repository's grant decides, a target grant never does.
    """

    def setUp(self):
        SignOnCase.setUp(self)
        self.addUser("alice", b"pw", ("lab/a", "read-only", ()), ("lab/b", "read-write", (N1,)))

    def authorize(self, actionClass, scope, secure=False):
        return self.doorObj.authorize(FakeRequest(secure=secure), actionClass, (b"alice", b"pw"), scope, None)

    def test_push_needs_write(self):
        self.assertEqual(self.authorize("read", (b"lab", b"a")), RO)
        refused = self.authorize("write", (b"lab", b"a"))
        self.assertEqual(refused.status, 403)
        self.assertEqual(self.authorize("read", (b"lab", b"b")).status, 403)  # a target grant only
        self.assertEqual(self.verified, [])  # checked in place (no prepare), once
        self.assertEqual(self.authorize("read", (b"lab", b"a")), RO)


class GoneWhileWaitingTests(SignOnCase):
    def test_no_session_for_a_client_gone_while_its_login_waited(self):
        self.addUser("alice", b"pw", ("lab/a", "read-write", ()))
        self.access.throttle = LoginThrottle(self.clock, free=0, base=5.0, cap=20.0)
        self.access.throttle.failed("10.0.0.1")
        self.factory = self.factoryFor("tcp:9417")
        proto, t = self.connect("10.0.0.1")
        proto.dataReceived(b"POST /lab/a/git-annex/%s/v4/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n%s\r\n" % (
            U, PATHS["read"], basic(b"alice", b"pw")))
        self.settle()
        from twisted.python.failure import Failure
        from twisted.internet.error import ConnectionDone

        proto.connectionLost(Failure(ConnectionDone()))
        self.clock.advance(5)
        self.settle()
        self.assertEqual(self.opened, [])
        self.assertEqual(self.verified, [])


class SignedOnTests(unittest.TestCase):
    """
    L{Access.signedOn}: the name the caller was let in as (what the git
    side gives git-http-backend as C{REMOTE_USER}), for every kind of user.
    """

    def request(self, headers=(), listener="tcp:9417"):
        from twisted.web.test.requesthelper import DummyRequest

        r = DummyRequest([b""])
        r.listener = listener
        r.isSecure = lambda: False
        for name, value in headers:
            r.requestHeaders.addRawHeader(name, value)
        return r

    def test_each_kind_of_user(self):
        store = UserStore(os.path.join(self.mktemp(), "users"))
        os.makedirs(os.path.dirname(store.path))
        store.update(lambda users: grants.grant(
            grants.add_user(users, "dora", grants.hash_password(b"pw", **FAST)), "dora", ".", "read-write"))
        access = Access(Clock(), Policy(authenvHttp=True, users=users_from({"GIT_ANNEX_P2PHTTP_PASSWORD_eve": "x"})),
                        store=store, trusted={"unix:/run/forge.sock": "X-Forge-User"})
        for credentials, headers, listener, who in (
            ((b"dora", b"pw"), (), "tcp:9417", "dora"),
            ((b"eve", b"x"), (), "tcp:9417", "eve"),
            ((b"eve", b"wrong"), (), "tcp:9417", None),
            (None, [(b"X-Forge-User", b"dora")], "unix:/run/forge.sock", "dora"),
            (None, [(b"X-Forge-User", b"dora")], "tcp:9417", None),
            (None, (), "tcp:9417", None),
        ):
            r = self.request(headers, listener)
            access.decide(r, "read", credentials, (), None)
            self.assertEqual(access.signedOn(r), who, (credentials, listener))
