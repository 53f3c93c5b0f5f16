"""
annexrelay's own annex+http users and their grants, as pure data and
functions (no I/O): who may reach which repository, and which target in
it, in which mode; passwords as salted slow hashes.

A user has a password hash (or none: a user who signs on only through a
trusted header) and grants.  A grant names a repository by its path
under C{--directory} (C{lab/dataset}; C{.} is the directory itself, and
the one repository of C{--repo}) and gives it a mode for the repository
as a whole (every target in it, and git), and optionally a mode per
target (a proxied remote or cluster, by UUID; its name is kept for
listing).  A target's grant replaces the repository's mode for that
target: narrower (read-write on the repository, read-only on cluster
c1) or wider (read-only on the repository, append-only on n1), and it
applies even without a repository-wide mode (then only that target is
reachable, and git is not).

Modes are git-annex's: read-only (read), append-only (read, write,
lock), read-write (everything); a read-only user may not lock, as an
authenticated read-only user of C{git annex p2phttp} may not.

The stored form is one JSON document; a password is stored only as
C{scrypt$N$r$p$SALT$HASH} (base64), never in plain.
"""

import base64
import hashlib
import hmac
import json
import os
import posixpath
import re
import secrets
from typing import Dict, NamedTuple, Optional, Tuple

from annexrelay.requests import Mode

MODES = ("read-only", "append-only", "read-write")
# scrypt's parameters, the usual ones for interactive logins: 16 MiB, and
# 130 ms measured on a busy 2-core machine.  Stored with each hash, so
# they may change.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
_DKLEN = 32
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
# What each mode allows, by git-annex's request classes.
_ALLOWS = {
    "read-write": {"read", "write", "remove", "lock"},
    "append-only": {"read", "write", "lock"},
    "read-only": {"read"},
}


class GrantError(ValueError):
    """
    Bad input: a sentence saying what is wrong.
    """


class Grant(NamedTuple):
    """
    One repository's grant: its mode as a whole (None: none) and its
    targets' C{{uuid: (mode, name)}}.
    """

    mode: Optional[str] = None
    targets: Dict[str, Tuple[str, str]] = {}


class User(NamedTuple):
    name: str
    password: Optional[str]  # the stored hash, or None
    grants: Dict[str, Grant] = {}


# Names, modes and paths


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise GrantError(
            "bad user name %r: letters, digits and . _ @ + - (not first), at most 128" % (name,)
        )
    return name


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise GrantError("bad mode %r: one of %s" % (mode, ", ".join(MODES)))
    return mode


def is_uuid(text: str) -> bool:
    return bool(_UUID.match(text))


def repo_key(path: str) -> str:
    """
    A repository's path under the directory as grants name it:
    C{lab/dataset}, or C{.} for the directory itself.

    @raise GrantError: for a path that leaves the directory.
    """
    if path.startswith("/"):
        raise GrantError("%s is not a path under the directory" % (path,))
    norm = posixpath.normpath(path or ".")
    if norm == ".." or norm.startswith("../"):
        raise GrantError("%s is not under the directory" % (path,))
    return norm


def scope_key(scope) -> str:
    """
    The grant key of a request's scope (a tuple of path segments, bytes).
    """
    if not scope:
        return "."
    return "/".join(s.decode("utf-8", "surrogateescape") for s in scope)


# Passwords


def new_password() -> str:
    return secrets.token_urlsafe(24)


def hash_password(password: bytes, salt: Optional[bytes] = None, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=_DKLEN)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return "scrypt$%d$%d$%d$%s$%s" % (n, r, p, b64(salt), b64(digest))


def verify_password(stored: Optional[str], password: bytes) -> bool:
    """
    Whether C{password} is the one C{stored} is the hash of (compared in
    constant time); False for a malformed or missing hash.
    """
    if not stored:
        return False
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        n, r, p = int(n), int(r), int(p)
        if not (1 < n <= 2 ** 20 and 0 < r <= 32 and 0 < p <= 16):
            return False
        salt, digest = base64.b64decode(salt), base64.b64decode(digest)
        got = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=len(digest))
    except ValueError:
        return False
    return hmac.compare_digest(got, digest)


# The decision


def mode_for(user: User, scope, target: Optional[bytes]):
    """
    The mode C{user} has on the repository C{scope} (a tuple of path
    segments), for C{target} (a UUID, bytes; None: the repository as a
    whole, as git requests ask).  C{scope} None: the best mode the user
    has anywhere (whether they may make the door look for a repository).

    @return: C{(mode or None, why)}: C{why} names the grant that decided.
    """
    if scope is None:
        modes = [g.mode for g in user.grants.values() if g.mode] + [
            m for g in user.grants.values() for m, _ in g.targets.values()
        ]
        best = max(modes, key=MODES.index) if modes else None
        return best, "any repository"
    key = scope_key(scope)
    grant = user.grants.get(key)
    if grant is None:
        return None, "no grant for repository %s" % (key,)
    if target is not None:
        t = grant.targets.get(target.decode("ascii", "replace").lower())
        if t is not None:
            return t[0], "grant for target %s in %s" % (t[1] or target.decode("ascii", "replace"), key)
    if grant.mode is None:
        return None, "no grant for the repository %s as a whole" % (key,)
    return grant.mode, "grant for repository %s" % (key,)


def allows(mode: str, actionClass: str) -> bool:
    return actionClass in _ALLOWS[mode]


def session_mode(mode: str) -> Mode:
    return Mode(mode)


# Changes (each returns a new users dict; the caller writes it)


def add_user(users: Dict[str, User], name: str, password_hash: Optional[str]) -> Dict[str, User]:
    check_name(name)
    if name in users:
        raise GrantError("user %s exists already" % (name,))
    return dict(users, **{name: User(name, password_hash, {})})


def _user(users, name):
    if name not in users:
        raise GrantError("no user %s (annexrelay user list)" % (name,))
    return users[name]


def remove_user(users, name):
    _user(users, name)
    return {k: v for k, v in users.items() if k != name}


def grant(users, name, repo, mode, targets=()):
    """
    Give C{name} C{mode} on repository C{repo} (a L{repo_key}); with
    C{targets} (C{(uuid, name)} pairs), on those targets only.
    """
    check_mode(mode)
    user = _user(users, name)
    old = user.grants.get(repo, Grant())
    if targets:
        new = Grant(old.mode, dict(old.targets, **{u.lower(): (mode, label) for u, label in targets}))
    else:
        new = Grant(mode, old.targets)
    return dict(users, **{name: user._replace(grants=dict(user.grants, **{repo: new}))})


def revoke(users, name, repo, targets=()):
    """
    Take C{repo} (or only its C{targets}, UUIDs) away from C{name}.
    """
    user = _user(users, name)
    old = user.grants.get(repo)
    if old is None:
        raise GrantError("%s has no grant for repository %s" % (name, repo))
    if targets:
        missing = [u for u in targets if u.lower() not in old.targets]
        if missing:
            raise GrantError("%s has no grant for target %s in %s" % (name, missing[0], repo))
        left = {u: t for u, t in old.targets.items() if u not in {x.lower() for x in targets}}
        grants = dict(user.grants, **{repo: Grant(old.mode, left)})
        if old.mode is None and not left:
            del grants[repo]
    else:
        grants = {k: v for k, v in user.grants.items() if k != repo}
    return dict(users, **{name: user._replace(grants=grants)})


# The stored form


def parse_store(text: str) -> Dict[str, User]:
    """
    @raise GrantError: for a document that is not a user store.
    """
    try:
        doc = json.loads(text) if text.strip() else {"users": {}}
        users = {}
        for name, u in doc["users"].items():
            grants = {}
            for repo, g in u.get("grants", {}).items():
                mode = g.get("mode")
                if mode is not None:
                    check_mode(mode)
                targets = {}
                for uuid, t in g.get("targets", {}).items():
                    targets[uuid.lower()] = (check_mode(t["mode"]), str(t.get("name", "")))
                grants[repo] = Grant(mode, targets)
            password = u.get("password")
            if password is not None and not isinstance(password, str):
                raise GrantError("the password of %s is not a hash" % (name,))
            users[name] = User(name, password, grants)
        return users
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise GrantError("not a user store: %s" % (e,))


def format_store(users: Dict[str, User]) -> str:
    doc = {"version": 1, "users": {}}
    for name in sorted(users):
        u = users[name]
        grants = {}
        for repo in sorted(u.grants):
            g = u.grants[repo]
            entry = {}
            if g.mode is not None:
                entry["mode"] = g.mode
            if g.targets:
                entry["targets"] = {k: {"mode": m, "name": label} for k, (m, label) in sorted(g.targets.items())}
            grants[repo] = entry
        doc["users"][name] = {"password": u.password, "grants": grants}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"
