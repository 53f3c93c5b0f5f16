"""
C{annexrelay address}: issue, list and revoke the addresses Tor clients
link with (C{git annex p2p --link}).

    annexrelay address --repo P [TARGET] [--mode read-only|append-only|read-write]
    annexrelay address --repo P --list
    annexrelay address --repo P --revoke ID

TARGET is a proxied remote's name, a cluster's name (or either's UUID), or
omitted for the proxy repository itself.  The printed line,
C{tor-annex::ONION:PORT:TOKEN}, is the only place the token ever appears;
the repository keeps its hash.  A running daemon picks up new targets and
revocations by itself.
"""

import os
import sys
import time

from twisted.python import usage

from annexrelay.frontdoor.tor.onion import LISTENERS
from annexrelay.frontdoor.tor.keys import OnionKeys
from annexrelay.frontdoor.tor.tokens import MODES, TokenStore
from annexrelay.repo import ProxyRepository, RepositoryError


class AddressOptions(usage.Options):
    synopsis = "annexrelay address --repo P [TARGET] [--mode MODE] | --list | --revoke ID"
    longdesc = (
        "Print the tor-annex::ONION:PORT:TOKEN address a client links with "
        "(git annex p2p --link) for TARGET: a proxied remote or cluster of P, "
        "or P itself when omitted.  A running daemon picks it up by itself."
    )
    optParameters = [
        ["repo", "r", ".", "The proxy repository."],
        ["mode", "m", "read-write", "What the token allows: %s." % (", ".join(MODES),)],
        ["revoke", None, None, "Revoke the token with this id (see --list)."],
    ]
    optFlags = [["list", "l", "List the tokens issued (never the tokens themselves)."]]

    def parseArgs(self, target=None):
        self["target"] = target

    def postOptions(self):
        if self["mode"] not in MODES:
            raise usage.UsageError("--mode must be one of %s" % (", ".join(MODES),))
        if self["list"] and self["revoke"]:
            raise usage.UsageError("--list and --revoke do not go together")


def targets(repo):
    """
    C{{uuid: name}} of everything the repository serves over Tor.
    """
    named = {repo.uuid: "(this repository)"}
    for node in repo.nodes.values():
        named[node.uuid] = node.name
    for cluster in repo.clusters.values():
        named[cluster.uuid] = cluster.name
    return named


def resolve(repo, name):
    """
    The UUID of target C{name} (a remote or cluster name, or a UUID).

    @raise usage.UsageError: if the repository serves nothing by that name.
    """
    if name is None:
        return repo.uuid
    for uuid, n in targets(repo).items():
        if name in (n, uuid.decode()):
            return uuid
    known = sorted(n for u, n in targets(repo).items() if u != repo.uuid)
    raise usage.UsageError(
        "%s is neither a proxied remote nor a cluster of %s (it serves: %s)"
        % (name, repo.path, ", ".join(known) or "nothing but itself")
    )


def run(options, out, now=None, err=None):
    try:
        repo = ProxyRepository(options["repo"])
    except RepositoryError as e:
        raise usage.UsageError(str(e))
    store = TokenStore(repo.gitDir)
    keys = OnionKeys(repo.gitDir)
    if options["revoke"]:
        gone = store.revoke(options["revoke"])
        if gone is None:
            raise usage.UsageError("no token has id %s (see --list)" % (options["revoke"],))
        out.write("revoked %s (%s, %s)\n" % (gone.id, targets(repo).get(gone.target, gone.target.decode()), gone.mode))
        return
    if options["list"]:
        names = targets(repo)
        onions = keys.load()
        for e in store.entries():
            key = onions.get(e.target)
            out.write(
                "%s  %-20s %-11s %s  %s\n"
                % (
                    e.id,
                    names.get(e.target, e.target.decode() + " (gone)"),
                    e.mode,
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.created)),
                    key.address() if key else "-",
                )
            )
        return
    target = resolve(repo, options["target"])
    key = keys.forTarget(target)
    _, token = store.issue(target, options["mode"], now if now is not None else time.time())
    out.write("%s:%s\n" % (key.address(), token))
    if err is not None and not os.path.exists(os.path.join(os.path.dirname(keys.path), LISTENERS)):
        err.write(
            "annexrelay address: no daemon serves onions for %s yet; start it with --tor-control ENDPOINT or --tor-launch\n"
            % (repo.path,)
        )


def _targetLast(argv):
    """
    The command line with its one positional argument (TARGET) moved to
    the end, so that it may come before the options, as documented.
    """
    takesValue = {"--repo", "-r", "--mode", "-m", "--revoke"}
    options, positional = [], []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            positional += argv[i + 1 :]
            break
        if a.startswith("-"):
            options.append(a)
            if a in takesValue and i + 1 < len(argv):
                options.append(argv[i + 1])
                i += 1
        else:
            positional.append(a)
        i += 1
    return options + positional


def main(argv):
    options = AddressOptions()
    try:
        options.parseOptions(_targetLast(argv))
        run(options, sys.stdout, err=sys.stderr)
    except usage.UsageError as e:
        sys.stderr.write("annexrelay address: %s\n" % (e,))
        sys.exit(1)
