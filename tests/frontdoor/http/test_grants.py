"""
annexrelay's own annex+http users: the grants model (pure), password
hashing, the user file (0600, atomic, no plaintext, re-read when it
changes) and the login throttle on a L{Clock}.
"""

import os
import stat

from hypothesis import given, strategies as st
from twisted.internet.task import Clock
from twisted.trial import unittest

from annexrelay.frontdoor.http import grants
from annexrelay.frontdoor.http.grants import Grant, GrantError, User
from annexrelay.frontdoor.http.signon import LoginThrottle
from annexrelay.frontdoor.http.userstore import UserStore, write_atomically

N1 = "7685e0b4-cd27-4131-be8d-398f641c7902"
C1 = "11111111-2222-4333-8444-555555555555"
FAST = dict(n=2 ** 4)


def users_with(**grant_of):
    users = grants.add_user({}, "alice", grants.hash_password(b"pw", **FAST))
    for repo, mode in grant_of.items():
        users = grants.grant(users, "alice", repo.replace("__", "/"), mode)
    return users


class ModelTests(unittest.TestCase):
    def test_repository_mode_and_target_override(self):
        users = users_with(lab__a="read-write", lab__b="read-only")
        users = grants.grant(users, "alice", "lab/a", "read-only", [(C1, "c1")])
        users = grants.grant(users, "alice", "lab/b", "append-only", [(N1.upper(), "n1")])
        alice = users["alice"]
        self.assertEqual(grants.mode_for(alice, (b"lab", b"a"), None)[0], "read-write")
        self.assertEqual(grants.mode_for(alice, (b"lab", b"a"), N1.encode())[0], "read-write")
        self.assertEqual(grants.mode_for(alice, (b"lab", b"a"), C1.encode())[0], "read-only")  # narrowed
        self.assertEqual(grants.mode_for(alice, (b"lab", b"b"), N1.encode())[0], "append-only")  # widened
        self.assertEqual(grants.mode_for(alice, (b"lab", b"b"), None)[0], "read-only")
        self.assertEqual(grants.mode_for(alice, (b"lab", b"c"), None), (None, "no grant for repository lab/c"))
        self.assertEqual(grants.mode_for(alice, (), None)[0], None)
        self.assertEqual(grants.mode_for(alice, None, None)[0], "read-write")

    def test_target_only_grant_gives_no_git_and_no_other_target(self):
        users = grants.add_user({}, "bob", None)
        users = grants.grant(users, "bob", ".", "read-write", [(N1, "n1")])
        bob = users["bob"]
        self.assertEqual(grants.mode_for(bob, (), N1.encode())[0], "read-write")
        self.assertIsNone(grants.mode_for(bob, (), C1.encode())[0])
        self.assertIsNone(grants.mode_for(bob, (), None)[0])

    def test_modes_allow_classes(self):
        table = {m: {c for c in ("read", "write", "remove", "lock") if grants.allows(m, c)} for m in grants.MODES}
        self.assertEqual(table, {
            "read-only": {"read"},
            "append-only": {"read", "write", "lock"},
            "read-write": {"read", "write", "remove", "lock"},
        })

    def test_revoke(self):
        users = users_with(lab__a="read-write")
        users = grants.grant(users, "alice", "lab/a", "read-only", [(C1, "c1")])
        users = grants.revoke(users, "alice", "lab/a", [C1])
        self.assertEqual(users["alice"].grants, {"lab/a": Grant("read-write", {})})
        users = grants.revoke(users, "alice", "lab/a")
        self.assertEqual(users["alice"].grants, {})
        self.assertRaises(GrantError, grants.revoke, users, "alice", "lab/a")
        self.assertRaises(GrantError, grants.revoke, users, "nobody", "lab/a")

    def test_bad_input(self):
        self.assertRaises(GrantError, grants.check_mode, "write")
        for bad in ("", "-x", "a b", "a/b", "x" * 200, "é"):
            self.assertRaises(GrantError, grants.check_name, bad)
        for bad in ("../x", "/abs", "a/../../x", ".."):
            self.assertRaises(GrantError, grants.repo_key, bad)
        self.assertEqual(grants.repo_key("lab//a/"), "lab/a")
        self.assertEqual(grants.repo_key(""), ".")
        users = users_with()
        self.assertRaises(GrantError, grants.add_user, users, "alice", None)
        self.assertRaises(GrantError, grants.grant, users, "bob", ".", "read-only")

    @given(st.lists(st.tuples(
        st.sampled_from(["u1", "u2"]), st.sampled_from([".", "a", "a/b"]), st.sampled_from(grants.MODES),
        st.lists(st.sampled_from([N1, C1]), max_size=2),
    ), max_size=8))
    def test_store_round_trip(self, changes):
        users = grants.add_user(grants.add_user({}, "u1", "scrypt$16$8$1$AA==$AA=="), "u2", None)
        for name, repo, mode, targets in changes:
            users = grants.grant(users, name, repo, mode, [(t, "t") for t in targets])
        self.assertEqual(grants.parse_store(grants.format_store(users)), users)

    @given(st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from(list(grants.MODES)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.sampled_from(["users", "grants", "mode", "targets", "password", "name", "a", "."]), inner, max_size=4),
        max_leaves=12,
    ))
    def test_any_json_parses_or_is_refused(self, doc):
        import json

        try:
            users = grants.parse_store(json.dumps(doc))
        except GrantError:
            return
        for user in users.values():
            grants.verify_password(user.password, b"x")
            grants.mode_for(user, (b"a",), b"u")
            grants.mode_for(user, None, None)
        grants.format_store(users)

    def test_parse_refuses_junk(self):
        for junk in ("[1]", "{", '{"users": {"a": {"grants": {".": {"mode": "god"}}}}}'):
            self.assertRaises(GrantError, grants.parse_store, junk)
        self.assertEqual(grants.parse_store(""), {})


class PasswordTests(unittest.TestCase):
    def test_hash_and_verify(self):
        stored = grants.hash_password(b"correct horse", **FAST)
        self.assertTrue(stored.startswith("scrypt$16$8$1$"))
        self.assertNotIn("correct", stored)
        self.assertTrue(grants.verify_password(stored, b"correct horse"))
        self.assertFalse(grants.verify_password(stored, b"correct horse "))
        self.assertNotEqual(stored, grants.hash_password(b"correct horse", **FAST))  # salted

    def test_default_cost_is_stored(self):
        stored = grants.hash_password(b"x")
        self.assertTrue(stored.startswith("scrypt$16384$8$1$"))
        self.assertTrue(grants.verify_password(stored, b"x"))

    def test_malformed_hashes_never_verify(self):
        for bad in (None, "", "sha256$x", "scrypt$16$8$1$!!$AA==", "scrypt$3$8$1$AA==$AA==", "scrypt$%d$8$1$AA==$AA==" % (2 ** 30,)):
            self.assertFalse(grants.verify_password(bad, b""))

    def test_new_passwords(self):
        a, b = grants.new_password(), grants.new_password()
        self.assertNotEqual(a, b)
        self.assertGreaterEqual(len(a), 32)


class StoreTests(unittest.TestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, "users")

    def test_written_0600_atomically_without_plaintext(self):
        old = os.umask(0)
        try:
            store = UserStore(self.path)
            store.update(lambda users: grants.add_user(users, "alice", grants.hash_password(b"plain-secret", **FAST)))
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        with open(self.path) as f:
            self.assertNotIn("plain-secret", f.read())
        self.assertEqual(sorted(f for f in os.listdir(self.dir) if not f.startswith("users")), [])

    def test_replaced_not_rewritten_in_place(self):
        store = UserStore(self.path)
        store.update(lambda users: grants.add_user(users, "a", None))
        before = os.stat(self.path).st_ino
        store.update(lambda users: grants.add_user(users, "b", None))
        self.assertNotEqual(os.stat(self.path).st_ino, before)

    def test_write_atomically_fixes_a_loose_mode(self):
        with open(self.path, "w") as f:
            f.write("{}")
        os.chmod(self.path, 0o644)
        write_atomically(self.path, "x")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    def test_reread_when_changed(self):
        reader, writer = UserStore(self.path), UserStore(self.path)
        self.assertEqual(reader.users(), {})
        writer.update(lambda users: grants.add_user(users, "a", None))
        self.assertEqual(list(reader.users()), ["a"])
        generation = reader.generation
        reader.users()
        self.assertEqual(reader.generation, generation)  # unchanged: not read again
        writer.update(lambda users: grants.remove_user(users, "a"))
        self.assertEqual(reader.users(), {})

    def test_unreadable_file_lets_nobody_in(self):
        UserStore(self.path).update(lambda users: grants.add_user(users, "a", None))
        reader = UserStore(self.path)
        self.assertEqual(list(reader.users()), ["a"])
        with open(self.path, "a") as f:
            f.write("garbage")
        self.assertEqual(reader.users(), {})
        self.flushLoggedErrors()

    def test_failed_change_writes_nothing(self):
        store = UserStore(self.path)
        store.update(lambda users: grants.add_user(users, "a", None))
        with open(self.path) as f:
            before = f.read()
        self.assertRaises(GrantError, store.update, lambda users: grants.add_user(users, "a", None))
        with open(self.path) as f:
            self.assertEqual(f.read(), before)


class ThrottleTests(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.t = LoginThrottle(self.clock, free=2, base=1.0, cap=8.0, forget=100.0, size=3)

    def test_free_failures_then_growing_capped_waits(self):
        waits = []
        for _ in range(8):
            waits.append(self.t.reserve("a"))
            self.clock.advance(waits[-1])
            self.t.failed("a")
        self.assertEqual(waits, [0, 0, 0, 1.0, 2.0, 4.0, 8.0, 8.0])

    def test_other_addresses_are_not_slowed_and_success_forgets(self):
        for _ in range(5):
            self.t.failed("a")
        self.assertGreater(self.t.reserve("a"), 0)
        self.assertEqual(self.t.reserve("b"), 0)
        self.t.succeeded("a")
        self.assertEqual(self.t.reserve("a"), 0)

    def test_many_at_once_queue_then_refused(self):
        for _ in range(3):
            self.t.failed("a")
        got = [self.t.reserve("a") for _ in range(6)]
        self.assertEqual(got, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        for _ in range(2):
            self.t.failed("a")
        got = [self.t.reserve("a") for _ in range(3)]
        self.assertEqual(got, [7.0, None, None])

    def test_forgotten_after_quiet_time_and_bounded(self):
        for _ in range(5):
            self.t.failed("a")
        self.clock.advance(101)
        self.assertEqual(self.t.reserve("a"), 0)
        for address in "wxyz":
            self.t.failed(address)
        self.assertEqual(len(self.t._failures), 3)
