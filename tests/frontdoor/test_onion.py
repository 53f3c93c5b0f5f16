"""
Tier 1 and 2 for the onion front door: keys and addresses, the token
store, the refs watcher, and sessions over the front door's real loopback
listener (the reactor, real git, no git-annex client).
"""

import os
import stat

from hypothesis import given, strategies as st
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial import unittest

from annexrelay.address import _targetLast
from annexrelay.branch.refs import changed_values, parse_refs
from annexrelay.connectors.tor import creds_name, onion_port
from annexrelay.frontdoor.tor import keys as onionkeys, tokens
from annexrelay.p2p.framing import P2PFramer


class OnionKeyTests(unittest.TestCase):
    def test_known_address(self):
        """
        The onion name tor itself derived (from its hs_ed25519_secret_key
        file made of this seed) for seed 0x11 * 32.
        """
        self.assertEqual(
            onionkeys.onion_host(b"\x11" * 32), "2bflemtufo2kwoqtnc6umfpe43icesvxdiawxl4fecrtfslxq43yqmad.onion"
        )

    def test_tor_key_is_expanded_secret(self):
        key = onionkeys.new_key(b"u", seed=b"\x11" * 32)
        self.assertTrue(key.torKey().startswith("ED25519-V3:"))
        raw = __import__("base64").b64decode(key.torKey().split(":", 1)[1])
        self.assertEqual(len(raw), 64)
        self.assertEqual(raw[0] & 7, 0)

    @given(st.lists(st.binary(min_size=32, max_size=32), max_size=5), st.integers(1, 65535))
    def test_key_file_round_trip(self, seeds, port):
        keys = [onionkeys.new_key(("u%d" % i).encode(), port, s) for i, s in enumerate(seeds)]
        self.assertEqual(onionkeys.parse_keys(onionkeys.format_keys(keys)), {k.target: k for k in keys})

    def test_kept_private_and_stable(self):
        d = self.mktemp()
        os.makedirs(os.path.join(d, "annex"))
        store = onionkeys.OnionKeys(d)
        a = store.forTarget(b"t1")
        self.assertEqual(onionkeys.OnionKeys(d).forTarget(b"t1"), a)
        self.assertNotEqual(store.forTarget(b"t2").onion, a.onion)
        self.assertEqual(stat.S_IMODE(os.stat(store.path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(store.path)).st_mode), 0o700)


class TokenStoreTests(unittest.TestCase):
    def setUp(self):
        d = self.mktemp()
        os.makedirs(os.path.join(d, "annex"))
        self.store = tokens.TokenStore(d)

    def test_issue_check_revoke(self):
        entry, token = self.store.issue(b"t1", "read-only", 1000)
        self.assertRegex(token, "^[0-9a-f]{128}$")
        with open(self.store.path) as f:
            self.assertNotIn(token, f.read())
        self.assertEqual(self.store.check(b"t1", token), entry)
        self.assertEqual(self.store.check(b"t1", token.upper()), entry)
        self.assertIsNone(self.store.check(b"t2", token))
        self.assertIsNone(self.store.check(b"t1", token[:-1] + "x"))
        self.assertIsNone(self.store.check(b"t1", ""))
        self.assertEqual(self.store.revoke(entry.id), entry)
        self.assertIsNone(self.store.check(b"t1", token))
        self.assertIsNone(self.store.revoke(entry.id))

    def test_bad_mode(self):
        self.assertRaises(ValueError, self.store.issue, b"t1", "write-only", 0)

    @given(st.lists(st.tuples(st.sampled_from(tokens.MODES), st.integers(0, 2**40)), max_size=5))
    def test_file_round_trip(self, rows):
        entries = [tokens.TokenEntry("%08x" % i, b"t%d" % i, m, c, tokens.digest("x%d" % i)) for i, (m, c) in enumerate(rows)]
        self.assertEqual(tokens.parse_tokens(tokens.format_tokens(entries)), entries)

    @given(st.text(max_size=200))
    def test_parse_never_raises(self, text):
        tokens.parse_tokens(text)
        onionkeys.parse_keys(text)


class PureTests(unittest.TestCase):
    def test_changed_values(self):
        old = parse_refs(b"aaa refs/heads/main\nbbb refs/heads/x\n")
        new = parse_refs(b"ccc refs/heads/main\nbbb refs/heads/x\nddd refs/tags/t\n")
        self.assertEqual(changed_values(old, new), [b"ccc", b"ddd"])
        self.assertEqual(changed_values(new, new), [])

    def test_creds_name(self):
        self.assertEqual(creds_name("abc234.onion"), "abc234%2Eonion")

    def test_onion_port(self):
        self.assertEqual(onion_port("tor-annex::abc.onion:5555"), ("abc.onion", 5555))
        self.assertRaises(ValueError, onion_port, "tor-annex::abc.onion")
        self.assertRaises(ValueError, onion_port, "/srv/x")

    def test_target_may_come_first(self):
        self.assertEqual(_targetLast(["--repo", "P", "n1", "--mode", "read-only"]), ["--repo", "P", "--mode", "read-only", "n1"])
        self.assertEqual(_targetLast(["--list", "-r", "P"]), ["--list", "-r", "P"])


class _Client(P2PFramer):
    pass


class FrontDoorTests(unittest.TestCase):
    """
    Sessions over the onion front door's loopback listener, with the
    repository's own git: tokens, modes, revocation, NOTIFYCHANGE.
    """

    def setUp(self):
        from annexrelay.testing.gitrepos import annexRepository, have_git_annex

        if not have_git_annex():
            raise unittest.SkipTest("git-annex must be on PATH")
        from annexrelay.core import makeCore
        from annexrelay.frontdoor.tor.onion import OnionFrontDoor
        from annexrelay.repo import ProxyRepository

        self.path = annexRepository(self.mktemp())
        self.repo = ProxyRepository(self.path)
        self.core = makeCore(reactor, self.repo, idleTimeout=0, commitDelay=0.1)
        self.core.refs.interval = 0.05
        self.keys = onionkeys.OnionKeys(self.repo.gitDir)
        self.store = tokens.TokenStore(self.repo.gitDir)
        self.key = self.keys.forTarget(self.repo.uuid)
        self.door = OnionFrontDoor(reactor, self.core)
        self.door.pollInterval = 0.05
        self.door.startService()
        self.addCleanup(self.core.close)
        self.addCleanup(self.door.stopService)

    async def connect(self):
        while self.door.served.get(self.key.onion, (None, None))[1] is None:
            await _turn()
        port = self.door.served[self.key.onion][1].getHost().port
        c = _Client()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), c)
        self.addCleanup(c.abort)
        return c

    async def ask(self, c, line):
        c.transport.write(line)
        return await c.nextMessage()

    @defer.inlineCallbacks
    def test_auth_modes_and_revocation(self):
        yield defer.ensureDeferred(self._auth())

    async def _auth(self):
        entry, token = self.store.issue(self.repo.uuid, "read-only", 0)
        c = await self.connect()
        self.assertEqual((await self.ask(c, b"AUTH cu wrong\n")).name, "AUTH-FAILURE")
        ok = await self.ask(c, b"AUTH cu " + token.encode() + b"\n")
        self.assertEqual((ok.name, ok.args), ("AUTH-SUCCESS", (self.repo.uuid,)))
        refused = await self.ask(c, b"PUT 0 SHA256E-s1--" + b"a" * 64 + b"\n")
        self.assertEqual(refused.args[0], b"this repository is read-only; write access denied")
        refused = await self.ask(c, b"REMOVE SHA256E-s1--" + b"a" * 64 + b"\n")
        self.assertEqual(refused.args[0], b"this repository is read-only; write access denied")
        refused = await self.ask(c, b"REMOVE-BEFORE 99 SHA256E-s1--" + b"a" * 64 + b"\n")
        self.assertEqual(refused.args[0], b"this repository is read-only; write access denied")
        self.store.revoke(entry.id)
        await c.whenLost()
        c2 = await self.connect()
        self.assertEqual((await self.ask(c2, b"AUTH cu " + token.encode() + b"\n")).name, "AUTH-FAILURE")

    @defer.inlineCallbacks
    def test_notifychange(self):
        yield defer.ensureDeferred(self._notify())

    async def _notify(self):
        from annexrelay.testing.gitrepos import git

        _, token = self.store.issue(self.repo.uuid, "read-write", 0)
        c = await self.connect()
        await self.ask(c, b"AUTH cu " + token.encode() + b"\n")
        first = await self.ask(c, b"NOTIFYCHANGE\n")
        self.assertEqual(first.name, "CHANGED")
        c.transport.write(b"NOTIFYCHANGE\n")
        waiting = c.nextMessage()
        await _turn()
        self.assertFalse(waiting.called)
        git(self.path, "commit", "-q", "--allow-empty", "-m", "x")
        head = git(self.path, "rev-parse", "HEAD").strip().encode()
        changed = await waiting
        self.assertEqual(changed.name, "CHANGED")
        self.assertIn(head, changed.args[0])

    @defer.inlineCallbacks
    def test_notifychange_elsewhere_refused(self):
        """
        A proxied remote's or cluster's onion answers NOTIFYCHANGE and
        CONNECT with a clear ERROR (only the repository itself has refs).
        """
        from annexrelay.testing.gitrepos import git

        node = os.path.abspath(self.mktemp())
        from annexrelay.testing.gitrepos import annexRepository

        annexRepository(node, "n1")
        git(self.path, "remote", "add", "n1", node)
        git(self.path, "config", "remote.n1.annex-proxy", "true")
        git(self.path, "fetch", "-q", "n1")
        git(self.path, "annex", "updateproxy", "-q")
        uuid = git(node, "config", "annex.uuid").strip().encode()
        self.key = self.keys.forTarget(uuid)
        _, token = self.store.issue(uuid, "read-write", 0)
        c = yield defer.ensureDeferred(self.connect())
        ok = yield defer.ensureDeferred(self.ask(c, b"AUTH cu " + token.encode() + b"\n"))
        self.assertEqual(ok.args, (uuid,))
        reply = yield defer.ensureDeferred(self.ask(c, b"NOTIFYCHANGE\n"))
        self.assertEqual(reply.args[0], b"NOTIFYCHANGE is not supported on this connection")
        reply = yield defer.ensureDeferred(self.ask(c, b"CONNECT git-upload-pack\n"))
        self.assertEqual(reply.args[0], b"CONNECT is not supported on this connection")

    @defer.inlineCallbacks
    def test_three_wrong_tokens_close(self):
        yield defer.ensureDeferred(self._three())

    async def _three(self):
        self.store.issue(self.repo.uuid, "read-write", 0)
        c = await self.connect()
        for _ in range(3):
            self.assertEqual((await self.ask(c, b"AUTH cu bad\n")).name, "AUTH-FAILURE")
        await c.whenLost()


def _turn():
    d = defer.Deferred()
    reactor.callLater(0.02, d.callback, None)
    return d


class RefsWatcherTests(unittest.TestCase):
    """
    One watcher for all waiting sessions, against a real repository.
    """

    def setUp(self):
        from annexrelay.branch.refs import RefsWatcher
        from annexrelay.testing.gitrepos import git

        self.path = os.path.abspath(self.mktemp())
        subprocess_run(["git", "init", "-q", self.path])
        git(self.path, "commit", "-q", "--allow-empty", "-m", "one")
        self.watcher = RefsWatcher(reactor, self.path, os.path.join(self.path, ".git"), interval=0.02)
        self.addCleanup(self.watcher.close)
        self.reads = 0
        current = self.watcher.current

        async def counted():
            self.reads += 1
            return await current()

        self.watcher.current = counted

    @defer.inlineCallbacks
    def test_two_waiters_one_read(self):
        from annexrelay.testing.gitrepos import git

        values, known = yield self.watcher.changedSince(None)
        self.assertEqual(len(values), 1)
        a = self.watcher.changedSince(known)
        b = self.watcher.changedSince(known)
        c = self.watcher.changedSince(known)
        c.cancel()
        self.failureResultOf(c, defer.CancelledError)
        yield _turn()
        self.assertFalse(a.called or b.called)
        before = self.reads
        git(self.path, "commit", "-q", "--allow-empty", "-m", "two")
        head = git(self.path, "rev-parse", "HEAD").strip().encode()
        (va, _), (vb, _) = yield defer.gatherResults([a, b])
        self.assertEqual(va, [head])
        self.assertEqual(vb, [head])
        self.assertEqual(self.reads - before, 1)
        yield _turn()
        self.assertFalse(self.watcher.watching)


def subprocess_run(argv):
    import subprocess

    subprocess.run(argv, check=True)
