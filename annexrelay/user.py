"""
C{annexrelay user}: annexrelay's own annex+http users and their grants
(L{annexrelay.frontdoor.http.grants}), kept where the daemon reads them
(L{annexrelay.frontdoor.http.userstore}); a running daemon applies a
change to its next request.

    annexrelay user add NAME [--mode M] [--repo PATH ...] [--target T ...]
                            [--password-stdin | --no-password]
    annexrelay user list
    annexrelay user remove NAME
    annexrelay user grant NAME --repo PATH [--mode M] [--target T ...]
    annexrelay user revoke NAME --repo PATH [--target T ...]

Each takes C{--directory D} (the daemon's C{--directory}; C{--repo PATH}
is then a repository's path under D, or an absolute path inside D), or
works on one repository: C{--repo P}, else the repository the current
directory is in.  M is read-only (the default), append-only or
read-write; T a proxied remote's or cluster's name, or a UUID.  A new
password is printed once (C{password: ...}); only its scrypt hash is
kept.
"""

import argparse
import os
import sys

from annexrelay.address import targets
from annexrelay.frontdoor.http import grants
from annexrelay.frontdoor.http.grants import GrantError
from annexrelay.frontdoor.http.userstore import UserStore, directory_state_path, repo_state_path
from annexrelay.paths import find_repository
from annexrelay.repo import ProxyRepository, RepositoryError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise GrantError(message)


def parser():
    p = _Parser(prog="annexrelay user", description="annexrelay's annex+http users and their grants.")
    sub = p.add_subparsers(dest="command", metavar="add|list|remove|grant|revoke")
    sub.required = True

    def common(q, repos="one"):
        q.add_argument("--directory", help="the daemon's --directory")
        if repos == "many":
            q.add_argument("--repo", action="append", default=[], help="a repository (repeatable)")
            q.add_argument("--target", action="append", default=[], help="a proxied remote or cluster: name or UUID (repeatable)")
        else:
            q.add_argument("--repo", help="the served repository (without --directory)")
        return q

    add = common(sub.add_parser("add", help="add a user"), "many")
    add.add_argument("name")
    add.add_argument("--mode", default="read-only")
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    how.add_argument("--no-password", action="store_true", help="no password: signs on through a trusted header only")
    common(sub.add_parser("list", help="list users and grants (never a password)"))
    common(sub.add_parser("remove", help="remove a user")).add_argument("name")
    grant = common(sub.add_parser("grant", help="grant a user a repository (or targets in it)"), "many")
    grant.add_argument("name")
    grant.add_argument("--mode", default="read-only")
    revoke = common(sub.add_parser("revoke", help="take a repository (or targets in it) away"), "many")
    revoke.add_argument("name")
    return p


class Place:
    """
    Where the user file is, and how C{--repo} paths become grant keys.
    """

    def __init__(self, directory, repos):
        self.directory = os.path.abspath(directory) if directory else None
        if self.directory is not None:
            if not os.path.isdir(self.directory):
                raise GrantError("--directory %s is not a directory" % (directory,))
            self.path = directory_state_path(self.directory, create=True)
            return
        first = repos[0] if repos else "."
        if not os.path.exists(first):
            raise GrantError("%s does not exist" % (os.path.abspath(first),))
        top, gitDir = find_repository(first)
        if not os.path.isdir(gitDir) or not os.path.exists(os.path.join(gitDir, "config")):
            raise GrantError("%s is not in a git repository (use --repo P or --directory D)" % (os.path.abspath(first),))
        self.top = top
        self.path = repo_state_path(gitDir)
        for r in repos:
            if find_repository(r)[0] != top:
                raise GrantError("--repo %s is not the repository %s (without --directory, grants are for one repository)" % (r, top))

    def key(self, path):
        if self.directory is None:
            return "."
        if os.path.isabs(path):
            rel = os.path.relpath(os.path.normpath(path), self.directory)
            if rel == ".." or rel.startswith(".." + os.sep):
                raise GrantError("--repo %s is not under the directory %s" % (path, self.directory))
            path = rel.replace(os.sep, "/")
        return grants.repo_key(path)

    def repository(self, key):
        return self.top if self.directory is None else os.path.join(self.directory, *key.split("/"))

    def targets(self, key, wanted):
        """
        C{(uuid, name)} of each wanted target of the repository C{key}.
        """
        if not wanted:
            return []
        path = self.repository(key)
        try:
            served = targets(ProxyRepository(path))
        except (RepositoryError, OSError) as e:
            served, why = None, str(e)
        out = []
        for t in wanted:
            found = [(u.decode(), n) for u, n in (served or {}).items() if t in (n, u.decode())]
            if found:
                out.append(found[0])
            elif grants.is_uuid(t):
                out.append((t.lower(), ""))
            elif served is None:
                raise GrantError("cannot name target %s: %s (give its UUID)" % (t, why))
            else:
                known = sorted(n for u, n in served.items() if not n.startswith("("))
                raise GrantError(
                    "%s is neither a proxied remote nor a cluster of %s (it serves: %s)" % (t, path, ", ".join(known) or "nothing but itself")
                )
        return out


def _describe(user):
    rows = []
    for repo in sorted(user.grants):
        g = user.grants[repo]
        if g.mode:
            rows.append([user.name, repo, "", g.mode])
        for uuid, (mode, label) in sorted(g.targets.items()):
            rows.append([user.name, repo, label or uuid, mode])
    return rows or [[user.name, "-", "", "(no grant)"]]


def _table(rows):
    header = ["USER", "REPOSITORY", "TARGET", "MODE"]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(4)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n" for r in [header] + rows)


def run(argv, out, err, stdin):
    args = parser().parse_args(argv)
    repos = args.repo if isinstance(args.repo, list) else ([args.repo] if args.repo else [])
    place = Place(args.directory, repos)
    store = UserStore(place.path)
    if args.command == "list":
        users = store.users()
        if not users:
            out.write("no users (annexrelay user add NAME)\n")
        else:
            out.write(_table([r for name in sorted(users) for r in _describe(users[name])]))
        return 0
    grants.check_name(args.name)
    if args.command == "remove":
        store.update(lambda users: grants.remove_user(users, args.name))
        out.write("removed %s\n" % (args.name,))
        return 0
    if getattr(args, "mode", None) is not None:
        grants.check_mode(args.mode)
    keys = [place.key(r) for r in repos] or (["."] if place.directory is None else [])
    if args.command in ("grant", "revoke") and not keys:
        raise GrantError("%s needs --repo PATH" % (args.command,))
    if args.target and not keys:
        raise GrantError("--target needs --repo PATH (the repository the target is in)")
    named = {k: place.targets(k, args.target) for k in keys}
    if args.command == "revoke":

        def change(users):
            for k in keys:
                users = grants.revoke(users, args.name, k, [u for u, _ in named[k]])
            return users

        store.update(change)
        out.write("revoked %s from %s\n" % (", ".join(keys), args.name))
        return 0
    password = None
    if args.command == "add":
        if args.password_stdin:
            password = stdin.readline().rstrip("\r\n")
            if not password:
                raise GrantError("no password on standard input")
        elif not args.no_password:
            password = grants.new_password()
        hashed = grants.hash_password(password.encode("utf-8")) if password is not None else None

    def change(users):
        if args.command == "add":
            users = grants.add_user(users, args.name, hashed)
        for k in keys:
            users = grants.grant(users, args.name, k, args.mode, named[k])
        return users

    users = store.update(change)
    for k in keys:
        if place.directory is not None and not _isRepository(place.repository(k)):
            # Granted all the same (a forge may grant before it creates
            # the repository), but a typo should not pass unseen.
            err.write("annexrelay user: warning: %s is not a git repository under %s (yet); granted all the same\n"
                      % (k, place.directory))
    if args.command == "add":
        out.write("added %s\n" % (args.name,))
        if password is not None and not args.password_stdin:
            out.write("password: %s\n" % (password,))
        if not keys:
            err.write("annexrelay user: %s has no grant yet (annexrelay user grant %s --repo PATH)\n" % (args.name, args.name))
    else:
        out.write(_table(_describe(users[args.name])))
    return 0


def _isRepository(path):
    top, gitDir = find_repository(path)
    return os.path.realpath(top) == os.path.realpath(path) and os.path.exists(os.path.join(gitDir, "config"))


def main(argv, out=None, err=None, stdin=None):
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return run(argv, out, err, stdin or sys.stdin)
    except GrantError as e:
        err.write("annexrelay user: %s\n" % (e,))
        return 1
    except OSError as e:
        err.write("annexrelay user: %s\n" % (e,))
        return 1
