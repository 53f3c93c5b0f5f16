"""
Who may do what over annex+http: git annex p2phttp's flags and users as a
pure decision (checked against the real server by
tests/interop/test_http_differential.py).
"""

from twisted.trial import unittest

from annexrelay.clientside import Mode
from annexrelay.frontdoor.http.users import Policy, Refused, decide, users_from

ENV = {
    "GIT_ANNEX_P2PHTTP_PASSWORD_alice": "secret",
    "GIT_ANNEX_P2PHTTP_PASSWORD_bob": "pw2",
    "GIT_ANNEX_P2PHTTP_PERMISSIONS_bob": "readonly",
    "GIT_ANNEX_P2PHTTP_PASSWORD_carol": "pw3",
    "GIT_ANNEX_P2PHTTP_PERMISSIONS_carol": "appendonly",
    "HOME": "/root",
}
USERS = users_from(ENV)
ANON, ALICE, BOB, CAROL, WRONG = None, (b"alice", b"secret"), (b"bob", b"pw2"), (b"carol", b"pw3"), (b"alice", b"x")
CHALLENGE, FORBIDDEN = Refused(401, True), Refused(403, False)


class DecideTests(unittest.TestCase):
    def check(self, policy, caller, expected, secure=False):
        got = {c: decide(policy, c, secure, caller) for c in ("read", "write", "remove", "lock")}
        self.assertEqual(got, expected)

    def test_users_from_the_environment(self):
        self.assertEqual(
            USERS,
            {b"alice": (b"secret", Mode.READ_WRITE), b"bob": (b"pw2", Mode.READ_ONLY), b"carol": (b"pw3", Mode.APPEND_ONLY)},
        )

    def test_no_flags_refuses_everyone_with_a_challenge(self):
        for caller in (ANON, ALICE, WRONG):
            self.check(Policy(users=USERS), caller, dict.fromkeys(("read", "write", "remove", "lock"), CHALLENGE))

    def test_spec_matrix(self):
        # --authenv-http --unauth-readonly (the spec's section 4 table).
        p = Policy(authenvHttp=True, unauthReadOnly=True, users=USERS)
        ro = Mode.READ_ONLY
        self.check(p, ANON, {"read": ro, "write": CHALLENGE, "remove": CHALLENGE, "lock": ro})
        self.check(p, ALICE, dict.fromkeys(("read", "write", "remove", "lock"), Mode.READ_WRITE))
        self.check(p, BOB, {"read": ro, "write": FORBIDDEN, "remove": FORBIDDEN, "lock": FORBIDDEN})
        self.check(p, WRONG, {"read": ro, "write": FORBIDDEN, "remove": FORBIDDEN, "lock": ro})
        ao = Mode.APPEND_ONLY
        self.check(p, CAROL, {"read": ao, "write": ao, "remove": FORBIDDEN, "lock": ao})

    def test_readonly_without_authentication_answers_403(self):
        p = Policy(unauthReadOnly=True, users=USERS)
        self.check(p, ANON, {"read": Mode.READ_ONLY, "write": FORBIDDEN, "remove": FORBIDDEN, "lock": Mode.READ_ONLY})

    def test_nolocking(self):
        p = Policy(unauthReadOnly=True, unauthNoLocking=True)
        self.assertEqual(decide(p, "lock", False, ANON), FORBIDDEN)
        p = Policy(unauthAppendOnly=True, unauthNoLocking=True)
        self.assertEqual(decide(p, "lock", False, ANON), Mode.APPEND_ONLY)

    def test_authenv_is_for_https(self):
        p = Policy(authenv=True, unauthAppendOnly=True, users=USERS)
        self.assertEqual(decide(p, "remove", False, ANON), CHALLENGE)
        self.assertEqual(decide(p, "remove", False, ALICE), FORBIDDEN)
        self.assertEqual(decide(p, "remove", True, ALICE), Mode.READ_WRITE)

    def test_wideopen_with_users(self):
        p = Policy(wideopen=True, authenvHttp=True, users=USERS)
        self.assertEqual(decide(p, "remove", False, ANON), Mode.READ_WRITE)
        self.assertEqual(decide(p, "lock", False, BOB), FORBIDDEN)
        self.assertEqual(decide(p, "remove", False, WRONG), Mode.READ_WRITE)
