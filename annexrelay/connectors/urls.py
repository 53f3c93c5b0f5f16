"""
What a node's URL says about how to reach it (pure, standard library).

git-annex's remote URLs: a path (absolute, relative, C{~}, C{file://}), an
ssh URL (C{ssh://[user@]host[:port]/path}, C{git+ssh://}, C{ssh+git://},
or scp-like C{[user@]host:path}), C{tor-annex::ONION:PORT}, or
C{annex+http(s)://...}.
"""

import os
from typing import NamedTuple, Optional

LOCAL = "local"
SSH = "ssh"
TOR_ANNEX = "tor-annex"
P2PHTTP = "annex+http"
SPECIAL = "special"
OTHER = "other"

_SSH_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://")


def kind_of(node) -> str:
    """
    How C{node} (an L{annexrelay.repo.Node}) is reached: L{SPECIAL} for a
    special remote of the proxy repository, else by its URL (L{kind}).
    """
    return SPECIAL if node.special else kind(node.url)


def kind(url: str) -> str:
    """
    One of L{LOCAL}, L{SSH}, L{TOR_ANNEX}, L{P2PHTTP}, L{OTHER}.
    """
    if url.startswith("tor-annex::"):
        return TOR_ANNEX
    if url.startswith("annex+http://") or url.startswith("annex+https://"):
        return P2PHTTP
    if url.startswith(_SSH_SCHEMES):
        return SSH
    if url.startswith("file://"):
        return LOCAL
    if "://" in url or "::" in url:
        return OTHER
    if url.startswith("/") or url.startswith(".") or url.startswith("~"):
        return LOCAL
    head = url.split("/", 1)[0]
    return SSH if ":" in head else LOCAL


class SshLocation(NamedTuple):
    host: str
    port: Optional[str]
    path: str


def ssh_location(url: str) -> SshLocation:
    """
    Host (with any C{user@}), port and path of an ssh URL.  A path starting
    C{/~/} is relative to the login directory, as git-annex has it.
    """
    port = None
    if "://" in url:
        rest = url.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        path = "/" + path
        if hostport.startswith("[") and "]" in hostport:
            host, _, p = hostport[1:].partition("]")
            port = p.lstrip(":") or None
        else:
            host, _, port = hostport.partition(":")
            port = port or None
        if path.startswith("/~/"):
            path = path[3:]
    else:
        host, _, path = url.partition(":")
    return SshLocation(host, port, path)


def local_path(url: str, base: str) -> str:
    """
    The directory a local URL names, relative paths taken from C{base}.
    """
    path = url[len("file://") :] if url.startswith("file://") else url
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def shell_quote(word: str) -> str:
    return "'%s'" % (word.replace("'", "'\"'\"'"),)
