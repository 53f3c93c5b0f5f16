"""
C{annexrelay user}: add, list, remove, grant and revoke with C{--directory}
and in one repository; target names resolved to UUIDs; clear errors and a
non-zero exit for bad input; the console command itself (a subprocess).
"""

import io
import json
import os
import stat
import subprocess
import sys
import tempfile

from twisted.trial import unittest

from annexrelay.frontdoor.http import grants
from annexrelay.user import main

OWN = "11111111-1111-4111-8111-111111111111"
N1 = "7685e0b4-cd27-4131-be8d-398f641c7902"


def git(*args, cwd):
    subprocess.run(("git",) + args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def proxy_repository(path):
    """
    A repository configured as a proxy of n1 (git config only).
    """
    os.makedirs(path)
    git("init", "-q", path, cwd=os.path.dirname(path))
    for k, v in (("annex.uuid", OWN), ("remote.n1.url", "/nowhere"), ("remote.n1.annex-uuid", N1),
                 ("remote.n1.annex-proxy", "true")):
        git("config", k, v, cwd=path)


class UserCommandTests(unittest.TestCase):
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        proxy_repository(os.path.join(self.root, "lab", "a"))
        self.state = os.path.join(self.root, ".annexrelay", "users")

    def run_(self, *argv, stdin=""):
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), out, err, io.StringIO(stdin))
        return code, out.getvalue(), err.getvalue()

    def ok(self, *argv, **kw):
        code, out, err = self.run_(*argv, **kw)
        self.assertEqual(code, 0, err)
        return out

    def fails(self, *argv, match, **kw):
        code, out, err = self.run_(*argv, **kw)
        self.assertEqual(code, 1, out)
        self.assertIn(match, err)
        self.assertTrue(err.startswith("annexrelay user: "), err)

    def stored(self):
        with open(self.state) as f:
            return grants.parse_store(f.read())

    def test_add_prints_the_password_once_and_keeps_its_hash(self):
        out = self.ok("add", "alice", "--directory", self.root, "--mode", "read-write", "--repo", "lab/a", "--repo", "lab/b")
        password = [l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("password: ")][0]
        self.assertEqual(stat.S_IMODE(os.stat(self.state).st_mode), 0o600)
        with open(self.state) as f:
            self.assertNotIn(password, f.read())
        alice = self.stored()["alice"]
        self.assertTrue(grants.verify_password(alice.password, password.encode()))
        self.assertEqual({k: g.mode for k, g in alice.grants.items()}, {"lab/a": "read-write", "lab/b": "read-write"})
        listing = self.ok("list", "--directory", self.root)
        self.assertNotIn(password, listing)
        self.assertIn("alice  lab/a", listing)

    def test_password_from_stdin_and_none(self):
        out = self.ok("add", "bob", "--directory", self.root, "--password-stdin", stdin="s3cret\n")
        self.assertNotIn("password:", out)
        self.assertTrue(grants.verify_password(self.stored()["bob"].password, b"s3cret"))
        self.ok("add", "forge-user", "--directory", self.root, "--no-password")
        self.assertIsNone(self.stored()["forge-user"].password)
        self.fails("add", "carol", "--directory", self.root, "--password-stdin", stdin="", match="no password on standard input")

    def test_a_repository_not_there_is_warned_of(self):
        """
        A grant for a path that is no repository under the directory (yet)
        is kept (a forge may grant first), with a warning that shows a typo.
        """
        code, out, err = self.run_("add", "bob", "--directory", self.root, "--repo", "lab/nope", "--no-password")
        self.assertEqual(code, 0, err)
        self.assertIn("warning: lab/nope is not a git repository under", err)
        self.assertIn("lab/nope", self.stored()["bob"].grants)
        code, out, err = self.run_("grant", "bob", "--directory", self.root, "--repo", "lab/a")
        self.assertEqual((code, err), (0, ""))

    def test_grant_revoke_targets_remove(self):
        self.ok("add", "alice", "--directory", self.root, "--no-password")
        self.ok("grant", "alice", "--directory", self.root, "--repo", os.path.join(self.root, "lab", "a"), "--mode", "append-only")
        out = self.ok("grant", "alice", "--directory", self.root, "--repo", "lab/a", "--target", "n1", "--mode", "read-write")
        self.assertIn("n1", out)
        g = self.stored()["alice"].grants["lab/a"]
        self.assertEqual(g, grants.Grant("append-only", {N1: ("read-write", "n1")}))
        self.ok("revoke", "alice", "--directory", self.root, "--repo", "lab/a", "--target", N1)
        self.assertEqual(self.stored()["alice"].grants["lab/a"], grants.Grant("append-only", {}))
        self.ok("revoke", "alice", "--directory", self.root, "--repo", "lab/a")
        self.assertEqual(self.stored()["alice"].grants, {})
        self.ok("remove", "alice", "--directory", self.root)
        self.assertEqual(self.stored(), {})
        self.assertIn("no users", self.ok("list", "--directory", self.root))

    def test_errors(self):
        d = ("--directory", self.root)
        self.ok("add", "alice", *d, "--no-password")
        self.fails("add", "alice", *d, match="user alice exists already")
        self.fails("grant", "nobody", *d, "--repo", "lab/a", match="no user nobody")
        self.fails("remove", "nobody", *d, match="no user nobody")
        self.fails("grant", "alice", *d, "--repo", "lab/a", "--mode", "write", match="bad mode 'write'")
        self.fails("grant", "alice", *d, "--repo", "/etc", match="not under the directory")
        self.fails("grant", "alice", *d, "--repo", "../x", match="not under the directory")
        self.fails("grant", "alice", *d, match="grant needs --repo PATH")
        self.fails("grant", "alice", *d, "--repo", "lab/a", "--target", "n9", match="n9 is neither a proxied remote nor a cluster")
        self.fails("grant", "alice", *d, "--repo", "lab/zz", "--target", "n1", match="give its UUID")
        self.fails("revoke", "alice", *d, "--repo", "lab/a", match="alice has no grant for repository lab/a")
        self.fails("add", "bad name", *d, match="bad user name")
        self.fails("frobnicate", *d, match="invalid choice")
        self.fails("list", "--directory", os.path.join(self.root, "nope"), match="is not a directory")

    def test_one_repository(self):
        repo = os.path.join(self.root, "lab", "a")
        self.ok("add", "alice", "--repo", repo, "--mode", "read-write", "--no-password")
        path = os.path.join(repo, ".git", "annex", "annexrelay", "users")
        with open(path) as f:
            self.assertEqual(json.load(f)["users"]["alice"]["grants"], {".": {"mode": "read-write"}})
        self.fails("grant", "alice", "--repo", repo, "--repo", self.root, match="is not the repository")
        self.fails("list", "--repo", os.path.abspath(self.mktemp()), match="does not exist")
        # Outside every git repository (the suite itself may run inside one).
        outside = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, outside)
        self.fails("list", "--repo", outside, match="not in a git repository")

    def test_console_command(self):
        annexrelay = os.path.join(os.path.dirname(sys.executable), "annexrelay")
        repo = os.path.join(self.root, "lab", "a")
        p = subprocess.run([annexrelay, "user", "add", "alice", "--mode", "read-write"], cwd=repo,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r"(?m)^password: \S{32}$")
        p = subprocess.run([annexrelay, "user", "revoke", "bob", "--repo", "."], cwd=repo,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"no user bob", p.stderr)
